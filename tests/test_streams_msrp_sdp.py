"""The MSRP m-line helpers (`sipsimple.streams.msrp.sdp`): reading, writing, roles."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipsimple.core.sdp import SDPNegotiationError, parse_sdp
from sipsimple.streams import ChatStream, InvalidStreamError, UnknownStreamError
from sipsimple.streams.msrp.sdp import (
    answer_setup,
    build_media,
    contains_mime_type,
    is_active,
    read_media,
)

PATH = "msrp://192.0.2.1:2855/abcd;tcp"


def offer(attributes: str = f"a=path:{PATH}\na=accept-types:message/cpim text/*\n",
          transport: str = "TCP/MSRP", media: str = "message") -> Any:
    text = ("v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\n"
            f"m={media} 2855 {transport} *\n{attributes}")
    return parse_sdp(text.replace("\n", "\r\n"))


def test_read_media_reads_every_attribute() -> None:
    sdp = offer(f"a=path:msrp://198.51.100.1:1/relay;tcp {PATH}\n"
                "a=accept-types:message/cpim text/*\na=accept-types:image/png\n"
                "a=accept-wrapped-types:*\na=setup:ACTPASS\na=sendrecv\n")
    media = read_media(sdp.media[0], sdp.media_direction(0))
    assert media.path == ("msrp://198.51.100.1:1/relay;tcp", PATH)
    assert media.accept_types == ("message/cpim", "text/*", "image/png")
    assert media.accept_wrapped_types == ("*",)
    assert media.setup == "actpass" and media.direction == "sendrecv"
    assert media.port == 2855 and not media.tls and media.media_type == "message"
    assert read_media(offer(transport="TCP/TLS/MSRP").media[0]).tls
    assert read_media(offer().media[0]).setup is None


def test_read_media_reads_the_chatroom_capabilities() -> None:
    sdp = offer(f"a=path:{PATH}\na=accept-types:message/cpim\n"
                "a=chatroom:Nickname private-messages\na=chatroom:x-future\n")
    assert read_media(sdp.media[0]).chatroom == ("nickname", "private-messages", "x-future")
    assert read_media(offer().media[0]).chatroom == ()


@pytest.mark.parametrize("attributes", [
    "a=accept-types:text/*\n",  # no path
    f"a=path:{PATH}\n",  # no accept-types (RFC 4975 8.6)
    "a=path:sip:alice@example.com\na=accept-types:text/*\n",
    f"a=path:{PATH}\na=accept-types:text/*\na=setup:sideways\n",
])
def test_read_media_refuses(attributes: str) -> None:
    with pytest.raises(SDPNegotiationError):
        read_media(offer(attributes).media[0])
    with pytest.raises(SDPNegotiationError):
        read_media(offer(transport="RTP/AVP").media[0])


@given(st.lists(st.tuples(st.sampled_from(["path", "accept-types", "accept-wrapped-types",
                                           "setup", "sendrecv"]),
                          st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7e),
                                  max_size=40)), max_size=6))
def test_read_media_raises_only_negotiation_errors(attributes: list[tuple[str, str]]) -> None:
    text = "".join(f"a={name}:{value}\n" if value else f"a={name}\n"
                   for name, value in attributes)
    try:
        sdp = offer(text)
    except ValueError:
        return  # not even SDP: the parser's business
    try:
        media = read_media(sdp.media[0])
    except SDPNegotiationError:
        return
    assert media.path and media.accept_types


def test_build_media_writes_the_m_line() -> None:
    media = build_media("message", "127.0.0.1", 4000, [PATH], ["message/cpim", "text/*"],
                        ["*"], "passive")
    text = str(media)
    assert text.startswith("m=message 4000 TCP/MSRP *\r\nc=IN IP4 127.0.0.1\r\n")
    assert f"a=path:{PATH}\r\n" in text
    assert "a=accept-types:message/cpim text/*\r\na=accept-wrapped-types:*\r\n" in text
    assert "a=setup:passive\r\na=sendrecv\r\n" in text
    assert "accept-wrapped-types" not in str(build_media("message", "::1", 1, [PATH], ["*"]))
    assert "c=IN IP6 ::1" in str(build_media("message", "::1", 1, [PATH], ["*"]))
    secure = build_media("message", "127.0.0.1", 1, ["msrps://127.0.0.1:1/s;tcp"], ["*"],
                         tls=True)
    assert secure.transport == "TCP/TLS/MSRP" and "TCP/TLS/MSRP *" in str(secure)
    # what we write, we read
    back = read_media(offer("".join(f"a={a}\n" for a in media.attributes)).media[0])
    assert back.path == (PATH,) and back.setup == "passive"


@pytest.mark.parametrize(("offered", "answer"), [
    ("actpass", "active"), ("passive", "active"), ("active", "passive"), (None, "passive"),
    ("holdconn", "passive"),
])
def test_answer_setup(offered: str | None, answer: str) -> None:
    assert answer_setup(offered) == answer


@pytest.mark.parametrize(("local", "remote", "offerer", "active"), [
    ("active", "passive", True, True),
    ("passive", "active", False, False),
    ("active", None, False, True),
    (None, "passive", False, True),
    (None, "active", True, False),
    (None, None, True, True),  # RFC 4975: the offerer connects
    (None, None, False, False),
])
def test_is_active(local: str | None, remote: str | None, offerer: bool, active: bool) -> None:
    assert is_active(local, remote, offerer) is active


def test_contains_mime_type() -> None:
    assert contains_mime_type(["text/*"], "text/plain; charset=utf-8")
    assert contains_mime_type(["*"], "image/png")
    assert contains_mime_type(["Message/CPIM"], "message/cpim")
    assert not contains_mime_type(["text/*"], "image/png")
    assert not contains_mime_type([], "text/plain")


def test_chat_stream_takes_message_m_lines_only() -> None:
    assert isinstance(ChatStream.new_from_sdp(None, offer(), 0), ChatStream)
    with pytest.raises(UnknownStreamError):
        ChatStream.new_from_sdp(None, offer(media="application"), 0)
    with pytest.raises(UnknownStreamError):
        ChatStream.new_from_sdp(None, offer(transport="RTP/AVP"), 0)
    tls = ChatStream.new_from_sdp(None, offer(transport="TCP/TLS/MSRP"), 0)
    assert tls._wants_tls() is True  # an answer takes the offer's transport
    assert ChatStream.new_from_sdp(None, offer(), 0)._wants_tls() is False
    for refused in (offer(f"a=path:{PATH}\na=accept-types:*\na=file-selector:name:\"x\"\n"),
                    offer(f"a=path:{PATH}\na=accept-types:*\na=sendonly\n"),
                    offer("a=accept-types:*\n")):
        with pytest.raises(InvalidStreamError):
            ChatStream.new_from_sdp(None, refused, 0)
