"""RFC 3339 date-times, as CPIM's DateTime and the XML formats' xs:dateTime use them."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

from sipsimple.payloads.errors import BuilderError

__all__ = ["format_datetime", "parse_datetime"]

_DATETIME_RE = re.compile(
    # [0-9], not \d: other scripts' digits are no RFC 3339 digits.
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?"
    r"(?:([Zz])|([+-])([0-9]{2}):([0-9]{2}))?"
)


def parse_datetime(text: str, *, naive_is_utc: bool = False) -> datetime | None:
    """An aware datetime for `text`, or None if it is not an RFC 3339 date-time.

    A leap second (:60) becomes :59. Without `naive_is_utc` an offset is required
    (RFC 3339); with it, a missing one (allowed by xs:dateTime) means UTC.
    """
    match = _DATETIME_RE.fullmatch(text.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
    fraction = match.group(7) or ""
    microsecond = int((fraction + "000000")[:6])
    if match.group(8):
        tz = UTC
    elif match.group(9):
        hours, minutes = int(match.group(10)), int(match.group(11))
        if hours > 23 or minutes > 59:
            return None
        offset = timedelta(hours=hours, minutes=minutes)
        tz = timezone(-offset if match.group(9) == "-" else offset)
    elif naive_is_utc:
        tz = UTC
    else:
        return None
    try:
        return datetime(year, month, day, hour, minute, min(second, 59), microsecond, tzinfo=tz)
    except ValueError:
        return None


def format_datetime(value: datetime) -> str:
    """RFC 3339 text for an aware datetime (``Z`` for UTC); BuilderError otherwise."""
    if not isinstance(value, datetime):
        raise BuilderError(f"expected a datetime, not {type(value).__name__}")
    offset = value.utcoffset()
    if offset is None:
        raise BuilderError("timestamps must be timezone-aware")
    if offset % timedelta(minutes=1):
        raise BuilderError(f"offset {offset} is not a whole number of minutes")
    text = value.replace(tzinfo=None).isoformat(
        timespec="microseconds" if value.microsecond else "seconds"
    )
    if not offset:
        return text + "Z"
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(offset) // timedelta(minutes=1)
    return f"{text}{sign}{minutes // 60:02d}:{minutes % 60:02d}"
