"""sipsimple.payloads.cpim.escapes: the RFC 3862 escapes in header values."""

from __future__ import annotations

import pytest

from sipsimple.payloads.cpim import CPIMMessage, CPIMParseError, MultilingualText


def test_escapes_in_values() -> None:
    message = CPIMMessage(b"", subject=MultilingualText(" two\r\nlines\tand \\ back\x01 "))
    data = message.encode()
    assert b"Subject:  two\\r\\nlines\\tand \\\\ back\\u0001 \r\n" in data
    assert CPIMMessage.decode(data).subject == " two\r\nlines\tand \\ back\x01 "
    # An unknown escape from a lax sender is kept as written.
    parsed = CPIMMessage.decode(b"Subject: C:\\path \\x\r\n\r\n\r\n")
    assert parsed.subject == "C:\\path \\x"


def test_surrogate_escapes() -> None:
    pair = CPIMMessage.decode(b"Subject: smile \\ud83d\\ude00!\r\n\r\n\r\n")
    assert pair.subject == "smile \U0001f600!"
    for lone in [b'From: "\\ud800" <sip:a@b>', b"Subject: \\udc00", b"Subject: \\ud800\\u0041"]:
        with pytest.raises(CPIMParseError, match="surrogate"):
            CPIMMessage.decode(lone + b"\r\n\r\n\r\n")
