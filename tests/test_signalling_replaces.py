"""Replaces (RFC 3891) from a dialog id, embedded in and read from a Refer-To URI."""

from __future__ import annotations

import pytest

from sipsimple.core import SIPURI, SIPParseError
from sipsimple.core import headers as h
from sipsimple_services.signalling.sip.dialogs.dialog import DialogId
from sipsimple_services.signalling.sip.dialogs.replaces import (
    invite_from_refer_to,
    refer_to_with_replaces,
    replaces_for,
    replaces_in,
)

TARGET = SIPURI("example.com", user="carol")


def test_tags_are_written_from_the_targets_side() -> None:
    replaces = replaces_for(DialogId("call@host", "mine", "yours"), early_only=True)
    assert str(replaces) == "call@host;to-tag=yours;from-tag=mine;early-only"


def test_embedded_escaped_and_read_back_after_the_wire() -> None:
    replaces = replaces_for(DialogId("98732@sip.example.com", "r33th4x0r", "ff87ff"))
    refer_to = refer_to_with_replaces(TARGET, replaces)
    text = str(refer_to)
    # RFC 3891 section 6.1 example escaping: @ ; = are escaped in the URI header
    assert text == ("<sip:carol@example.com?Replaces=98732%40sip.example.com"
                    "%3Bto-tag%3Dff87ff%3Bfrom-tag%3Dr33th4x0r>")
    parsed = h.ReferToHeader.parse(text)
    assert replaces_in(parsed) == replaces
    uri, headers = invite_from_refer_to(parsed)
    assert uri == TARGET and headers == (replaces,)


def test_no_replaces_and_bad_ones() -> None:
    assert replaces_in(h.ReferToHeader(TARGET)) is None
    bad = h.ReferToHeader(SIPURI("example.com", user="carol", headers={"Replaces": "x"}))
    with pytest.raises(SIPParseError):
        replaces_in(bad)


def test_invite_from_refer_to_keeps_other_headers_and_refuses_other_methods() -> None:
    uri = SIPURI("example.com", user="carol", headers={"Subject": "hi", "body": "x"})
    target, headers = invite_from_refer_to(h.ReferToHeader(uri))
    assert not target.headers and [x.name for x in headers] == ["Subject"]
    bye = SIPURI("example.com", user="carol", parameters={"method": "BYE"})
    with pytest.raises(SIPParseError):
        invite_from_refer_to(h.ReferToHeader(bye))
