"""The non-INVITE server transaction (RFC 3261 17.2.2).

Retransmissions of the request are absorbed in Trying, answered with the last
provisional in Proceeding and with the final response in Completed, where
Timer J (64*T1 over UDP, 0 over TCP) keeps the transaction to absorb them.
"""

from __future__ import annotations

from sipsimple_services.signalling.sip.transactions.base import (
    Do,
    ServerTransaction,
    Start,
    State,
    Table,
)
from sipsimple_services.signalling.sip.transactions.base import Event as E
from sipsimple_services.signalling.sip.transactions.timers import TimerName as T

__all__ = ["ServerNonInviteTransaction"]

S = State

_FINAL = (Do.SEND_RESPONSE, Start(T.J))

TABLE: Table = {
    (S.IDLE, E.START): (S.TRYING, ()),
    (S.TRYING, E.RECV_REQUEST): (S.TRYING, ()),
    (S.TRYING, E.SEND_1XX): (S.PROCEEDING, (Do.SEND_RESPONSE,)),
    (S.TRYING, E.SEND_2XX): (S.COMPLETED, _FINAL),
    (S.TRYING, E.SEND_FAIL): (S.COMPLETED, _FINAL),
    # nothing was sent in Trying, so a transport error there has nothing to fail
    (S.PROCEEDING, E.RECV_REQUEST): (S.PROCEEDING, (Do.RESEND_RESPONSE,)),
    (S.PROCEEDING, E.SEND_1XX): (S.PROCEEDING, (Do.SEND_RESPONSE,)),
    (S.PROCEEDING, E.SEND_2XX): (S.COMPLETED, _FINAL),
    (S.PROCEEDING, E.SEND_FAIL): (S.COMPLETED, _FINAL),
    (S.PROCEEDING, E.TRANSPORT_ERROR): (S.TERMINATED, (Do.TU_TRANSPORT_FAILED,)),
    (S.COMPLETED, E.RECV_REQUEST): (S.COMPLETED, (Do.RESEND_RESPONSE,)),
    (S.COMPLETED, E.SEND_1XX): (S.COMPLETED, ()),
    (S.COMPLETED, E.SEND_2XX): (S.COMPLETED, ()),
    (S.COMPLETED, E.SEND_FAIL): (S.COMPLETED, ()),
    (S.COMPLETED, E.TIMER_J): (S.TERMINATED, ()),
    (S.COMPLETED, E.TRANSPORT_ERROR): (S.TERMINATED, (Do.TU_TRANSPORT_FAILED,)),
}


class ServerNonInviteTransaction(ServerTransaction):
    TABLE = TABLE

    @staticmethod
    def accepts(method: str) -> bool:
        return method not in ("INVITE", "ACK")
