"""Locating MSRP relays, STUN servers and XCAP roots for a domain.

- MSRP relay (RFC 4976): SRV ``_msrps._tcp``, else A/AAAA on 2855; for a relay
  over plain TCP (``transport="tcp"``, not in RFC 4976, whose relays all speak
  TLS) SRV ``_msrp._tcp`` the same way.
- STUN server (RFC 5389 section 9): SRV ``_stun._udp``, else A/AAAA on 3478.
- XCAP root: the http(s) URLs in the TXT records at ``xcap.<domain>``.

A URI with an IP address (and maybe a port) names the server directly.
"""

from __future__ import annotations

import random
from urllib.parse import urlsplit

from sipsimple.core import SIPURI, Route
from sipsimple_services.dns.records import TXT, Query
from sipsimple_services.dns.resolution import InvalidInput, Resolution

__all__ = ["resolve_msrp_relay", "resolve_stun_server", "resolve_xcap_server"]

MSRP_RELAY_PORT = 2855
STUN_PORT = 3478


def _check(uri: SIPURI) -> str:
    if not isinstance(uri, SIPURI):
        raise InvalidInput(f"expected a SIPURI, not {type(uri).__name__}")
    return uri.host.rstrip(".")


def _service(
    uri: SIPURI, query: Query, rng: random.Random | None, srv_prefix: str, default_port: int,
    transport: str, tls_name: str | None, what: str,
) -> list[Route]:
    target = _check(uri)
    if uri.is_address:
        return [Route(target, uri.port or default_port, transport, tls_name)]
    resolution = Resolution(query, rng)
    if uri.port is not None:
        found = [(a, uri.port) for a in resolution.addresses(target)]
    else:
        found = resolution.srv(f"{srv_prefix}.{target}")
        if not found:
            found = [(a, default_port) for a in resolution.addresses(target)]
    if not found:
        raise resolution.fail(f"{what} for {target}")
    return [Route(a, port, transport, tls_name) for a, port in dict.fromkeys(found)]


MSRP_RELAY_SERVICES = {"tls": "_msrps._tcp", "tcp": "_msrp._tcp"}


def resolve_msrp_relay(
    uri: SIPURI, query: Query, *, rng: random.Random | None = None, transport: str = "tls",
) -> list[Route]:
    """Routes to the domain's relay over `transport` (``tls``, ``tcp``); a TLS route
    carries the domain as the name the relay's certificate must match."""
    host = _check(uri)
    service = MSRP_RELAY_SERVICES.get(transport)
    if service is None:
        raise InvalidInput(f"MSRP relay transport {transport!r}: tls or tcp")
    tls_name = host if transport == "tls" else None
    return _service(
        uri, query, rng, service, MSRP_RELAY_PORT, transport, tls_name, "MSRP relay"
    )


def resolve_stun_server(
    uri: SIPURI, query: Query, *, rng: random.Random | None = None
) -> list[Route]:
    return _service(uri, query, rng, "_stun._udp", STUN_PORT, "udp", None, "STUN server")


def resolve_xcap_server(uri: SIPURI, query: Query) -> list[str]:
    target = _check(uri)
    if uri.is_address:
        raise InvalidInput(f"XCAP lookup needs a domain name, not the address {target}")
    resolution = Resolution(query)
    urls: list[str] = []
    for record in resolution.records(f"xcap.{target}", "TXT"):
        if not isinstance(record, TXT):
            continue
        text = record.text.strip()
        try:
            parts = urlsplit(text)
        except ValueError:
            continue
        if parts.scheme.lower() in ("http", "https") and parts.netloc and text not in urls:
            urls.append(text)
    if not urls:
        raise resolution.fail(f"XCAP root (TXT http(s) URL at xcap.{target})")
    return urls
