"""REFER inside an INVITE dialog (RFC 3515) and its implicit ``refer`` subscription.

`ReferAgent` sits on the `DialogLayer` and uses only its in-dialog request
API (`request`, `respond`, `InDialogRequest`, `InDialogResponse`); it keeps
no sockets, clock or randomness.

Glue: offer every `InDialogRequest`/`InDialogResponse` the DialogLayer
returns to `handle(event, now)` before publishing it; it takes REFERs,
NOTIFYs with ``Event: refer`` and the responses to its own requests, and
returns None for everything else. Commands: `refer` (transferor),
`accept`/`reject`/`report_progress` (transferee).

- Transferor: `refer` sends REFER (Refer-To, optional Referred-By; a
  Replaces rides in the Refer-To URI, see `replaces`). The REFER's 2xx is
  `TransferAccepted`, a failure `TransferFailed`. Each NOTIFY is answered
  200 and its message/sipfrag body becomes `TransferProgress`; the NOTIFY
  with ``Subscription-State: terminated`` ends it (`TransferEnded`).
- Transferee: a REFER becomes `IncomingRefer` (a REFER without exactly one
  valid Refer-To gets 400). `accept` answers 202 and sends NOTIFY
  ``SIP/2.0 100 Trying``; `report_progress(code, reason)` sends a NOTIFY
  per step of the new call, the final one (code >= 200) with
  ``terminated;reason=noresource``. NOTIFYs go one at a time, in order.
  The answer to the final NOTIFY (or a failed NOTIFY: 481, a timeout) ends
  the transfer (`TransferEnded` with the last status reported).
- Sessions end under transfers: `ending_session` (we are about to hang up)
  refuses a REFER still waiting for an answer (487, as the facade does) and sends an active
  transfer's terminating NOTIFY (the last status reported,
  ``terminated;reason=noresource``) before the BYE; `session_gone` (the
  session has terminated, whoever ended it) forgets every transfer of the
  session and returns a `TransferEnded` for each one not ended yet: once the
  INVITE dialog is gone no NOTIFY can be sent or received in it.
- A 481 or 408 to a NOTIFY ends only its transfer, not the session
  (RFC 5057 5.1: the refer subscription is a usage of its own).
- The REFER's ``id`` follows the CSeq of the REFER that was accepted: a REFER
  sent again with credentials after a 401/407 has a new CSeq.
- NOTIFYs carry ``Event: refer;id=<CSeq of the REFER>`` (RFC 3515 2.4.6) so
  several transfers in one dialog stay apart.
- A SUBSCRIBE in the dialog with ``Event: refer`` refreshes a transfer we were
  asked for (RFC 3515 2.4.4, RFC 6665 4.2.2): 200 and a NOTIFY with the last
  status; with ``Expires: 0`` the NOTIFY is the terminating one. A SUBSCRIBE
  for no active transfer of ours gets 481.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from sipsimple.core import SIPParseError
from sipsimple.core.headers import (
    ContentTypeHeader,
    CSeqHeader,
    EventHeader,
    ExpiresHeader,
    Header,
    ReferredByHeader,
    ReferToHeader,
    ReplacesHeader,
    SubscriptionStateHeader,
)
from sipsimple_services.signalling.sip.dialogs.replaces import replaces_in
from sipsimple_services.signalling.sip.invite.events import InDialogRequest, InDialogResponse
from sipsimple_services.signalling.sip.invite.layer import DialogLayer
from sipsimple_services.signalling.sip.invite.session import SessionError
from sipsimple_services.signalling.sip.message.sipfrag import (
    CONTENT_TYPE,
    SipFragError,
    build_sipfrag,
    parse_sipfrag,
)
from sipsimple_services.signalling.sip.transactions.effects import Effect, TUEvent
from sipsimple_services.signalling.sip.transactions.keys import ServerKey

__all__ = [
    "IncomingRefer",
    "ReferAgent",
    "ReferError",
    "TransferAccepted",
    "TransferEnded",
    "TransferFailed",
    "TransferProgress",
]

T = TypeVar("T")
REFER_EXPIRES = 60  # what our NOTIFYs announce; the final NOTIFY comes sooner or not at all


class ReferError(Exception):
    """A transfer call that makes no sense (unknown transfer, wrong state)."""


@dataclass(frozen=True)
class TransferEvent(TUEvent):
    transfer: str
    session: str


@dataclass(frozen=True)
class IncomingRefer(TransferEvent):
    refer_to: ReferToHeader
    referred_by: ReferredByHeader | None
    replaces: ReplacesHeader | None
    headers: tuple[Header, ...]


@dataclass(frozen=True)
class TransferAccepted(TransferEvent):
    code: int  # the REFER's 2xx (202)


@dataclass(frozen=True)
class TransferFailed(TransferEvent):
    code: int
    reason: str


@dataclass(frozen=True)
class TransferProgress(TransferEvent):
    code: int
    reason: str


@dataclass(frozen=True)
class TransferEnded(TransferEvent):
    """The refer subscription ended; ``code``/``reason``: the last sipfrag received
    (a transfer we started) or reported (a REFER we got); 0 and "" if none."""

    code: int
    reason: str


@dataclass
class _Transfer:
    id: str
    session: str
    outgoing: bool
    event_id: str  # the REFER's CSeq number
    key: ServerKey | None = None  # an incoming REFER waiting for accept/reject
    state: str = "new"  # new, active, ended
    last: tuple[int, str] = (0, "")  # the last status received, or reported
    queue: list[tuple[int, str, bool]] = field(default_factory=list)  # (code, reason, final)
    in_flight: set[int] = field(default_factory=set)  # request ids of NOTIFYs out
    final_sent: bool = False


class ReferAgent:
    def __init__(self, dialogs: DialogLayer) -> None:
        self.dialogs = dialogs
        self._transfers: dict[str, _Transfer] = {}
        self._requests: dict[tuple[str, int], str] = {}  # (session, request id) -> transfer
        self._counter = 0

    def __len__(self) -> int:
        return len(self._transfers)

    def transfer(self, tid: str) -> _Transfer:
        try:
            return self._transfers[tid]
        except KeyError:
            raise ReferError(f"no transfer {tid!r}") from None

    # -- transferor -------------------------------------------------------------------

    def refer(self, sid: str, refer_to: ReferToHeader, now: float, *,
              referred_by: ReferredByHeader | None = None,
              headers: Sequence[Header] = ()) -> tuple[str, list[Effect]]:
        extra: list[Header] = [refer_to, *([referred_by] if referred_by else []), *headers]
        # The REFER's CSeq is the session dialog's next number (12.2.1.1).
        session = self.dialogs.session(sid)
        dialog = session.dialog
        event_id = str(dialog.local_cseq + 1) if dialog is not None else "1"
        request_id, effects = self.dialogs.request(sid, "REFER", now, extra)
        tid = self._new(sid, outgoing=True, event_id=event_id)
        self._requests[(sid, request_id)] = tid
        return tid, self._absorb(effects, now)

    # -- transferee -------------------------------------------------------------------

    def accept(self, tid: str, now: float) -> list[Effect]:
        transfer = self._incoming(tid)
        assert transfer.key is not None
        effects = self.dialogs.respond(transfer.session, transfer.key, 202, now)
        transfer.key, transfer.state = None, "active"
        return self._absorb(effects + self._notify(transfer, 100, "Trying", now), now)

    def reject(self, tid: str, now: float, code: int = 603, reason: str | None = None,
               headers: Sequence[Header] = ()) -> list[Effect]:
        transfer = self._incoming(tid)
        if not 300 <= code <= 699:
            raise ReferError(f"{code} is no rejection")
        assert transfer.key is not None
        effects = self.dialogs.respond(transfer.session, transfer.key, code, now, reason,
                                       headers)
        self._drop(transfer)
        return self._absorb(effects, now)

    def report_progress(self, tid: str, code: int, reason: str, now: float) -> list[Effect]:
        """How the call to the Refer-To target goes: a NOTIFY with its status line."""
        transfer = self.transfer(tid)
        if transfer.outgoing or transfer.state != "active" or transfer.final_sent:
            raise ReferError(f"transfer {tid} takes no progress reports")
        build_sipfrag(code, reason)  # refuse a bad status line before anything is sent
        try:
            return self._absorb(self._notify(transfer, code, reason, now), now)
        except SessionError as exc:
            raise ReferError(f"transfer {tid}: {exc}") from None  # we are hanging up

    # -- the session's end --------------------------------------------------------------

    def ending_session(self, sid: str, now: float) -> list[Effect]:
        """We are about to end session `sid`: close its incoming transfers while the
        dialog still carries requests (refuse a waiting REFER, send the final NOTIFY)."""
        effects: list[Effect] = []
        for transfer in [t for t in self._transfers.values() if t.session == sid]:
            if transfer.outgoing or transfer.final_sent:
                continue
            try:
                if transfer.key is not None:
                    effects += self.dialogs.respond(sid, transfer.key, 487, now)
                    effects += self._end(transfer)
                else:
                    # the progress not sent yet is moot now, and the final NOTIFY
                    # cannot wait for the one out: the BYE follows at once
                    transfer.queue.clear()
                    effects += self._notify(transfer, *transfer.last, now, final=True,
                                            at_once=True)
            except SessionError:
                pass  # no request fits the session's state any more: session_gone ends it
        return self._absorb(effects, now)

    def session_gone(self, sid: str) -> list[Effect]:
        """Session `sid` has terminated: its transfers end with it."""
        ended: list[Effect] = []
        for transfer in [t for t in self._transfers.values() if t.session == sid]:
            ended += self._end(transfer)
        # the answers of its requests will never come
        self._requests = {k: v for k, v in self._requests.items() if k[0] != sid}
        return ended

    # -- events of the DialogLayer -------------------------------------------------------

    def handle(self, event: Effect, now: float) -> list[Effect] | None:
        if isinstance(event, InDialogResponse):
            tid = self._requests.pop((event.session, event.request_id), None)
            if tid is None:
                return None
            if tid not in self._transfers:
                return []  # a request of a transfer that has ended: nobody waits for it
            return self._absorb(self._response(self._transfers[tid], event, now), now)
        if not isinstance(event, InDialogRequest):
            return None
        if event.method == "REFER":
            return self._absorb(self._incoming_refer(event, now), now)
        if event.method == "SUBSCRIBE":
            header = _first(event.headers, EventHeader)
            if header is None or header.event != "refer":
                return None
            return self._absorb(self._incoming_subscribe(event, header, now), now)
        if event.method == "NOTIFY":
            header = _first(event.headers, EventHeader)
            if header is None or header.event != "refer":
                return None
            return self._absorb(self._incoming_notify(event, header, now), now)
        return None

    # -- internals --------------------------------------------------------------------------

    def _new(self, sid: str, *, outgoing: bool, event_id: str,
             key: ServerKey | None = None) -> str:
        self._counter += 1
        tid = f"transfer-{self._counter}"
        self._transfers[tid] = _Transfer(tid, sid, outgoing, event_id, key)
        return tid

    def _drop(self, transfer: _Transfer) -> None:
        transfer.state = "ended"
        self._transfers.pop(transfer.id, None)
        # its requests still out stay in _requests: their answers are ours to swallow

    def _incoming(self, tid: str) -> _Transfer:
        transfer = self.transfer(tid)
        if transfer.outgoing or transfer.key is None:
            raise ReferError(f"transfer {tid} is no REFER waiting for an answer")
        return transfer

    def _response(self, transfer: _Transfer, event: InDialogResponse,
                  now: float) -> list[Effect]:
        if event.method == "REFER":
            if event.code < 300:
                transfer.state = "active"
                cseq = _first(event.headers, CSeqHeader)
                if cseq is not None:
                    # a REFER sent again after a 401/407 has the next CSeq: NOTIFYs name it
                    transfer.event_id = str(cseq.number)
                return [TransferAccepted(transfer.id, transfer.session, event.code)]
            self._drop(transfer)
            return [TransferFailed(transfer.id, transfer.session, event.code, event.reason)]
        # a NOTIFY of ours: the next one may go; a failure (481, 408...) ends the
        # subscription, and only it (RFC 5057 5.1)
        transfer.in_flight.discard(event.request_id)
        if event.code >= 300 or (transfer.final_sent and not transfer.queue
                                 and not transfer.in_flight):
            return self._end(transfer)
        if transfer.queue and not transfer.in_flight:
            code, reason, final = transfer.queue.pop(0)
            try:
                return self._notify(transfer, code, reason, now, final=final)
            except SessionError:
                return self._end(transfer)  # we are hanging up meanwhile
        return []

    def _end(self, transfer: _Transfer) -> list[Effect]:
        self._drop(transfer)
        return [TransferEnded(transfer.id, transfer.session, *transfer.last)]

    def _notify(self, transfer: _Transfer, code: int, reason: str, now: float, *,
                final: bool | None = None, at_once: bool = False) -> list[Effect]:
        """Report a status; ``final`` (default: a final code) terminates the subscription;
        ``at_once`` sends it even while another NOTIFY waits for its answer."""
        final = code >= 200 if final is None else final
        transfer.last = (code, reason)
        if transfer.in_flight and not at_once:
            transfer.queue.append((code, reason, final))
            transfer.final_sent = transfer.final_sent or final
            return []
        state = SubscriptionStateHeader("terminated", {"reason": "noresource"}) if final else (
            SubscriptionStateHeader("active", {"expires": str(REFER_EXPIRES)}))
        headers: list[Header] = [EventHeader("refer", {"id": transfer.event_id}), state,
                                 ContentTypeHeader.parse(CONTENT_TYPE)]
        request_id, effects = self.dialogs.request(
            transfer.session, "NOTIFY", now, headers, build_sipfrag(code, reason))
        transfer.in_flight.add(request_id)
        transfer.final_sent = transfer.final_sent or final
        self._requests[(transfer.session, request_id)] = transfer.id
        return effects

    def _incoming_refer(self, event: InDialogRequest, now: float) -> list[Effect]:
        refer_tos = [x for x in event.headers if isinstance(x, ReferToHeader)]
        cseq = _first(event.headers, CSeqHeader)
        if len(refer_tos) != 1 or cseq is None:
            return self.dialogs.respond(event.session, event.server_key, 400, now,
                                        "Exactly one Refer-To needed")
        try:
            replaces = replaces_in(refer_tos[0])
        except SIPParseError:
            return self.dialogs.respond(event.session, event.server_key, 400, now,
                                        "Bad Replaces in Refer-To")
        tid = self._new(event.session, outgoing=False, event_id=str(cseq.number),
                        key=event.server_key)
        return [IncomingRefer(tid, event.session, refer_tos[0],
                              _first(event.headers, ReferredByHeader), replaces, event.headers)]

    def _incoming_subscribe(self, event: InDialogRequest, header: EventHeader,
                            now: float) -> list[Effect]:
        transfer = next((t for t in self._transfers.values() if not t.outgoing
                         and t.session == event.session and t.state == "active"
                         and not t.final_sent and header.id in (None, t.event_id)), None)
        if transfer is None:
            return self.dialogs.respond(event.session, event.server_key, 481, now)
        expires = _first(event.headers, ExpiresHeader)
        ending = expires is not None and expires.value == 0
        granted = 0 if ending else min(REFER_EXPIRES, expires.value if expires else REFER_EXPIRES)
        effects = self.dialogs.respond(event.session, event.server_key, 200, now,
                                       headers=[ExpiresHeader(granted)])
        # the current state at once (4.2.2); an unsubscription ends the transfer
        return effects + self._notify(transfer, *transfer.last, now, final=ending)

    def _incoming_notify(self, event: InDialogRequest, header: EventHeader,
                         now: float) -> list[Effect]:
        transfer = next((t for t in self._transfers.values() if t.outgoing
                         and t.session == event.session
                         and header.id in (None, t.event_id)), None)
        if transfer is None:
            return self.dialogs.respond(event.session, event.server_key, 481, now)
        effects = self.dialogs.respond(event.session, event.server_key, 200, now)
        try:
            frag = parse_sipfrag(event.body)
        except SipFragError:
            frag = None  # an unreadable body still counts for the subscription state
        if frag is not None:
            transfer.last = (frag.code, frag.reason)
            effects.append(TransferProgress(transfer.id, transfer.session, frag.code,
                                            frag.reason))
        state = _first(event.headers, SubscriptionStateHeader)
        if state is not None and state.state.lower() == "terminated":
            self._drop(transfer)
            effects.append(TransferEnded(transfer.id, transfer.session, *transfer.last))
        return effects

    def _absorb(self, effects: list[Effect], now: float) -> list[Effect]:
        """Effects of the DialogLayer: events about our own requests are taken at once."""
        out: list[Effect] = []
        for effect in effects:
            handled = self.handle(effect, now) if isinstance(
                effect, InDialogResponse | InDialogRequest) else None
            out += [effect] if handled is None else handled
        return out


def _first(headers: Sequence[Header], kind: type[T]) -> T | None:
    return next((x for x in headers if isinstance(x, kind)), None)
