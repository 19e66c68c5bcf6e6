"""The non-INVITE client transaction (RFC 3261 17.1.2).

Timer E retransmits over UDP at T1, 2T1, 4T1... capped at T2 in Trying and
at T2 once a provisional arrived (Proceeding); Timer F ends the transaction
with a 408 after 64*T1 whatever the state; any final response completes it,
and Timer K then absorbs its retransmissions.
"""

from __future__ import annotations

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
from sipsimple_services.signalling.sip.transactions.timers import TimerName as T

__all__ = ["ClientNonInviteTransaction"]

S = State

_FINAL = (Cancel(T.E), Cancel(T.F), Do.TU_RESPONSE, Start(T.K))

TABLE: Table = {
    (S.IDLE, E.START): (S.TRYING, (Do.SEND_REQUEST, Start(T.E), Start(T.F))),
    (S.TRYING, E.TIMER_E): (S.TRYING, (Do.SEND_REQUEST, Restart(T.E, "capped"))),
    (S.TRYING, E.TIMER_F): (S.TERMINATED, (Do.TU_TIMEOUT,)),
    (S.TRYING, E.TRANSPORT_ERROR): (S.TERMINATED, (Do.TU_TRANSPORT_FAILED,)),
    (S.TRYING, E.RECV_1XX): (S.PROCEEDING, (Do.TU_RESPONSE,)),
    (S.TRYING, E.RECV_2XX): (S.COMPLETED, _FINAL),
    (S.TRYING, E.RECV_FAIL): (S.COMPLETED, _FINAL),
    (S.PROCEEDING, E.TIMER_E): (S.PROCEEDING, (Do.SEND_REQUEST, Restart(T.E, "t2"))),
    (S.PROCEEDING, E.TIMER_F): (S.TERMINATED, (Do.TU_TIMEOUT,)),
    (S.PROCEEDING, E.TRANSPORT_ERROR): (S.TERMINATED, (Do.TU_TRANSPORT_FAILED,)),
    (S.PROCEEDING, E.RECV_1XX): (S.PROCEEDING, (Do.TU_RESPONSE,)),
    (S.PROCEEDING, E.RECV_2XX): (S.COMPLETED, _FINAL),
    (S.PROCEEDING, E.RECV_FAIL): (S.COMPLETED, _FINAL),
    # responses in Completed are retransmissions: absorbed by the missing entries
    (S.COMPLETED, E.TIMER_K): (S.TERMINATED, ()),
}


class ClientNonInviteTransaction(ClientTransaction):
    TABLE = TABLE

    @staticmethod
    def accepts(method: str) -> bool:
        return method not in ("INVITE", "ACK")
