"""The Session's side of offer/answer: descriptions built from its streams.

The RFC 3264 rules live in `sipsimple.core.sdp`; this module only decides
what goes into the session-level part of our descriptions (the local
address, the user agent as s=) and maps streams to m-line indexes.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable, Mapping
from typing import Any

from sipsimple.core.sdp import (
    FrozenSDPSession,
    SDPConnection,
    SDPSession,
    build_answer,
    build_offer,
    free_media_index,
    next_version,
)

__all__ = ["answer_for", "local_address_for", "local_session", "offer_for", "place_streams"]


def local_address_for(address: str) -> str:
    """The local IP address the kernel would use to reach `address` (nothing is sent)."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.connect((address, 9))
            return str(probe.getsockname()[0])
    except OSError:
        return "::1" if family == socket.AF_INET6 else "127.0.0.1"


def local_session(address: str, user_agent: str) -> SDPSession:
    """The session-level part of our descriptions: o= and c= on `address`, s= the user agent."""
    family = "IP6" if ":" in address else "IP4"
    return SDPSession(address, address_type=family, name=user_agent or "-",
                      connection=SDPConnection(address, address_type=family))


def place_streams(
    previous: FrozenSDPSession | None, placed: Mapping[Any, int], new: Iterable[Any]
) -> dict[Any, int]:
    """m-line indexes for `new` streams next to the already `placed` ones (RFC 3264 8.1)."""
    media = previous.media if previous is not None else ()
    indexes = dict(placed)
    taken = set(placed.values())
    for stream in new:
        # a port-0 m-line of the stream's type first (chat's is "message": any free one)
        index = free_media_index(media, stream.type, taken)
        indexes[stream] = index
        taken.add(index)
    return indexes


def offer_for(
    local: SDPSession, indexes: Mapping[Any, int], previous: FrozenSDPSession | None
) -> FrozenSDPSession:
    """An offer with each stream's m-line at its index; others of `previous` disabled."""
    media = {index: stream.get_local_media(for_offer=True) for stream, index in indexes.items()}
    return build_offer(local, media, previous)


def answer_for(
    offer: FrozenSDPSession, local: SDPSession, indexes: Mapping[Any, int],
    previous: FrozenSDPSession | None,
) -> FrozenSDPSession:
    """The answer to `offer` accepting the streams of `indexes`, with our o= line kept."""
    media = {index: stream.get_local_media(for_offer=False) for stream, index in indexes.items()}
    return next_version(previous, build_answer(offer, local, media))
