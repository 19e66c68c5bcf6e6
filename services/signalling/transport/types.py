"""Values the transports share: addresses, configuration, errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from sipsimple_services.signalling.sip.message.parser import DEFAULT_LIMITS, Limits

__all__ = [
    "DEFAULT_PORTS",
    "RELIABLE",
    "AddressLike",
    "TLSConfig",
    "TransportAddress",
    "TransportConfig",
    "TransportError",
]

DEFAULT_PORTS = {"UDP": 5060, "TCP": 5060, "TLS": 5061}
RELIABLE = frozenset({"TCP", "TLS"})


class AddressLike(Protocol):
    """Anything with host, port and transport (the transaction layer's destination type)."""

    @property
    def host(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def transport(self) -> str: ...


@dataclass(frozen=True)
class TransportAddress:
    """A host (IP literal or name, IPv6 without brackets), a port and a transport.

    ``transport`` is upper-case, as in Via: ``UDP``, ``TCP`` or ``TLS``.
    """

    host: str
    port: int
    transport: str = "UDP"

    def __post_init__(self) -> None:
        object.__setattr__(self, "transport", self.transport.upper())
        if self.host.startswith("[") and self.host.endswith("]"):
            object.__setattr__(self, "host", self.host[1:-1])

    @classmethod
    def of(cls, address: AddressLike) -> TransportAddress:
        if isinstance(address, TransportAddress):
            return address
        return cls(address.host, address.port, address.transport)

    @property
    def reliable(self) -> bool:
        return self.transport in RELIABLE

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.transport.lower()}:{host}:{self.port}"


@dataclass(frozen=True)
class TLSConfig:
    """TLS for both roles.

    Server side: ``certificate`` and ``private_key`` (PEM files) are required
    to listen. Client side: the server certificate and name are verified
    against ``ca_file`` (the system store when None) unless ``verify_server``
    is explicitly False; ``client_certificate``/``client_private_key`` are
    presented when the server asks.

    ``unavailable`` is why TLS is off (the settings did not load: a CA file
    that is not one, a certificate without its key): no TLS listener, and a
    TLS connection fails with that reason instead of trying.
    """

    certificate: str | None = None
    private_key: str | None = None
    ca_file: str | None = None
    verify_server: bool = True
    client_certificate: str | None = None
    client_private_key: str | None = None
    handshake_timeout: float = 10.0
    unavailable: str | None = None


@dataclass(frozen=True)
class TransportConfig:
    """Where to listen and how to treat connections.

    A port of None disables that transport's listener (sending still works
    for TCP/TLS, from an ephemeral port); 0 picks a free port.
    ``idle_timeout`` closes connections with no traffic for that long (on
    connections a peer opened, only whole messages count: CRLF keep-alives
    do not keep them open); ``keepalive_interval`` sends a CRLFCRLF ping on
    outbound connections that have been quiet that long (None: never).

    Bounds against a peer that opens connections and feeds them slowly:
    ``max_connections`` in all and ``max_connections_per_address`` opened
    from one IP address (TLS handshakes in progress count); a message begun
    on a stream must end within ``message_timeout`` seconds, however the
    bytes trickle in; ``max_buffered_bytes`` is the budget of partial
    messages held by all streams together (the connection whose read goes
    past it is closed). ``limits`` bound each message (the body limit is
    ``limits.max_body_bytes``).
    """

    host: str = "0.0.0.0"
    udp_port: int | None = 0
    tcp_port: int | None = 0
    tls_port: int | None = None
    tls: TLSConfig = field(default_factory=TLSConfig)
    limits: Limits = DEFAULT_LIMITS
    idle_timeout: float = 300.0
    keepalive_interval: float | None = None
    connect_timeout: float = 10.0
    max_connections: int = 1024
    max_connections_per_address: int = 32
    max_buffered_bytes: int = 64 * 1024 * 1024
    message_timeout: float = 30.0


class TransportError(Exception):
    """A message could not be sent: connection refused, TLS failure, no route...

    ``reason`` is the human explanation (the transaction layer turns the
    error into a local 503).
    """

    def __init__(self, destination: TransportAddress, reason: str) -> None:
        super().__init__(f"{destination}: {reason}")
        self.destination = destination
        self.reason = reason
