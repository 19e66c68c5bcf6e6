"""Checking the values of bus parameters (the schema checked their types).

Each function raises ValueError with a message naming the parameter; the
service turns it into an ``invalid-params`` error reply.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Any

from sipsimple.core import SIPURI, SIPParseError
from sipsimple.core.headers import Header
from sipsimple_services.signalling.glue.outgoing import RESERVED_HEADERS, headers_from_pairs
from sipsimple_services.signalling.sip.auth import Credentials
from sipsimple_services.signalling.sip.message.addresses import Destination

__all__ = [
    "MAX_TIMEOUT",
    "check_code",
    "check_timeout",
    "parse_credentials",
    "parse_headers",
    "parse_route",
    "parse_sip_uri",
]

MAX_TIMEOUT = 300.0
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?"
_HOSTNAME_RE = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.?")
_CONTENT_TYPE_RE = re.compile(r"[A-Za-z0-9!#$&^_.+\-]+/[A-Za-z0-9!#$&^_.+\-]+(\s*;.*)?")


def parse_sip_uri(text: str, what: str) -> SIPURI:
    try:
        return SIPURI.parse(text)
    except SIPParseError as exc:
        raise ValueError(f"{what}: not a sip:/sips: URI ({exc})") from None


def parse_route(route: Mapping[str, Any]) -> tuple[Destination, str | None]:
    """``{"host", "port", "transport", "tls_name"?}`` as a destination and TLS name."""
    unknown = sorted(set(route) - {"host", "port", "transport", "tls_name"})
    if unknown:
        raise ValueError(f"route: unknown key(s) {', '.join(map(str, unknown))}")
    host = route.get("host")
    port = route.get("port")
    transport = route.get("transport", "udp")
    tls_name = route.get("tls_name")
    if not isinstance(host, str) or not host:
        raise ValueError("route: host must be an IP address or a name")
    host = host.strip("[]")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if len(host) > 253 or not _HOSTNAME_RE.fullmatch(host):
            raise ValueError(f"route: host {host!r} is neither an IP address nor a name") from None
    if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
        raise ValueError(f"route: port must be in 1..65535, not {port!r}")
    if not isinstance(transport, str) or transport.lower() not in ("udp", "tcp", "tls"):
        raise ValueError(f"route: transport must be udp, tcp or tls, not {transport!r}")
    if tls_name is not None and (not isinstance(tls_name, str) or not tls_name):
        raise ValueError("route: tls_name must be a non-empty string")
    transport = transport.upper()
    name = tls_name if transport == "TLS" else None
    return Destination(host, port, transport, tls_name=name), tls_name


def parse_headers(pairs: list[Any] | None) -> list[Header]:
    if not pairs:
        return []
    try:
        headers = headers_from_pairs(pairs)
    except (SIPParseError, ValueError) as exc:
        raise ValueError(f"headers: {exc}") from None
    for header in headers:
        if header.name.lower() in RESERVED_HEADERS:
            raise ValueError(f"headers: {header.name} is set by the service")
    return headers


def parse_credentials(credentials: Mapping[str, Any] | None) -> Credentials | None:
    """``{"username", "password", "realm"?, "allow_md5"?, "allow_qopless"?}``.

    Without a realm the credentials answer the account's domain and its
    registrar's realms (see `RealmBook`).
    """
    if credentials is None:
        return None
    known = {"username", "password", "realm", "allow_md5", "allow_qopless"}
    unknown = sorted(set(credentials) - known)
    if unknown:
        raise ValueError(f"credentials: unknown key(s) {', '.join(map(str, unknown))}")
    username, password = credentials.get("username"), credentials.get("password")
    realm = credentials.get("realm")
    if not isinstance(username, str) or not username:
        raise ValueError("credentials: username must be a non-empty string")
    if not isinstance(password, str):
        raise ValueError("credentials: password must be a string")
    if realm is not None and not isinstance(realm, str):
        raise ValueError("credentials: realm must be a string")
    flags = {name: credentials.get(name, True) for name in ("allow_md5", "allow_qopless")}
    for name, value in flags.items():
        if not isinstance(value, bool):
            raise ValueError(f"credentials: {name} must be a boolean")
    return Credentials(username, password, realm, **flags)


def check_content_type(value: str) -> str:
    if not _CONTENT_TYPE_RE.fullmatch(value.strip()):
        raise ValueError(f"content_type {value!r} is not type/subtype")
    return value.strip()


def check_code(code: int) -> int:
    if not 100 <= code <= 699:
        raise ValueError(f"code must be in 100..699, not {code}")
    return code


def check_timeout(timeout: float | None, default: float) -> float:
    if timeout is None:
        return default
    if not 0 < timeout <= MAX_TIMEOUT:
        raise ValueError(f"response_timeout must be in (0, {MAX_TIMEOUT:g}] seconds")
    return float(timeout)
