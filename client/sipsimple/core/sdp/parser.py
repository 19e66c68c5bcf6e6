"""Text to the frozen model (RFC 8866 section 5 and the grammar of section 9).

Strict where a mistake would change meaning, tolerant where nothing is lost:

- lines end in CRLF or LF; blank lines and spaces/tabs between fields of
  structured lines (o=, c=, m=, t=) are tolerated;
- `v=0` must come first and `o=` is required; a missing `s=` or `t=` gets
  the default (" ", "0 0"), since SIP uses neither;
- unknown attributes are kept; `k=` is discarded (RFC 8866 5.12); a type
  letter RFC 8866 does not define rejects the whole description, which is
  what section 5 asks of a parser that does not "completely ignore" it;
- session-only lines after the first `m=` and repeated single lines are
  errors; media may carry several `c=` and `b=` lines;
- `max_size` (bytes) and `max_media` (m= lines) bound the work.

Every failure is an `SDPParseError`, never another exception.
"""

from __future__ import annotations

import re
from typing import Any

from sipsimple.core.sdp.attributes import FrozenSDPAttribute
from sipsimple.core.sdp.errors import SDPParseError
from sipsimple.core.sdp.frozen import (
    FrozenSDPBandwidthInfo,
    FrozenSDPConnection,
    FrozenSDPMediaStream,
    FrozenSDPSession,
    FrozenSDPTiming,
)

__all__ = ["MAX_MEDIA", "MAX_SDP_SIZE", "parse_sdp"]

MAX_SDP_SIZE = 64 * 1024
MAX_MEDIA = 64
_MAX_DIGITS = 40
_FIELD_SEP = re.compile(r"[ \t]+")
_SESSION_ONCE = frozenset("ouisczv")
_MEDIA_ONCE = frozenset("i")
_KNOWN = frozenset("vosiuepcbtrzkam")
_MEDIA_LEVEL = frozenset("icbka")


def parse_sdp(
    data: bytes | bytearray | memoryview | str,
    *,
    max_size: int = MAX_SDP_SIZE,
    max_media: int = MAX_MEDIA,
) -> FrozenSDPSession:
    text = _decode(data, max_size)
    try:
        return _parse(text, max_media)
    except SDPParseError:
        raise
    except ValueError as exc:  # a model check: the text held an invalid value
        raise SDPParseError(str(exc)) from exc


def _decode(data: bytes | bytearray | memoryview | str, max_size: int) -> str:
    if isinstance(data, str):
        try:
            size = len(data.encode("utf-8"))
        except UnicodeEncodeError as exc:  # lone surrogates
            raise SDPParseError("SDP text is not encodable as UTF-8") from exc
        text = data
    elif isinstance(data, bytes | bytearray | memoryview):
        raw = bytes(data)
        size = len(raw)
        if size <= max_size:
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise SDPParseError("SDP is not valid UTF-8") from exc
    else:
        raise TypeError(f"SDP must be bytes or str, not {type(data).__name__}")
    if size > max_size:
        raise SDPParseError(f"SDP larger than {max_size} bytes")
    return text


def _fields(value: str, what: str, count: int | None = None, minimum: int = 0) -> list[str]:
    fields = _FIELD_SEP.split(value.strip(" \t")) if value.strip(" \t") else []
    if (count is not None and len(fields) != count) or len(fields) < minimum:
        raise SDPParseError(f"malformed {what} line: {value!r}")
    return fields


def _number(text: str, what: str) -> int:
    if not (text.isascii() and text.isdigit()) or len(text) > _MAX_DIGITS:
        raise SDPParseError(f"invalid {what}: {text!r}")
    return int(text)


def _connection(value: str) -> FrozenSDPConnection:
    net_type, address_type, address = _fields(value, "c=", 3)
    return FrozenSDPConnection(address, net_type, address_type)


def _bandwidth(value: str) -> FrozenSDPBandwidthInfo:
    modifier, sep, amount = value.partition(":")
    if not sep:
        raise SDPParseError(f"malformed b= line: {value!r}")
    return FrozenSDPBandwidthInfo(modifier, _number(amount.strip(" \t"), "bandwidth"))


