"""Frozen model to text, in the line order of RFC 8866 section 5, CRLF ends."""

from __future__ import annotations

from sipsimple.core.sdp.attributes import render_attribute
from sipsimple.core.sdp.frozen import FrozenSDPMediaStream, FrozenSDPSession

__all__ = ["media_lines", "serialize"]


def media_lines(media: FrozenSDPMediaStream) -> list[str]:
    port = f"{media.port}/{media.port_count}" if media.port_count != 1 else str(media.port)
    lines = [" ".join(["m=" + media.media, port, media.transport, *media.formats])]
    if media.info is not None:
        lines.append("i=" + media.info)
    if media.connection is not None:
        lines.append(f"c={media.connection}")
    lines.extend(f"c={c}" for c in media.extra_connections)
    lines.extend(f"b={b}" for b in media.bandwidth_info)
    lines.extend("a=" + render_attribute(a) for a in media.attributes)
    return lines


def serialize(session: FrozenSDPSession) -> str:
    lines = [
        "v=0",
        f"o={session.user} {session.id} {session.version} {session.net_type} "
        f"{session.address_type} {session.address}",
        "s=" + session.name,
    ]
    if session.info is not None:
        lines.append("i=" + session.info)
    if session.uri is not None:
        lines.append("u=" + session.uri)
    lines.extend("e=" + e for e in session.emails)
    lines.extend("p=" + p for p in session.phones)
    if session.connection is not None:
        lines.append(f"c={session.connection}")
    lines.extend(f"b={b}" for b in session.bandwidth_info)
    for timing in session.times:
        lines.append(f"t={timing.start} {timing.stop}")
        lines.extend("r=" + r for r in timing.repeats)
    if session.zone_adjustments is not None:
        lines.append("z=" + session.zone_adjustments)
    lines.extend("a=" + render_attribute(a) for a in session.attributes)
    for media in session.media:
        lines.extend(media_lines(media))
    return "".join(line + "\r\n" for line in lines)
