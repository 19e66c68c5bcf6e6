"""The SDP of an MSRP m-line (RFC 4975 section 8, RFC 6135), with no I/O.

``m=message <port> TCP/MSRP *`` (``TCP/TLS/MSRP`` for msrps) with ``a=path``, ``a=accept-types``,
``a=accept-wrapped-types``, ``a=setup`` and a direction. `read_media` reads
the peer's m-line into `MSRPMedia` (`SDPNegotiationError`, 488, for what a
peer can get wrong); `build_media` writes ours; `answer_setup` and
`is_active` settle who connects.

Who connects (RFC 6135; RFC 4975 section 5.4 without ``a=setup``): our
offers say ``active`` (the offerer connects, RFC 4975's default, and every
peer understands it). Answering, we take ``active`` when the offer leaves us
the choice or asks us to (``actpass``, ``passive``), as the original SDK did,
and ``passive`` otherwise (``active``, or no ``a=setup``: the offerer
connects).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sipsimple.core.sdp import SDPAttribute, SDPConnection, SDPMediaStream, SDPNegotiationError

__all__ = [
    "MSRP_TRANSPORTS",
    "MSRPMedia",
    "answer_setup",
    "build_media",
    "contains_mime_type",
    "is_active",
    "read_media",
]

MSRP_TRANSPORTS = ("TCP/MSRP", "TCP/TLS/MSRP")
SETUP_VALUES = ("active", "passive", "actpass", "holdconn")


@dataclass(frozen=True)
class MSRPMedia:
    """What a peer's MSRP m-line says."""

    media_type: str
    port: int
    tls: bool
    path: tuple[str, ...]
    accept_types: tuple[str, ...]
    accept_wrapped_types: tuple[str, ...]
    setup: str | None  # None: no a=setup (RFC 4975 rules)
    direction: str
    chatroom: tuple[str, ...] = ()  # RFC 7701 a=chatroom (a focus's capabilities), lower case


def read_media(media: Any, direction: str = "sendrecv") -> MSRPMedia:
    """The peer's m-line (an SDP media stream); `direction` its effective direction."""
    transport = str(media.transport).upper()
    if transport not in MSRP_TRANSPORTS:
        raise SDPNegotiationError(f"{transport!r} is not an MSRP transport")
    attributes = media.attributes
    path = tuple(" ".join(attributes.getall("path")).split())
    if not path:
        raise SDPNegotiationError("the MSRP m-line has no a=path")
    for uri in path:
        if not uri.lower().startswith(("msrp://", "msrps://")):
            raise SDPNegotiationError(f"a=path holds {uri!r}, not an MSRP URI")
    accept = tuple(" ".join(attributes.getall("accept-types")).split())
    if not accept:
        raise SDPNegotiationError("the MSRP m-line has no a=accept-types")  # RFC 4975 8.6
    wrapped = tuple(" ".join(attributes.getall("accept-wrapped-types")).split())
    setup = attributes.getfirst("setup")
    if setup is not None:
        setup = setup.strip().lower()
        if setup not in SETUP_VALUES:
            raise SDPNegotiationError(f"invalid a=setup:{setup}")
    chatroom = tuple(" ".join(attributes.getall("chatroom")).lower().split())
    return MSRPMedia(str(media.media), int(media.port),
                     transport == "TCP/TLS/MSRP", path, accept, wrapped, setup, direction,
                     chatroom)


def answer_setup(offered: str | None) -> str:
    """Our a=setup in the answer to an offer that said `offered`."""
    return "active" if offered in ("actpass", "passive") else "passive"


def is_active(local_setup: str | None, remote_setup: str | None, offerer: bool) -> bool:
    """Whether we connect, from both sides' a=setup (RFC 6135) and who offered."""
    if local_setup in ("active", "passive"):
        return local_setup == "active"
    if remote_setup in ("active", "passive"):
        return remote_setup == "passive"
    return offerer


def build_media(
    media_type: str, address: str, port: int, path: Iterable[str],
    accept_types: Iterable[str], accept_wrapped_types: Iterable[str] = (),
    setup: str = "active", direction: str = "sendrecv", tls: bool = False,
) -> SDPMediaStream:
    """Our m-line: ``TCP/TLS/MSRP`` when `tls` (the path is msrps), else ``TCP/MSRP``."""
    attributes = [SDPAttribute("path", " ".join(path)),
                  SDPAttribute("accept-types", " ".join(accept_types))]
    wrapped = " ".join(accept_wrapped_types)
    if wrapped:
        attributes.append(SDPAttribute("accept-wrapped-types", wrapped))
    attributes += [SDPAttribute("setup", setup), SDPAttribute(direction, "")]
    family = "IP6" if ":" in address else "IP4"
    transport = "TCP/TLS/MSRP" if tls else "TCP/MSRP"
    return SDPMediaStream(media_type, port, transport, formats=["*"],
                          connection=SDPConnection(address, address_type=family),
                          attributes=attributes)


def contains_mime_type(types: Iterable[str], mime_type: str) -> bool:
    """Whether `mime_type` is among `types`, which may hold ``*`` and ``type/*``."""
    bare = mime_type.split(";", 1)[0].strip().lower()
    return any(fnmatch.fnmatchcase(bare, pattern.lower()) for pattern in types)
