"""The four transaction state machines of RFC 3261 section 17 (with RFC 6026).

Each is a table (``TABLE`` in its module) run by `Transaction`: inputs are
method calls carrying ``now`` (``start``, ``receive``, ``send_response``,
``timer_fired``, ``transport_error``); outputs are lists of effects
(`sipsimple_services.signalling.sip.transactions.effects`). `TransactionError` is the only
exception they raise, for calls that make no sense (see `base`).
"""

from sipsimple_services.signalling.sip.transactions.base import (
    ClientTransaction,
    ServerTransaction,
    State,
    Transaction,
    TransactionError,
)
from sipsimple_services.signalling.sip.transactions.client_invite import (
    ClientInviteTransaction,
    build_ack,
)
from sipsimple_services.signalling.sip.transactions.client_noninvite import (
    ClientNonInviteTransaction,
)
from sipsimple_services.signalling.sip.transactions.server_invite import ServerInviteTransaction
from sipsimple_services.signalling.sip.transactions.server_noninvite import (
    ServerNonInviteTransaction,
)

__all__ = [
    "ClientInviteTransaction",
    "ClientNonInviteTransaction",
    "ClientTransaction",
    "ServerInviteTransaction",
    "ServerNonInviteTransaction",
    "ServerTransaction",
    "State",
    "Transaction",
    "TransactionError",
    "build_ack",
]
