"""sipsimple.payloads.timestamps: RFC 3339 date-times for CPIM and the XML payloads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipsimple.payloads import BuilderError
from sipsimple.payloads.timestamps import format_datetime, parse_datetime


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "2000-12-13T13:40:00-08:00",
            datetime(2000, 12, 13, 13, 40, tzinfo=timezone(timedelta(hours=-8))),
        ),
        ("2003-01-27T10:43:00Z", datetime(2003, 1, 27, 10, 43, tzinfo=UTC)),
        ("2003-01-27t10:43:00z", datetime(2003, 1, 27, 10, 43, tzinfo=UTC)),
        (
            "2003-01-27T10:43:00.5+05:30",
            datetime(
                2003, 1, 27, 10, 43, 0, 500000, tzinfo=timezone(timedelta(hours=5, minutes=30))
            ),
        ),
        ("2003-01-27T10:43:00.1234567890Z", datetime(2003, 1, 27, 10, 43, 0, 123456, tzinfo=UTC)),
        ("1998-12-31T23:59:60Z", datetime(1998, 12, 31, 23, 59, 59, tzinfo=UTC)),  # leap second
        (" 2003-01-27T10:43:00Z ", datetime(2003, 1, 27, 10, 43, tzinfo=UTC)),
    ],
)
def test_parse(text: str, expected: datetime) -> None:
    value = parse_datetime(text)
    assert value == expected
    assert value is not None and value.utcoffset() == expected.utcoffset()


@pytest.mark.parametrize(
    "text",
    [
        "",
        "2003-01-27",
        "2003-01-27 10:43:00Z",
        "2003-01-27T10:43Z",
        "2003-01-27T10:43:00",  # no offset
        "2003-02-30T10:43:00Z",
        "2003-01-27T24:43:00Z",
        "2003-01-27T10:43:00+24:00",
        "2003-01-27T10:43:00+05:60",
        "2003-01-27T10:43:00.Z",
        "٢٠٠٣-01-27T10:43:00Z",
        "0000-01-27T10:43:00Z",
    ],
)
def test_parse_refuses(text: str) -> None:
    assert parse_datetime(text) is None


def test_naive_is_utc_only_when_asked() -> None:
    assert parse_datetime("2003-01-27T10:43:00") is None
    assert parse_datetime("2003-01-27T10:43:00", naive_is_utc=True) == datetime(
        2003, 1, 27, 10, 43, tzinfo=UTC
    )


def test_format() -> None:
    assert format_datetime(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2026-01-02T03:04:05Z"
    assert (
        format_datetime(
            datetime(2026, 1, 2, 3, 4, 5, 60, tzinfo=timezone(timedelta(hours=-3, minutes=-30)))
        )
        == "2026-01-02T03:04:05.000060-03:30"
    )
    for bad in [
        datetime(2026, 1, 1),
        datetime(2026, 1, 1, tzinfo=timezone(timedelta(seconds=30))),
        "2026-01-01",
    ]:
        with pytest.raises(BuilderError):
            format_datetime(bad)  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)),
    st.integers(-1439, 1439),
)
def test_round_trip(moment: datetime, minutes: int) -> None:
    value = moment.replace(tzinfo=timezone(timedelta(minutes=minutes)))
    parsed = parse_datetime(format_datetime(value))
    assert parsed == value
    assert parsed is not None and parsed.utcoffset() == value.utcoffset()
