"""The INVITE client transaction (RFC 3261 17.1.1, with the Accepted state of RFC 6026 7.2).

A 2xx ends the transaction's part in the exchange: it moves to Accepted,
passes that 2xx and every later one (retransmissions, other forks) to the
TU, and never ACKs a 2xx itself (the dialog does, 13.2.2.4). A 300-699 is
ACKed here, with the ACK of 17.1.1.3, again for each retransmission of it.
"""

from __future__ import annotations

from sipsimple.core.headers import CSeqHeader, Header
from sipsimple_services.signalling.sip.message.values import SIPMessage, SIPRequest, SIPResponse
from sipsimple_services.signalling.sip.transactions.base import (
    Cancel,
    ClientTransaction,
    Do,
    Restart,
    Start,
    State,
    Table,
)
from sipsimple_services.signalling.sip.transactions.base import Event as E
from sipsimple_services.signalling.sip.transactions.effects import Effect, Send
from sipsimple_services.signalling.sip.transactions.timers import TimerName as T

__all__ = ["ClientInviteTransaction", "build_ack"]

S = State

_FINAL_FAILURE = (Cancel(T.A), Cancel(T.B), Cancel(T.C), Do.TU_RESPONSE, Do.SEND_ACK, Start(T.D))
_FINAL_SUCCESS = (Cancel(T.A), Cancel(T.B), Cancel(T.C), Do.TU_RESPONSE, Start(T.M))

TABLE: Table = {
    (S.IDLE, E.START): (S.CALLING, (Do.SEND_REQUEST, Start(T.A), Start(T.B))),
    (S.CALLING, E.TIMER_A): (S.CALLING, (Do.SEND_REQUEST, Restart(T.A, "double"))),
    (S.CALLING, E.TIMER_B): (S.TERMINATED, (Do.TU_TIMEOUT,)),
    (S.CALLING, E.TRANSPORT_ERROR): (S.TERMINATED, (Do.TU_TRANSPORT_FAILED,)),
    (S.CALLING, E.RECV_1XX): (
        S.PROCEEDING, (Cancel(T.A), Cancel(T.B), Do.TU_RESPONSE, Start(T.C)),
    ),
    (S.CALLING, E.RECV_2XX): (S.ACCEPTED, _FINAL_SUCCESS),
    (S.CALLING, E.RECV_FAIL): (S.COMPLETED, _FINAL_FAILURE),
    (S.PROCEEDING, E.RECV_1XX): (S.PROCEEDING, (Do.TU_RESPONSE, Restart(T.C, "initial"))),
    (S.PROCEEDING, E.RECV_2XX): (S.ACCEPTED, _FINAL_SUCCESS),
    (S.PROCEEDING, E.RECV_FAIL): (S.COMPLETED, _FINAL_FAILURE),
    (S.PROCEEDING, E.TIMER_C): (S.TERMINATED, (Do.TU_TIMEOUT,)),
    (S.PROCEEDING, E.TRANSPORT_ERROR): (S.TERMINATED, (Do.TU_TRANSPORT_FAILED,)),
    # the final response was already delivered; retransmissions only get the ACK again
    (S.COMPLETED, E.RECV_FAIL): (S.COMPLETED, (Do.SEND_ACK,)),
    (S.COMPLETED, E.TIMER_D): (S.TERMINATED, ()),
    (S.COMPLETED, E.TRANSPORT_ERROR): (S.TERMINATED, ()),
    (S.ACCEPTED, E.RECV_2XX): (S.ACCEPTED, (Do.TU_RESPONSE,)),
    (S.ACCEPTED, E.TIMER_M): (S.TERMINATED, ()),
}


def build_ack(invite: SIPRequest, response: SIPResponse) -> SIPRequest:
    """The ACK for a non-2xx final response to `invite` (RFC 3261 17.1.1.3).

    Request-URI, Call-ID, From and CSeq number from the INVITE, To from the
    response, one Via equal to the INVITE's top Via (hence the same branch),
    the INVITE's Route headers and Max-Forwards; no body.
    """
    cseq = invite.cseq
    via = invite.top_via
    assert cseq is not None and via is not None
    headers: list[Header] = [via, *invite.route]
    max_forwards = invite.header("Max-Forwards")
    if max_forwards is not None:
        headers.append(max_forwards)
    for name in ("From", "To", "Call-ID"):
        header = (response if name == "To" else invite).header(name)
        if header is not None:
            headers.append(header)
    headers.append(CSeqHeader(cseq.number, "ACK"))
    return SIPRequest("ACK", invite.uri, tuple(headers))


class ClientInviteTransaction(ClientTransaction):
    TABLE = TABLE

    ack: SIPRequest | None = None

    @staticmethod
    def accepts(method: str) -> bool:
        return method == "INVITE"

    def _do_specific(self, action: Do, message: SIPMessage | None, effects: list[Effect]) -> None:
        if action is not Do.SEND_ACK:
            super()._do_specific(action, message, effects)
            return
        if self.ack is None:
            assert isinstance(message, SIPResponse)
            self.ack = build_ack(self.request, message)
        effects.append(Send(self.ack, self.destination))
