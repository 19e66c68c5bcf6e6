"""The INVITE session state table: ``(state, event) -> (new state, action)``.

`InviteSession` classifies each input (an API call, a response to one of
its transactions, a request in its dialog, a timer) as an `Ev`, looks the
pair up here, runs the action and moves to the new state. An action may
return another state for outcomes the event alone does not decide (a 401 to
our INVITE is retried, so the session stays where it was; a 2xx carrying an
offer waits for the application's answer in ``ack_pending``).

Pairs missing from the table: an API call raises `SessionError`; a request
gets the default answer of `InviteSession` (481, or 200 for a CANCEL, ACKs
are dropped); responses and timers are ignored.

States:

- ``null``: created, nothing sent. ``calling``: INVITE sent, no 1xx yet.
  ``proceeding``: a 1xx without To tag; ``early``: an early dialog exists.
- ``incoming``: an INVITE waits for the application's decision.
- ``accepted``: we sent a 2xx (INVITE or re-INVITE) and wait for the ACK,
  retransmitting the 2xx. ``ack_pending``: we got a 2xx carrying an offer
  and wait for the application's answer to put in the ACK.
- ``connected``; ``reinvite_sent``/``reinvite_received``: a re-INVITE is
  in progress (one at a time each way; the other direction gets 491). Our
  own may be cancelled (``cancel_reinvite``) in ``reinvite_sent``; in the
  other dialog states that call drops a glare retry still waiting, or does
  nothing (the re-INVITE was answered already: its outcome is reported).
- ``terminating``: a CANCEL or BYE is out; ``terminated``: final.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["API_EVENTS", "TABLE", "Act", "Ev", "State"]


class State(StrEnum):
    NULL = "null"
    CALLING = "calling"
    PROCEEDING = "proceeding"
    EARLY = "early"
    INCOMING = "incoming"
    ACCEPTED = "accepted"
    ACK_PENDING = "ack_pending"
    CONNECTED = "connected"
    REINVITE_SENT = "reinvite_sent"
    REINVITE_RECEIVED = "reinvite_received"
    TERMINATING = "terminating"
    TERMINATED = "terminated"


class Ev(StrEnum):
    # API calls
    CONNECT = "connect"
    PROVISIONAL = "provisional"
    ACCEPT = "accept"
    REJECT = "reject"
    END = "end"
    REINVITE = "reinvite"
    ACCEPT_REINVITE = "accept_reinvite"
    REJECT_REINVITE = "reject_reinvite"
    ANSWER = "answer"
    CANCEL_REINVITE = "cancel_reinvite"
    # responses to the INVITE in progress (ours)
    INVITE_1XX = "invite_1xx"
    INVITE_2XX = "invite_2xx"
    INVITE_FAIL = "invite_fail"  # 300-699, local timeouts and transport failures
    STRAY_2XX = "stray_2xx"  # a 2xx to an INVITE already answered: retransmission or fork
    BYE_FINAL = "bye_final"
    # requests in the dialog
    REQ_REINVITE = "req_reinvite"
    REQ_BYE = "req_bye"
    REQ_CANCEL = "req_cancel"
    REQ_ACK = "req_ack"
    # timers
    RETRANSMIT_2XX = "retransmit_2xx"
    ACK_TIMEOUT = "ack_timeout"
    GLARE = "glare"
    CANCEL_TIMEOUT = "cancel_timeout"
    REINVITE_CANCEL_TIMEOUT = "reinvite_cancel_timeout"  # no final answer 64*T1 after our CANCEL


class Act(StrEnum):
    NOTHING = "nothing"
    SEND_INVITE = "send_invite"
    ON_PROVISIONAL = "on_provisional"
    ON_INVITE_2XX = "on_invite_2xx"
    ON_INVITE_FAILURE = "on_invite_failure"
    CANCEL = "cancel"
    CANCEL_IF_WANTED = "cancel_if_wanted"
    ACK_AND_BYE = "ack_and_bye"
    CANCELLED = "cancelled"
    BYE_DONE = "bye_done"
    SEND_PROVISIONAL = "send_provisional"
    SEND_2XX = "send_2xx"
    SEND_REJECT = "send_reject"
    DECLINE = "decline"  # end() of an incoming session
    ON_CANCEL = "on_cancel"
    ON_BYE = "on_bye"
    ON_ACK = "on_ack"
    RETRANSMIT_2XX = "retransmit_2xx"
    ACK_TIMEOUT = "ack_timeout"
    SEND_BYE = "send_bye"
    SEND_ANSWER = "send_answer"
    ACK_THEN_BYE = "ack_then_bye"  # end() in ack_pending
    ACK_STRAY = "ack_stray"
    SEND_REINVITE = "send_reinvite"
    ON_REINVITE = "on_reinvite"
    ON_REINVITE_2XX = "on_reinvite_2xx"
    ON_REINVITE_FAILURE = "on_reinvite_failure"
    ACCEPT_REINVITE = "accept_reinvite"
    REJECT_REINVITE = "reject_reinvite"
    ON_REINVITE_CANCEL = "on_reinvite_cancel"
    RESPOND_491 = "respond_491"
    RESPOND_500 = "respond_500"  # 14.2: an INVITE while ours is unanswered
    RESPOND_487 = "respond_487"
    GLARE_RETRY = "glare_retry"
    GLARE_REARM = "glare_rearm"
    END_PENDING_REINVITE = "end_pending_reinvite"  # 487 to it, then BYE
    CANCEL_REINVITE = "cancel_reinvite"  # 9.1: CANCEL once a 1xx arrived
    ON_REINVITE_1XX = "on_reinvite_1xx"  # sends the CANCEL asked for before it
    REINVITE_ABANDONED = "reinvite_abandoned"  # 9.1: cancelled, no final in 64*T1
    DROP_GLARE_RETRY = "drop_glare_retry"  # cancel_reinvite while a 491 retry waits


S, E, A = State, Ev, Act
Table = dict[tuple[State, Ev], tuple[State, Act]]

_OUTGOING = (S.CALLING, S.PROCEEDING, S.EARLY)
_DIALOG = (S.ACCEPTED, S.ACK_PENDING, S.CONNECTED, S.REINVITE_SENT, S.REINVITE_RECEIVED)
_GLARE_BUSY = (S.ACCEPTED, S.ACK_PENDING, S.REINVITE_SENT, S.REINVITE_RECEIVED)

TABLE: Table = {
    (S.NULL, E.CONNECT): (S.CALLING, A.SEND_INVITE),
    (S.NULL, E.END): (S.TERMINATED, A.NOTHING),
    **{(s, e): t for s in _OUTGOING for e, t in {
        E.INVITE_1XX: (S.PROCEEDING, A.ON_PROVISIONAL),  # early when the 1xx has a To tag
        E.INVITE_2XX: (S.CONNECTED, A.ON_INVITE_2XX),
        E.INVITE_FAIL: (S.TERMINATED, A.ON_INVITE_FAILURE),
        E.END: (S.TERMINATING, A.CANCEL),  # 9.1: sent once a 1xx arrived
    }.items()},
    (S.TERMINATING, E.INVITE_1XX): (S.TERMINATING, A.CANCEL_IF_WANTED),
    (S.TERMINATING, E.INVITE_2XX): (S.TERMINATING, A.ACK_AND_BYE),
    (S.TERMINATING, E.INVITE_FAIL): (S.TERMINATED, A.CANCELLED),
    (S.TERMINATING, E.CANCEL_TIMEOUT): (S.TERMINATED, A.CANCELLED),
    (S.TERMINATING, E.BYE_FINAL): (S.TERMINATED, A.BYE_DONE),
    (S.TERMINATING, E.REQ_BYE): (S.TERMINATED, A.ON_BYE),
    (S.TERMINATING, E.REQ_REINVITE): (S.TERMINATING, A.RESPOND_487),
    (S.TERMINATING, E.STRAY_2XX): (S.TERMINATING, A.ACK_STRAY),
    (S.TERMINATING, E.END): (S.TERMINATING, A.NOTHING),
    (S.TERMINATING, E.REQ_ACK): (S.TERMINATING, A.NOTHING),
    (S.INCOMING, E.PROVISIONAL): (S.INCOMING, A.SEND_PROVISIONAL),
    (S.INCOMING, E.ACCEPT): (S.ACCEPTED, A.SEND_2XX),
    (S.INCOMING, E.REJECT): (S.TERMINATED, A.SEND_REJECT),
    (S.INCOMING, E.END): (S.TERMINATED, A.DECLINE),
    (S.INCOMING, E.REQ_CANCEL): (S.TERMINATED, A.ON_CANCEL),
    (S.INCOMING, E.REQ_BYE): (S.TERMINATED, A.ON_BYE),
    (S.INCOMING, E.REQ_REINVITE): (S.INCOMING, A.RESPOND_500),
    (S.ACCEPTED, E.REQ_ACK): (S.CONNECTED, A.ON_ACK),
    (S.ACCEPTED, E.RETRANSMIT_2XX): (S.ACCEPTED, A.RETRANSMIT_2XX),
    (S.ACCEPTED, E.ACK_TIMEOUT): (S.TERMINATING, A.ACK_TIMEOUT),
    (S.ACK_PENDING, E.ANSWER): (S.CONNECTED, A.SEND_ANSWER),
    (S.ACK_PENDING, E.END): (S.TERMINATING, A.ACK_THEN_BYE),
    (S.ACK_PENDING, E.STRAY_2XX): (S.ACK_PENDING, A.NOTHING),  # the ACK waits for the answer
    (S.CONNECTED, E.REINVITE): (S.REINVITE_SENT, A.SEND_REINVITE),
    (S.CONNECTED, E.REQ_REINVITE): (S.REINVITE_RECEIVED, A.ON_REINVITE),
    (S.CONNECTED, E.GLARE): (S.REINVITE_SENT, A.GLARE_RETRY),
    (S.REINVITE_SENT, E.INVITE_1XX): (S.REINVITE_SENT, A.ON_REINVITE_1XX),
    (S.REINVITE_SENT, E.CANCEL_REINVITE): (S.REINVITE_SENT, A.CANCEL_REINVITE),
    (S.REINVITE_SENT, E.REINVITE_CANCEL_TIMEOUT): (S.CONNECTED, A.REINVITE_ABANDONED),
    (S.REINVITE_SENT, E.INVITE_2XX): (S.CONNECTED, A.ON_REINVITE_2XX),
    (S.REINVITE_SENT, E.INVITE_FAIL): (S.CONNECTED, A.ON_REINVITE_FAILURE),
    (S.REINVITE_SENT, E.REQ_REINVITE): (S.REINVITE_SENT, A.RESPOND_491),
    (S.REINVITE_RECEIVED, E.ACCEPT_REINVITE): (S.ACCEPTED, A.ACCEPT_REINVITE),
    (S.REINVITE_RECEIVED, E.REJECT_REINVITE): (S.CONNECTED, A.REJECT_REINVITE),
    (S.REINVITE_RECEIVED, E.REQ_REINVITE): (S.REINVITE_RECEIVED, A.RESPOND_500),
    (S.REINVITE_RECEIVED, E.REQ_CANCEL): (S.CONNECTED, A.ON_REINVITE_CANCEL),
    (S.REINVITE_RECEIVED, E.END): (S.TERMINATING, A.END_PENDING_REINVITE),
    (S.ACCEPTED, E.REQ_REINVITE): (S.ACCEPTED, A.RESPOND_491),
    (S.ACK_PENDING, E.REQ_REINVITE): (S.ACK_PENDING, A.RESPOND_491),
    **{(s, E.REQ_BYE): (S.TERMINATED, A.ON_BYE) for s in _DIALOG},
    **{(s, E.END): (S.TERMINATING, A.SEND_BYE)
       for s in (S.ACCEPTED, S.CONNECTED, S.REINVITE_SENT)},
    **{(s, E.STRAY_2XX): (s, A.ACK_STRAY)
       for s in (S.ACCEPTED, S.CONNECTED, S.REINVITE_SENT, S.REINVITE_RECEIVED)},
    **{(s, E.GLARE): (s, A.GLARE_REARM) for s in _GLARE_BUSY},
    **{(s, E.CANCEL_REINVITE): (s, A.DROP_GLARE_RETRY)
       for s in (S.ACCEPTED, S.ACK_PENDING, S.CONNECTED, S.REINVITE_RECEIVED)},
    (S.TERMINATING, E.CANCEL_REINVITE): (S.TERMINATING, A.NOTHING),
    (S.TERMINATED, E.END): (S.TERMINATED, A.NOTHING),
}

API_EVENTS = frozenset({
    E.CONNECT, E.PROVISIONAL, E.ACCEPT, E.REJECT, E.END, E.REINVITE,
    E.ACCEPT_REINVITE, E.REJECT_REINVITE, E.ANSWER, E.CANCEL_REINVITE,
})
