"""SIP transports: UDP, TCP and TLS over IPv4 and IPv6 (gevent I/O around the sans-IO parser).

`TransportManager` owns the sockets; `stamp_received` and
`response_destination` are the pure Via rules it applies.
"""

from sipsimple_services.signalling.transport.manager import TransportManager
from sipsimple_services.signalling.transport.types import (
    DEFAULT_PORTS,
    AddressLike,
    TLSConfig,
    TransportAddress,
    TransportConfig,
    TransportError,
)
from sipsimple_services.signalling.transport.via import response_destination, stamp_received

__all__ = [
    "DEFAULT_PORTS",
    "AddressLike",
    "TLSConfig",
    "TransportAddress",
    "TransportConfig",
    "TransportError",
    "TransportManager",
    "response_destination",
    "stamp_received",
]