def _attribute(value: str) -> FrozenSDPAttribute:
    name, _, content = value.partition(":")
    return FrozenSDPAttribute(name, content)


def _media_header(value: str) -> dict[str, Any]:
    media, port_text, transport, *formats = _fields(value, "m=", minimum=3)
    port, slash, count = port_text.partition("/")
    return {
        "media": media,
        "port": _number(port, "port"),
        "port_count": _number(count, "port count") if slash else 1,
        "transport": transport,
        "formats": formats,
        "info": None,
        "connection": None,
        "extra_connections": [],
        "attributes": [],
        "bandwidth_info": [],
    }


def _lines(text: str) -> list[tuple[str, str]]:
    lines: list[tuple[str, str]] = []
    for raw in text.split("\n"):
        line = raw[:-1] if raw.endswith("\r") else raw
        if not line:
            continue
        if len(line) < 2 or line[1] != "=" or line[0] not in _KNOWN:
            raise SDPParseError(f"not an SDP line: {line[:40]!r}")
        lines.append((line[0], line[2:]))
    return lines


def _parse(text: str, max_media: int) -> FrozenSDPSession:
    lines = _lines(text)
    if not lines or lines[0] != ("v", "0"):
        raise SDPParseError("SDP must start with v=0")
    session: dict[str, Any] = {
        "emails": [], "phones": [], "bandwidth_info": [], "times": [], "attributes": [],
        "media": [],
    }
    repeats: list[list[str]] = []
    seen: set[str] = set()
    media: dict[str, Any] | None = None
    for kind, value in lines[1:]:
        if kind == "m":
            if len(session["media"]) >= max_media:
                raise SDPParseError(f"more than {max_media} media descriptions")
            media = _media_header(value)
            session["media"].append(media)
            seen = set()
            continue
        if kind == "k":
            continue  # obsolete; RFC 8866 5.12 says discard it
        if media is not None and kind not in _MEDIA_LEVEL:
            raise SDPParseError(f"{kind}= line inside a media description")
        once = _MEDIA_ONCE if media is not None else _SESSION_ONCE
        if kind in once:
            if kind in seen:
                raise SDPParseError(f"more than one {kind}= line")
            seen.add(kind)
        target = media if media is not None else session
        _apply(kind, value, target, media is not None, repeats)
    if "o" not in session:
        raise SDPParseError("SDP without an o= line")
    session["times"] = [
        FrozenSDPTiming(start, stop, tuple(r))
        for (start, stop), r in zip(session["times"], repeats, strict=True)
    ] or [FrozenSDPTiming()]
    session["media"] = [FrozenSDPMediaStream(**m) for m in session["media"]]
    user, sess_id, version, net_type, address_type, address = session.pop("o")
    return FrozenSDPSession(
        address, _number(sess_id, "session id"), _number(version, "session version"),
        user, net_type, address_type, **session,
    )


def _apply(
    kind: str, value: str, target: dict[str, Any], in_media: bool, repeats: list[list[str]]
) -> None:
    if kind == "a":
        target["attributes"].append(_attribute(value))
    elif kind == "c":
        connection = _connection(value)
        if in_media and target["connection"] is not None:
            target["extra_connections"].append(connection)
        else:  # a second session-level c= was refused as a repeated line
            target["connection"] = connection
    elif kind == "b":
        target["bandwidth_info"].append(_bandwidth(value))
    elif kind == "i":
        target["info"] = value
    elif kind == "o":
        target["o"] = _fields(value, "o=", 6)
    elif kind == "s":
        target["name"] = value
    elif kind == "u":
        target["uri"] = value
    elif kind == "e":
        target["emails"].append(value)
    elif kind == "p":
        target["phones"].append(value)
    elif kind == "t":
        start, stop = _fields(value, "t=", 2)
        target["times"].append((_number(start, "start time"), _number(stop, "stop time")))
        repeats.append([])
    elif kind == "r":
        if not repeats:
            raise SDPParseError("r= line before any t= line")
        repeats[-1].append(value)
    elif kind == "z":
        target["zone_adjustments"] = value
    else:  # v= again
        raise SDPParseError(f"unexpected {kind}= line")
