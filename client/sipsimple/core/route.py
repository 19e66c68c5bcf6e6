"""Where to send a request: one candidate from a DNS lookup."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Route"]


@dataclass(frozen=True)
class Route:
    """An address to try, in the order a lookup returned it.

    ``address`` is an IP address (no brackets for IPv6); ``transport`` is
    ``udp``, ``tcp`` or ``tls``; ``tls_name`` is the name to verify the peer's
    certificate against (the domain of the URI that was resolved, RFC 5922).
    """

    address: str
    port: int
    transport: str = "udp"
    tls_name: str | None = None

    def to_bus(self) -> dict[str, object]:
        """The route as the signalling service's methods take it."""
        data: dict[str, object] = {"host": self.address, "port": self.port,
                                   "transport": self.transport}
        if self.tls_name:
            data["tls_name"] = self.tls_name
        return data

    def __str__(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{self.transport}:{host}:{self.port}"
