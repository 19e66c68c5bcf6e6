"""ICE's SDP attributes (RFC 8839): `a=candidate`, `a=ice-ufrag`, `a=ice-pwd`.

Pure functions over attribute values (the text after `a=name:`), shared by
the facade (which writes and reads the SDP) and the media service's ICE
agent (which gathers and checks the candidates). `parse_candidate` raises
`SDPParseError` for anything outside the grammar; RFC 8839 5.1 says a
candidate that cannot be read is ignored, not the whole description.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from enum import StrEnum

from sipsimple.core.sdp.errors import SDPParseError

__all__ = [
    "Candidate",
    "CandidateType",
    "is_ip_address",
    "parse_candidate",
    "valid_pwd",
    "valid_ufrag",
]

_ICE_CHARS = re.compile(r"[A-Za-z0-9+/]+")
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`{|}~A-Za-z0-9]+")
_DIGITS = re.compile(r"[0-9]+")
_HOSTNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9.\-]*")


class CandidateType(StrEnum):
    HOST = "host"
    SRFLX = "srflx"  # server reflexive: our address as a STUN server sees it
    PRFLX = "prflx"  # peer reflexive: learnt from a connectivity check
    RELAY = "relay"  # a TURN relayed address


@dataclass(frozen=True)
class Candidate:
    foundation: str
    component: int
    transport: str  # "udp"; kept lower case
    priority: int
    host: str  # an IP address, or an FQDN (mDNS) that an agent may ignore
    port: int
    type: CandidateType
    related_host: str | None = None
    related_port: int | None = None
    extensions: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if not (1 <= len(self.foundation) <= 32 and _ICE_CHARS.fullmatch(self.foundation)):
            raise SDPParseError(f"bad candidate foundation {self.foundation!r}")
        if not 1 <= self.component <= 256:
            raise SDPParseError(f"bad component id {self.component}")
        if not 1 <= self.priority <= 0xFFFFFFFF:
            raise SDPParseError(f"bad candidate priority {self.priority}")
        if not 0 <= self.port <= 0xFFFF:
            raise SDPParseError(f"bad candidate port {self.port}")
        if not _TOKEN.fullmatch(self.transport) or not _address_ok(self.host):
            raise SDPParseError(f"bad candidate transport or address: {self.transport} {self.host}")
        if (self.related_host is None) != (self.related_port is None):
            raise SDPParseError("raddr and rport go together")
        if self.related_port is not None and not 0 <= self.related_port <= 0xFFFF:
            raise SDPParseError(f"bad rport {self.related_port}")
        for name, value in self.extensions:
            if not (_TOKEN.fullmatch(name) and value and " " not in value):
                raise SDPParseError(f"bad candidate extension {name!r} {value!r}")

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    def to_sdp(self) -> str:
        """The value of the `a=candidate:` attribute (without `candidate:`)."""
        parts = [
            self.foundation,
            str(self.component),
            self.transport.upper(),
            str(self.priority),
            self.host,
            str(self.port),
            "typ",
            self.type.value,
        ]
        if self.related_host is not None:
            parts += ["raddr", self.related_host, "rport", str(self.related_port)]
        for name, value in self.extensions:
            parts += [name, value]
        return " ".join(parts)


def _address_ok(host: str) -> bool:
    return is_ip_address(host) or bool(_HOSTNAME.fullmatch(host))


def is_ip_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _number(text: str, what: str, digits: int) -> int:
    if not (_DIGITS.fullmatch(text) and len(text) <= digits):
        raise SDPParseError(f"bad candidate {what}: {text!r}")
    return int(text)


def parse_candidate(value: str) -> Candidate:
    """Read an `a=candidate` value; `a=` and `candidate:` in front are accepted too."""
    text = value.strip()
    text = text.removeprefix("a=")
    text = text.removeprefix("candidate:")
    fields = text.split(" ")
    if len(fields) < 8 or fields[6] != "typ":
        raise SDPParseError(f"not a candidate: {value!r}")
    foundation, component, transport, priority, host, port, _, kind = fields[:8]
    try:
        cand_type = CandidateType(kind)
    except ValueError:
        raise SDPParseError(f"unknown candidate type {kind!r}") from None
    rest = fields[8:]
    related_host = related_port = None
    if rest[:1] == ["raddr"]:
        if len(rest) < 2:
            raise SDPParseError("raddr without an address")
        related_host, rest = rest[1], rest[2:]
        if not _address_ok(related_host):
            raise SDPParseError(f"bad raddr {related_host!r}")
    if rest[:1] == ["rport"]:
        if len(rest) < 2:
            raise SDPParseError("rport without a port")
        related_port, rest = _number(rest[1], "rport", 5), rest[2:]
    if len(rest) % 2:
        raise SDPParseError(f"candidate extension without a value: {value!r}")
    extensions = tuple((rest[i], rest[i + 1]) for i in range(0, len(rest), 2))
    return Candidate(
        foundation=foundation,
        component=_number(component, "component", 3),
        transport=transport.lower(),
        priority=_number(priority, "priority", 10),
        host=host,
        port=_number(port, "port", 5),
        type=cand_type,
        related_host=related_host,
        related_port=related_port,
        extensions=extensions,
    )


def valid_ufrag(ufrag: str) -> bool:
    """RFC 8839 5.4: 4 to 256 ice-chars."""
    return 4 <= len(ufrag) <= 256 and bool(_ICE_CHARS.fullmatch(ufrag))


def valid_pwd(pwd: str) -> bool:
    """RFC 8839 5.4: 22 to 256 ice-chars."""
    return 22 <= len(pwd) <= 256 and bool(_ICE_CHARS.fullmatch(pwd))
