"""sipsimple.payloads.iscomposing: application/im-iscomposing+xml (RFC 3994)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipsimple.payloads import BuilderError, ParserError
from sipsimple.payloads.iscomposing import (
    CONTENT_TYPE,
    IsComposingDocument,
    IsComposingMessage,
    IsComposingParseError,
)
from tests.harness.fuzz import mutations

# RFC 3994 section 7 examples.
RFC_ACTIVE = b"""<?xml version="1.0" encoding="UTF-8"?>
<isComposing xmlns="urn:ietf:params:xml:ns:im-iscomposing"
  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
  xsi:schemaLocation="urn:ietf:params:xml:ns:im-composing iscomposing.xsd">
  <state>active</state>
  <contenttype>text/plain</contenttype>
  <refresh>90</refresh>
</isComposing>
"""
RFC_IDLE = b"""<?xml version="1.0" encoding="UTF-8"?>
<isComposing xmlns="urn:ietf:params:xml:ns:im-iscomposing"
  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
  xsi:schemaLocation="urn:ietf:params:xml:ns:im-composing iscomposing.xsd">
  <state>idle</state>
  <lastactive>2003-01-27T10:43:00Z</lastactive>
  <contenttype>audio</contenttype>
</isComposing>
"""


def test_rfc3994_examples() -> None:
    active = IsComposingMessage.parse(RFC_ACTIVE)
    assert active == IsComposingMessage("active", None, "text/plain", 90)
    assert active.is_active
    idle = IsComposingMessage.parse(RFC_IDLE)
    assert idle == IsComposingMessage(
        "idle", datetime(2003, 1, 27, 10, 43, tzinfo=UTC), "audio", None
    )
    assert not idle.is_active
    assert CONTENT_TYPE == "application/im-iscomposing+xml"
    assert IsComposingDocument is IsComposingMessage


def test_encoding() -> None:
    data = IsComposingMessage(
        "active", datetime(2026, 5, 1, 8, 0, tzinfo=timezone(timedelta(hours=2))), "text/html", 60
    ).encode()
    assert data == (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b'<isComposing xmlns="urn:ietf:params:xml:ns:im-iscomposing"><state>active</state>'
        b"<lastactive>2026-05-01T08:00:00+02:00</lastactive>"
        b"<contenttype>text/html</contenttype><refresh>60</refresh></isComposing>"
    )


def test_lenient_reading() -> None:
    message = IsComposingMessage.parse(
        b'<isComposing xmlns="urn:ietf:params:xml:ns:im-iscomposing">'
        b"<state> gone </state><lastactive>2003-01-27T10:43:00</lastactive>"
        b"<contenttype>  </contenttype><x:ext xmlns:x='urn:x'/></isComposing>"
    )
    # Unknown states are kept (and count as idle), a naive time is UTC.
    assert message == IsComposingMessage(
        "gone", datetime(2003, 1, 27, 10, 43, tzinfo=UTC), None, None
    )
    assert not message.is_active


@pytest.mark.parametrize(
    "body",
    [
        b"<isComposing xmlns='urn:ietf:params:xml:ns:im-iscomposing'/>",
        b"<isComposing xmlns='urn:ietf:params:xml:ns:im-iscomposing'>"
        b"<state> </state></isComposing>",
        b"<isComposing><state>active</state></isComposing>",  # no namespace
        b"<other xmlns='urn:ietf:params:xml:ns:im-iscomposing'><state>active</state></other>",
        b"<isComposing xmlns='urn:ietf:params:xml:ns:im-iscomposing'><state>active</state>"
        b"<refresh>0</refresh></isComposing>",
        b"<isComposing xmlns='urn:ietf:params:xml:ns:im-iscomposing'><state>active</state>"
        b"<refresh>-5</refresh></isComposing>",
        b"<isComposing xmlns='urn:ietf:params:xml:ns:im-iscomposing'><state>active</state>"
        b"<refresh>\xd9\xa3</refresh></isComposing>",  # a non-ASCII digit
        b"<isComposing xmlns='urn:ietf:params:xml:ns:im-iscomposing'><state>active</state>"
        b"<refresh>99999999999999999999</refresh></isComposing>",
        b"<isComposing xmlns='urn:ietf:params:xml:ns:im-iscomposing'><state>idle</state>"
        b"<lastactive>yesterday</lastactive></isComposing>",
        b"not xml",
    ],
)
def test_invalid_documents(body: bytes) -> None:
    with pytest.raises(IsComposingParseError):
        IsComposingMessage.parse(body)


@pytest.mark.parametrize(
    "fields",
    [
        {"state": ""},
        {"state": " active"},
        {"state": 5},
        {"state": "active", "refresh": 0},
        {"state": "active", "refresh": True},
        {"state": "active", "refresh": 1.5},
        {"state": "active", "content_type": ""},
        {"state": "active", "content_type": "a\x00"},
        {"state": "idle", "last_active": datetime(2026, 1, 1)},
    ],
)
def test_builder_refuses_invalid_values(fields: dict[str, Any]) -> None:
    with pytest.raises(BuilderError):
        IsComposingMessage(**fields).encode()


tokens = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp")), min_size=1)
messages = st.builds(
    IsComposingMessage,
    st.sampled_from(["active", "idle"]) | tokens,
    st.none()
    | st.builds(
        lambda moment, minutes: moment.replace(tzinfo=timezone(timedelta(minutes=minutes))),
        st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(9998, 12, 31)),
        st.integers(-1439, 1439),
    ),
    st.none() | tokens,
    st.none() | st.integers(1, 999_999_999),
)


@settings(max_examples=300, deadline=None)
@given(messages)
def test_build_then_parse_round_trip(message: IsComposingMessage) -> None:
    assert IsComposingMessage.parse(message.encode()) == message


SPECIAL = [
    b"<",
    b">",
    b"/",
    b"&",
    b"&amp;",
    b"<!DOCTYPE x>",
    b"\x00",
    b"\xff",
    b"9" * 30,
    b"<state>",
    b"</refresh>",
    b"'",
    b'"',
    b"xmlns='urn:x'",
]


def test_seeded_fuzz_of_mutated_documents() -> None:
    parsed = 0
    for data in mutations(0x3994, [RFC_ACTIVE, RFC_IDLE], 3000, SPECIAL):
        try:
            message = IsComposingMessage.parse(data)
        except IsComposingParseError:
            continue
        parsed += 1
        try:
            again = message.encode()
        except BuilderError:
            continue  # e.g. a state with surrounding space we read leniently
        assert IsComposingMessage.parse(again) == message
    assert parsed > 50


def test_errors_are_parser_errors() -> None:
    assert issubclass(IsComposingParseError, ParserError)
