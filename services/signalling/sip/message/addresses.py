"""Where a message goes: `Destination`, and the response address of RFC 3261 18.2.2.

A `Destination` is what the transaction layer hands to the transport layer
with every message: a host (an IP address, or a name the transport resolves),
a port and a transport name as written in a Via (UDP, TCP, TLS...). The
transport keeps connections, so a `Destination` naming the source of a request
that came over TCP means "the connection it came on" (18.2.2).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sipsimple_services.signalling.sip.message.values import SIPRequest

__all__ = [
    "DEFAULT_PORTS",
    "RELIABLE_TRANSPORTS",
    "Destination",
    "response_destination",
]

# Transports that retransmit on their own: no SIP-level retransmissions over
# them and the "wait for stray retransmissions" timers (D, I, J, K) are zero.
RELIABLE_TRANSPORTS = frozenset({"TCP", "TLS", "SCTP", "TLS-SCTP", "WS", "WSS"})

DEFAULT_PORTS = {"UDP": 5060, "TCP": 5060, "SCTP": 5060, "TLS": 5061, "TLS-SCTP": 5061,
                 "WS": 80, "WSS": 443}


@dataclass(frozen=True)
class Destination:
    """``tls_name``: the name a TLS server there must prove (None: ``host``). It
    travels with each request (a registrar addressed by IP, a proxy) and takes
    no part in equality: two requests to one address may verify different names."""

    host: str
    port: int
    transport: str = "UDP"
    tls_name: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.host, str) or not self.host:
            raise ValueError(f"invalid destination host {self.host!r}")
        if not isinstance(self.port, int) or isinstance(self.port, bool) or not (
            0 < self.port < 65536
        ):
            raise ValueError(f"invalid destination port {self.port!r}")
        if not isinstance(self.transport, str) or not self.transport:
            raise ValueError(f"invalid destination transport {self.transport!r}")
        object.__setattr__(self, "transport", self.transport.upper())

    @property
    def reliable(self) -> bool:
        return self.transport in RELIABLE_TRANSPORTS

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.transport}:{host}:{self.port}"


def response_destination(request: SIPRequest, source: Destination) -> Destination:
    """Where responses to `request`, received from `source`, are sent (18.2.2, RFC 3581).

    Reliable transports answer on the connection the request came on (the
    source). Over UDP: a Via ``maddr`` wins; with ``rport`` the response goes
    back to the source address and port (the NAT binding); otherwise to the
    source address (the ``received`` of 18.2.1) and the sent-by port.
    """
    if source.reliable:
        return source
    via = request.top_via
    if via is None:
        return source
    default = DEFAULT_PORTS.get(source.transport, 5060)
    if via.maddr is not None:
        return Destination(via.maddr, via.port or default, source.transport)
    if via.has_rport:
        return source
    return Destination(source.host, via.port or default, source.transport)
