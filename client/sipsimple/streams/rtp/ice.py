"""ICE for AudioStream: its SDP (RFC 8839), its servers, and what its notifications carry.

- `LocalICE`: what the media service gathered (`media.ice_gathered`):
  credentials, `a=candidate` values and the default candidate that goes
  into `c=`/`m=` and `a=rtcp`; `ice_attributes` writes them (with
  `a=ice-options:ice2` and, in later offers of the controlling agent,
  `a=remote-candidates`).
- `RemoteICE`: the peer's, read from an m-line (`a=ice-ufrag`/`a=ice-pwd` at
  media or session level, `a=candidate`, `a=ice-lite`); `mismatch` when
  the `c=`/`m=` address is none of its candidates (a middlebox rewrote the
  SDP, RFC 8839 4.4.1.1.1): then ICE is not used.
- `ice_servers(account)`: the STUN servers (`nat_traversal.stun_server_list`,
  else `DNSLookup.lookup_stun_server` for the account's domain), the TURN
  server with its credentials, and whether the relay is forced; names are
  resolved through the DNS service (the media service takes addresses).
- `ICECandidate`, `ICECheck`: the objects of the original SDK's
  `AudioStreamICENegotiationDidSucceed` data.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sipsimple.core.sdp import SDPAttribute
from sipsimple.core.sdp.errors import SDPParseError
from sipsimple.core.sdp.ice import is_ip_address, parse_candidate, valid_pwd, valid_ufrag

__all__ = [
    "ICECandidate",
    "ICECheck",
    "LocalICE",
    "RemoteICE",
    "ice_attributes",
    "ice_enabled",
    "ice_servers",
    "remote_ice",
]

log = logging.getLogger(__name__)

STUN_PORT = 3478
DNS_LIFETIME = 3.0  # a STUN lookup delays the call's start: at most this long
ICE_OPTIONS = "ice2"  # RFC 8445 agent (RFC 8839 5.6)


@dataclass(frozen=True)
class ICECandidate:
    component: str  # "RTP" or "RTCP"
    type: str  # HOST, SRFLX, PRFLX or RELAY
    address: str
    port: int
    priority: int
    rel_addr: str  # the base of a reflexive or relayed candidate, "" for a host one

    @classmethod
    def from_data(cls, data: Any) -> ICECandidate:
        return cls(
            str(data["component"]), str(data["type"]), str(data["address"]),
            int(data["port"]), int(data["priority"]), str(data.get("rel_addr") or ""),
        )

    def __str__(self) -> str:
        return f"({self.component}) {self.address}:{self.port} ({self.type.lower()})"


@dataclass(frozen=True)
class ICECheck:
    local_candidate: ICECandidate
    remote_candidate: ICECandidate
    state: str  # SUCCEEDED, FAILED, ...
    nominated: bool

    @classmethod
    def from_data(cls, data: Any) -> ICECheck:
        return cls(
            ICECandidate.from_data(data["local_candidate"]),
            ICECandidate.from_data(data["remote_candidate"]),
            str(data["state"]), bool(data["nominated"]),
        )

    def __str__(self) -> str:
        nominated = "nominated" if self.nominated else "not nominated"
        return f"{self.local_candidate} -> {self.remote_candidate} ({self.state}, {nominated})"


@dataclass(frozen=True)
class LocalICE:
    ufrag: str
    pwd: str
    candidates: tuple[str, ...]
    address: str
    port: int
    rtcp_address: str
    rtcp_port: int
    type: str  # of the default candidate: host, srflx or relay

    @classmethod
    def from_data(cls, data: Any) -> LocalICE:
        default = data["default"]
        return cls(
            str(data["ufrag"]), str(data["pwd"]), tuple(str(c) for c in data["candidates"]),
            str(default["address"]), int(default["port"]), str(default["rtcp_address"]),
            int(default["rtcp_port"]), str(default["type"]),
        )


@dataclass(frozen=True)
class RemoteICE:
    ufrag: str
    pwd: str
    candidates: tuple[str, ...]
    lite: bool
    mismatch: bool

    def same_credentials(self, other: RemoteICE | None) -> bool:
        return other is not None and (self.ufrag, self.pwd) == (other.ufrag, other.pwd)


def remote_ice(sdp: Any, index: int) -> RemoteICE | None:
    """The peer's ICE for m-line `index`, None when it does not do ICE there."""
    media = sdp.media[index]
    ufrag = media.attributes.getfirst("ice-ufrag") or sdp.attributes.getfirst("ice-ufrag")
    pwd = media.attributes.getfirst("ice-pwd") or sdp.attributes.getfirst("ice-pwd")
    if not ufrag or not pwd:
        return None
    ufrag, pwd = ufrag.strip(), pwd.strip()
    if not (valid_ufrag(ufrag) and valid_pwd(pwd)):
        log.info("m-line %d: ICE credentials outside RFC 8839's grammar: ICE not used", index)
        return None
    candidates = []
    for value in media.attributes.getall("candidate"):
        try:
            candidates.append(parse_candidate(value))
        except SDPParseError as exc:  # RFC 8839 5.1: ignored, not the whole description
            log.info("m-line %d: candidate ignored: %s", index, exc)
    connection = sdp.media_connection(index)
    default = (connection.address if connection is not None else None, media.port)
    mismatch = not any(
        c.component == 1 and (c.host, c.port) == default for c in candidates
    )
    return RemoteICE(
        ufrag, pwd, tuple(c.to_sdp() for c in candidates),
        "ice-lite" in sdp.attributes, mismatch,
    )


