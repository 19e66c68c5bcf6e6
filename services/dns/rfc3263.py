"""Locating a SIP server for a SIP or SIPS URI (RFC 3263 section 4).

`resolve_sip_proxy` walks the RFC's steps and returns the routes in the order
to try:

1. the target is ``maddr`` if present, else the host;
2. an IP address target needs no DNS;
3. an explicit port means A/AAAA only;
4. a ``transport=`` parameter means SRV for that transport, then A/AAAA;
5. otherwise NAPTR (sorted by order, then preference, kept only for the
   client's transports), each followed through SRV to A/AAAA; without a
   usable result, SRV for each supported transport in the client's order;
   without one, A/AAAA on the default port.

A sips: URI uses TLS only. The transport for a target without NAPTR or SRV
is TLS for sips:, else UDP (RFC 3263 4.1), else TCP if the client has no UDP.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from sipsimple.core import SIPURI, Route, SIPURIError
from sipsimple_services.dns.records import NAPTR, Query
from sipsimple_services.dns.resolution import InvalidInput, Resolution

__all__ = ["DEFAULT_PORTS", "TRANSPORTS", "check_transports", "resolve_sip_proxy"]

TRANSPORTS: tuple[str, ...] = ("udp", "tcp", "tls")
DEFAULT_PORTS = {"udp": 5060, "tcp": 5060, "tls": 5061}
NAPTR_SERVICES = {"SIP+D2U": "udp", "SIP+D2T": "tcp", "SIPS+D2T": "tls"}
SRV_PREFIXES = {"udp": "_sip._udp", "tcp": "_sip._tcp", "tls": "_sips._tcp"}


def check_transports(supported: Any) -> tuple[str, ...]:
    """The client's transports, validated, lower-cased, in its order of preference."""
    if isinstance(supported, str | bytes) or not isinstance(supported, Sequence):
        raise InvalidInput("supported transports must be a list such as ['udp', 'tcp', 'tls']")
    if not supported:
        raise InvalidInput("the list of supported transports is empty")
    checked: list[str] = []
    for item in supported:
        if not isinstance(item, str) or item.lower() not in TRANSPORTS:
            raise InvalidInput(
                f"unsupported transport {item!r} (known: {', '.join(TRANSPORTS)})"
            )
        if item.lower() not in checked:
            checked.append(item.lower())
    return tuple(checked)


def _uri_transport(uri: SIPURI, allowed: tuple[str, ...]) -> str | None:
    """The transport a ``transport=`` parameter asks for, or None without one."""
    name = uri.transport
    if name is None:
        return None
    if name == "udp" and uri.secure:
        raise InvalidInput(f"{uri}: a sips: URI cannot use transport=udp (TLS runs over TCP)")
    if name == "tcp" and uri.secure:
        name = "tls"  # sips: with transport=tcp means TLS over TCP (RFC 3261)
    if name not in TRANSPORTS:
        raise InvalidInput(f"{uri}: transport {name!r} is not supported")
    if name not in allowed:
        raise InvalidInput(f"{uri}: transport {name} is not among the supported transports")
    return name


def _default_transport(uri: SIPURI, allowed: tuple[str, ...]) -> str:
    if uri.secure:
        return "tls"
    for name in ("udp", "tcp", "tls"):
        if name in allowed:
            return name
    raise AssertionError("allowed transports are never empty")  # pragma: no cover


def _target(uri: SIPURI) -> tuple[str, bool]:
    """The host to resolve (maddr wins, RFC 3263 4) and whether it is an address."""
    maddr = uri.maddr
    if maddr is None:
        return uri.host.rstrip("."), uri.is_address
    try:
        target = SIPURI(host=maddr)
    except SIPURIError as exc:
        raise InvalidInput(f"{uri}: invalid maddr: {exc}") from None
    return target.host.rstrip("."), target.is_address


def resolve_sip_proxy(
    uri: SIPURI,
    supported_transports: Sequence[str],
    query: Query,
    *,
    tls_name: str | None = None,
    rng: random.Random | None = None,
) -> list[Route]:
    """Routes for `uri`, most preferred first; raises a `ResolutionError`."""
    if not isinstance(uri, SIPURI):
        raise InvalidInput(f"expected a SIPURI, not {type(uri).__name__}")
    supported = check_transports(supported_transports)
    if uri.secure:
        if "tls" not in supported:
            raise InvalidInput(f"{uri}: a sips: URI needs TLS, which is not a supported transport")
        allowed: tuple[str, ...] = ("tls",)
    else:
        allowed = supported
    transport = _uri_transport(uri, allowed)
    target, is_address = _target(uri)
    name_for_tls = tls_name or uri.host.rstrip(".")
    resolution = Resolution(query, rng)
    found: list[tuple[str, int, str]] = []

    if is_address:
        transport = transport or _default_transport(uri, allowed)
        found.append((target, uri.port or DEFAULT_PORTS[transport], transport))
    elif uri.port is not None:
        transport = transport or _default_transport(uri, allowed)
        found += _addresses(resolution, target, uri.port, transport)
    elif transport is not None:
        found += _srv(resolution, f"{SRV_PREFIXES[transport]}.{target}", transport)
        if not found:
            found += _addresses(resolution, target, DEFAULT_PORTS[transport], transport)
    else:
        found += _from_naptr(resolution, target, allowed)
        if not found:
            for name in allowed:
                found += _srv(resolution, f"{SRV_PREFIXES[name]}.{target}", name)
        if not found:
            transport = _default_transport(uri, allowed)
            found += _addresses(resolution, target, DEFAULT_PORTS[transport], transport)

    if not found:
        raise resolution.fail(f"SIP proxy {uri}")
    return [
        Route(address, port, name, tls_name=name_for_tls)
        for address, port, name in dict.fromkeys(found)  # first occurrence wins
    ]


def _from_naptr(
    resolution: Resolution, target: str, allowed: tuple[str, ...]
) -> list[tuple[str, int, str]]:
    usable: list[tuple[NAPTR, str]] = []
    for record in resolution.records(target, "NAPTR"):
        if not isinstance(record, NAPTR) or record.flags.lower() != "s":
            continue
        transport = NAPTR_SERVICES.get(record.service.upper())
        if transport is not None and transport in allowed:
            usable.append((record, transport))
    usable.sort(key=lambda item: (item[0].order, item[0].preference))
    found: list[tuple[str, int, str]] = []
    for record, transport in usable:
        found += _srv(resolution, record.replacement.rstrip("."), transport)
    return found


def _srv(resolution: Resolution, name: str, transport: str) -> list[tuple[str, int, str]]:
    return [(address, port, transport) for address, port in resolution.srv(name)]


def _addresses(
    resolution: Resolution, target: str, port: int, transport: str
) -> list[tuple[str, int, str]]:
    return [(address, port, transport) for address in resolution.addresses(target)]
