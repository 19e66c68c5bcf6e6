"""Session-level versus media-level c= (RFC 8866 5.7).

A media-level c= overrides the session-level one; a session needs either a
session-level c= or one in every media description. The helpers keep
composed descriptions short (one session-level c= when all media agree) and
find active m-lines that nobody could send to.
"""

from __future__ import annotations

from typing import Any

from sipsimple.core.sdp.mutable import SDPSession

__all__ = ["compact_connections", "media_without_connection"]


def _key(connection: Any) -> tuple[str, str, str]:
    return (connection.net_type, connection.address_type, connection.address)


def compact_connections(session: SDPSession) -> None:
    """In place: hoist a c= shared by every m-line and drop media c= equal to the session's.

    Media with extra c= lines (layered multicast) are left alone.
    """
    simple = [m for m in session.media if not m.extra_connections]
    if session.connection is None:
        keys = {_key(m.connection) for m in simple if m.connection is not None}
        every = all(m.connection is not None for m in session.media)
        if len(keys) == 1 and every and simple:
            session.connection = simple[0].connection
    if session.connection is None:
        return
    key = _key(session.connection)
    for media in simple:
        if media.connection is not None and _key(media.connection) == key:
            media.connection = None


def media_without_connection(session: Any) -> list[int]:
    """Indexes of m-lines in use (port != 0) that have no applicable c=."""
    return [
        index
        for index, media in enumerate(session.media)
        if media.port != 0 and session.media_connection(index) is None
    ]
