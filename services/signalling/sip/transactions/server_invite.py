"""The INVITE server transaction (RFC 3261 17.2.1, with the Accepted state of RFC 6026 7.1).

Starting the transaction sends 100 Trying at once (unless disabled): the TU
of a UA rarely answers within 200 ms, and an early 100 stops the client's
Timer A retransmissions. A retransmitted INVITE gets the last response again.
A 2xx from the TU moves to Accepted, where the TU (the dialog) retransmits the
2xx itself through `send_response`, INVITE retransmissions are absorbed for
Timer L, and an ACK that matches is passed to the TU. A 300-699 is
retransmitted by Timer G (UDP) until the ACK arrives or Timer H gives up.
"""

from __future__ import annotations

from sipsimple_services.signalling.sip.message.addresses import Destination
from sipsimple_services.signalling.sip.message.values import SIPMessage, SIPRequest, make_response
from sipsimple_services.signalling.sip.transactions.base import (
    Cancel,
    Do,
    Restart,
    ServerTransaction,
    Start,
    State,
    Table,
)
from sipsimple_services.signalling.sip.transactions.base import Event as E
from sipsimple_services.signalling.sip.transactions.effects import Effect, Send, TransactionKey
from sipsimple_services.signalling.sip.transactions.timers import TimerConfig
from sipsimple_services.signalling.sip.transactions.timers import TimerName as T

__all__ = ["ServerInviteTransaction"]

S = State

_DISCARD = (S.COMPLETED, S.CONFIRMED)

TABLE: Table = {
    (S.IDLE, E.START): (S.PROCEEDING, (Do.SEND_TRYING,)),
    (S.PROCEEDING, E.RECV_REQUEST): (S.PROCEEDING, (Do.RESEND_RESPONSE,)),
    (S.PROCEEDING, E.SEND_1XX): (S.PROCEEDING, (Do.SEND_RESPONSE,)),
    (S.PROCEEDING, E.SEND_2XX): (S.ACCEPTED, (Do.SEND_RESPONSE, Start(T.L))),
    (S.PROCEEDING, E.SEND_FAIL): (
        S.COMPLETED, (Do.SEND_RESPONSE, Start(T.G), Start(T.H)),
    ),
    (S.PROCEEDING, E.TRANSPORT_ERROR): (S.TERMINATED, (Do.TU_TRANSPORT_FAILED,)),
    (S.ACCEPTED, E.RECV_REQUEST): (S.ACCEPTED, ()),  # absorbed: the point of RFC 6026
    (S.ACCEPTED, E.RECV_ACK): (S.ACCEPTED, (Do.TU_ACK,)),
    (S.ACCEPTED, E.SEND_2XX): (S.ACCEPTED, (Do.SEND_RESPONSE,)),
    (S.ACCEPTED, E.SEND_1XX): (S.ACCEPTED, ()),
    (S.ACCEPTED, E.SEND_FAIL): (S.ACCEPTED, ()),
    (S.ACCEPTED, E.TIMER_L): (S.TERMINATED, ()),
    (S.ACCEPTED, E.TRANSPORT_ERROR): (S.TERMINATED, (Do.TU_TRANSPORT_FAILED,)),
    (S.COMPLETED, E.TIMER_G): (S.COMPLETED, (Do.RESEND_RESPONSE, Restart(T.G, "capped"))),
    (S.COMPLETED, E.TIMER_H): (S.TERMINATED, (Do.TU_TIMEOUT,)),
    (S.COMPLETED, E.RECV_REQUEST): (S.COMPLETED, (Do.RESEND_RESPONSE,)),
    (S.COMPLETED, E.RECV_ACK): (S.CONFIRMED, (Cancel(T.G), Cancel(T.H), Start(T.I))),
    (S.COMPLETED, E.TRANSPORT_ERROR): (S.TERMINATED, (Do.TU_TRANSPORT_FAILED,)),
    # Confirmed absorbs ACK and INVITE retransmissions (no entries) until Timer I
    (S.CONFIRMED, E.TIMER_I): (S.TERMINATED, ()),
    # the final response is out: later responses from the TU are discarded (cf. 17.2.2)
    **{(state, event): (state, ()) for state in _DISCARD
       for event in (E.SEND_1XX, E.SEND_2XX, E.SEND_FAIL)},
}


class ServerInviteTransaction(ServerTransaction):
    TABLE = TABLE

    def __init__(
        self,
        key: TransactionKey,
        request: SIPRequest,
        destination: Destination,
        config: TimerConfig | None = None,
        *,
        send_trying: bool = True,
    ) -> None:
        super().__init__(key, request, destination, config)
        self.send_trying = send_trying

    @staticmethod
    def accepts(method: str) -> bool:
        return method == "INVITE"

    def _do_specific(self, action: Do, message: SIPMessage | None, effects: list[Effect]) -> None:
        if action is not Do.SEND_TRYING:
            super()._do_specific(action, message, effects)
        elif self.send_trying:
            # a later INVITE retransmission gets this 100 again (17.2.1)
            self.last_response = make_response(self.request, 100)
            effects.append(Send(self.last_response, self.destination))
