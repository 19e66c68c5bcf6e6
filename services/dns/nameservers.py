"""Which nameservers to use: configuration and probing (the DNSManager logic).

The configured nameservers (``SIPSIMPLE_DNS_NAMESERVERS``, the bus method
``set_nameservers``, else the system's resolv.conf) are preferred. A probe
asks each of them a question; those that answer properly become the active
list. When none does, the fallback nameservers are probed the same way and
used if they work; when they fail too, the configured ones stay active (there
is nothing better) and the next probe comes sooner.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "DEFAULT_FALLBACK",
    "Nameserver",
    "NameserverManager",
    "NameserverState",
    "parse_nameserver",
    "parse_nameservers",
]


@dataclass(frozen=True)
class Nameserver:
    address: str
    port: int = 53

    def __str__(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return host if self.port == 53 else f"{host}:{self.port}"


# No built-in fallback (the original SDK silently used Google Public DNS): a
# user's queries go only to servers the system or the user configured, set
# with the dns.fallback_nameservers setting or SIPSIMPLE_DNS_FALLBACK_NAMESERVERS.
DEFAULT_FALLBACK: tuple[Nameserver, ...] = ()


def parse_nameserver(text: str) -> Nameserver:
    """``ip``, ``ip:port``, a bare IPv6 address or ``[ipv6]:port``."""
    if not isinstance(text, str):
        raise ValueError(f"a nameserver must be a string, not {type(text).__name__}")
    text = text.strip()
    port_text: str | None = None
    if text.startswith("["):
        address, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise ValueError(f"invalid nameserver {text!r} (expected [ipv6]:port)")
        port_text = rest[1:] if rest else None
    elif text.count(":") == 1:
        address, _, port_text = text.partition(":")
    else:
        address = text
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        raise ValueError(f"invalid nameserver {text!r}: {address!r} is not an IP address") from None
    port = 53
    if port_text is not None:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ValueError(f"invalid nameserver {text!r}: bad port {port_text!r}")
        port = int(port_text)
    return Nameserver(str(ip), port)


def parse_nameservers(items: str | Iterable[str]) -> tuple[Nameserver, ...]:
    """A comma-separated string or a list of nameservers, duplicates dropped."""
    if isinstance(items, str):
        items = [item for item in items.split(",") if item.strip()]
    return tuple(dict.fromkeys(parse_nameserver(item) for item in items))


@dataclass(frozen=True)
class NameserverState:
    active: tuple[Nameserver, ...]
    configured: tuple[Nameserver, ...]
    fallback: tuple[Nameserver, ...]
    using_fallback: bool
    healthy: bool  # the last probe found working nameservers
    probed: bool  # at least one probe finished

    def as_dict(self) -> dict[str, object]:
        return {
            "nameservers": [str(n) for n in self.active],
            "configured_nameservers": [str(n) for n in self.configured],
            "fallback_nameservers": [str(n) for n in self.fallback],
            "using_fallback": self.using_fallback,
            "healthy": self.healthy,
            "probed": self.probed,
        }


# check(nameservers) -> the ones that answered the probe properly, in order.
Checker = Callable[[Sequence[Nameserver]], list[Nameserver]]


class NameserverManager:
    """Holds the nameserver state; `probe` runs the checks and says what changed."""

    def __init__(
        self, configured: Sequence[Nameserver], fallback: Sequence[Nameserver], check: Checker,
    ) -> None:
        self.check = check
        self.state = NameserverState(
            active=tuple(configured), configured=tuple(configured), fallback=tuple(fallback),
            using_fallback=False, healthy=False, probed=False,
        )
        self.generation = 0  # bumped by configure(), so a stale probe result is ignored

    def configure(
        self, configured: Sequence[Nameserver], fallback: Sequence[Nameserver] | None = None
    ) -> bool:
        """New lists (fallback None keeps the current one); True if the active list changed."""
        self.generation += 1
        old = self.state.active
        self.state = NameserverState(
            active=tuple(configured), configured=tuple(configured),
            fallback=self.state.fallback if fallback is None else tuple(fallback),
            using_fallback=False, healthy=False, probed=self.state.probed,
        )
        return self.state.active != old

    def probe(self) -> bool:
        """Probe and update the state; True if the active list changed."""
        generation = self.generation
        configured, fallback = self.state.configured, self.state.fallback
        using_fallback = False
        active = self.check(configured) if configured else []
        if not active and fallback:
            active = self.check(fallback)
            using_fallback = bool(active)
        healthy = bool(active)
        if not active:
            active = list(configured)  # nothing works: keep the preferred ones
        if generation != self.generation:
            return False  # reconfigured while probing; that probe decides
        old = self.state.active
        self.state = NameserverState(
            active=tuple(active), configured=configured, fallback=fallback,
            using_fallback=using_fallback, healthy=healthy, probed=True,
        )
        return self.state.active != old