def ice_attributes(
    local: LocalICE, remote_candidates: str | None = None
) -> list[SDPAttribute]:
    """Our m-line's ICE attributes; `remote_candidates` (RFC 8839 5.2) in a later offer
    of the controlling agent once pairs were selected."""
    attributes = [
        SDPAttribute("ice-ufrag", local.ufrag),
        SDPAttribute("ice-pwd", local.pwd),
        SDPAttribute("ice-options", ICE_OPTIONS),
    ]
    attributes += [SDPAttribute("candidate", value) for value in local.candidates]
    if remote_candidates:
        attributes.append(SDPAttribute("remote-candidates", remote_candidates))
    return attributes


def ice_enabled(account: Any) -> bool:
    nat = getattr(account, "nat_traversal", None)
    return bool(getattr(nat, "use_ice", False))


def _resolve(host: str, port: int | None, lookup: Any) -> list[list[Any]]:
    """[ip, port] for a configured server; a name is looked up (SRV _stun._udp, else A)."""
    if is_ip_address(host):
        return [[host, port or STUN_PORT]]
    from sipsimple.core import SIPURI

    routes = lookup.lookup_stun_server(SIPURI(host=host), lifetime=DNS_LIFETIME).wait(
        DNS_LIFETIME + 5
    )
    return [[route.address, port or route.port] for route in routes]


def ice_servers(account: Any) -> tuple[list[list[Any]], dict[str, Any] | None, bool]:
    """(stun_servers, turn_server, relay_only) for the media service's `ice_gather`.

    Blocks for DNS when names are configured or no STUN server is: call it off
    the bus thread. A server that cannot be found is left out (logged).
    """
    from sipsimple.lookup import DNSLookup, DNSLookupError

    nat = account.nat_traversal
    user, _, domain = str(getattr(account, "id", "")).rpartition("@")
    lookup = DNSLookup()
    stun: list[list[Any]] = []
    configured = nat.stun_server_list
    try:
        if configured is not None:  # an empty list: no STUN server (and no DNS lookup)
            for server in configured:
                stun += _resolve(server.host, server.port, lookup)
        else:
            if domain and not is_ip_address(domain):
                from sipsimple.core import SIPURI

                routes = lookup.lookup_stun_server(
                    SIPURI(host=domain), lifetime=DNS_LIFETIME
                ).wait(DNS_LIFETIME + 5)
                stun = [[route.address, route.port] for route in routes]
    except DNSLookupError as exc:
        log.info("%s: no STUN server: %s", account.id, exc)
    turn = None
    server = getattr(nat, "turn_server", None)
    if server is not None:
        try:
            resolved = _resolve(server.host, server.port, lookup)
        except DNSLookupError as exc:
            log.warning("%s: TURN server %s not found: %s", account.id, server.host, exc)
            resolved = []
        if resolved:
            host, port = resolved[0]
            turn = {
                "host": host, "port": port,
                "username": str(nat.turn_username or user),
                "password": str(nat.turn_password or ""),
            }
    relay_only = bool(getattr(nat, "ice_relay_only", False)) and turn is not None
    return stun, turn, relay_only
