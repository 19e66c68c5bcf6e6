"""SIPp sends MESSAGEs of every supported type, and hostile ones, to an account of this process.

Each is answered clearly: 200 once the application got it (the notification is
checked), 400 for malformed CPIM or is-composing, 415 for a type nobody
registered (plain or inside CPIM). A 1 MB body over TCP arrives whole; a body
over the service's limit gets 400 from the transport. After each, a plain
message still gets through: nothing lost, nothing crashed (the spawned
services fail the test on any traceback).
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from harness.notifications import Recorder
from harness.sessions import facade, route, session_services
from harness.sipp import SIPp, needs_sipp, scenario

from sipsimple.account import Account

pytestmark = [pytest.mark.integration, needs_sipp]

CPIM = """From: "Carol" <sip:carol@example.com>
To: <sip:bob@127.0.0.1>
DateTime: 2026-12-06T10:00:00Z

Content-Type: text/plain; charset=utf-8

wrapped hello"""

COMPOSING = """<?xml version="1.0" encoding="UTF-8"?>
<isComposing xmlns="urn:ietf:params:xml:ns:im-iscomposing">
<state>active</state>
<refresh>90</refresh>
</isComposing>"""

IMDN = """<?xml version="1.0" encoding="UTF-8"?>
<imdn xmlns="urn:ietf:params:xml:ns:imdn">
<message-id>34jk324j</message-id>
<datetime>2026-12-06T10:00:00Z</datetime>
<delivery-notification><status><delivered/></status></delivery-notification>
</imdn>"""

BAD_CPIM = """From: <sip:carol@example.com>
Content-Type text/plain without a colon"""

CPIM_PNG = CPIM.replace("text/plain; charset=utf-8", "image/png")


@pytest.fixture
def bob(spawn_service: Callable[..., Any]) -> Iterator[Account]:
    session_services(spawn_service, SIPSIMPLE_SIP_TRANSPORTS="udp,tcp")
    with facade(["bob"], domain="127.0.0.1") as accounts, \
            Recorder("SIPEngineGotMessage", "SIPEngineGotComposingIndication"):
        yield accounts["bob"]


def play(sipp: SIPp, content_type: str, body: str, code: int) -> None:
    path = scenario("uac_message_body.xml", sipp.workdir, TYPE=content_type, BODY=body,
                    CODE=str(code))
    target = route("udp")
    result = sipp.run(path, remote=f"{target.address}:{target.port}", service="bob")
    assert result.returncode == 0, (result.stderr.decode(errors="replace")[-2000:],
                                    sipp.errors())


def still_working(sipp: SIPp, events: Recorder) -> None:
    play(sipp, "text/plain", "still there?", 200)
    events.wait(lambda n: n.name == "SIPEngineGotMessage" and n.data.body == wire("still there?"))


def wire(text: str) -> bytes:
    """`text` as SIPp sends it: CRLF line ends, one more at the end."""
    return (text.replace("\n", "\r\n") + "\r\n").encode()


@pytest.mark.parametrize(("content_type", "body", "expected"), [
    ("text/plain", "Hello from SIPp", ("text/plain", "Hello from SIPp")),
    ("text/html", "<p>Hello</p>", ("text/html", "<p>Hello</p>")),
    ("message/cpim", CPIM, ("text/plain", "wrapped hello")),
    ("message/imdn+xml", IMDN, ("message/imdn+xml", IMDN)),
])
def test_each_supported_type(bob: Account, sipp: SIPp, events: Recorder, content_type: str,
                             body: str, expected: tuple[str, str]) -> None:
    play(sipp, content_type, body, 200)
    got = events.wait("SIPEngineGotMessage")
    assert got.sender is bob
    assert (got.data.content_type, got.data.body) == (expected[0], wire(expected[1]))
    assert got.data.from_header.display_name == "SIPp"
    if content_type == "message/cpim":
        assert str(got.data.sender.uri) == "sip:carol@example.com"
        assert got.data.sender.display_name == "Carol"
        assert got.data.cpim.timestamp.year == 2026 and got.data.charset == "utf-8"


def test_composing(bob: Account, sipp: SIPp, events: Recorder) -> None:
    play(sipp, "application/im-iscomposing+xml", COMPOSING, 200)
    got = events.wait("SIPEngineGotComposingIndication")
    assert got.sender is bob and (got.data.state, got.data.refresh) == ("active", 90)
    assert not events.named("SIPEngineGotMessage")


@pytest.mark.parametrize(("content_type", "body", "code"), [
    ("message/cpim", BAD_CPIM, 400),
    ("message/cpim", CPIM_PNG, 415),
    ("application/im-iscomposing+xml", "<isComposing>no namespace</isComposing>", 400),
    # an external entity (SIPp reads [..] as its own keywords: no internal subset here)
    ("application/im-iscomposing+xml",
     '<!DOCTYPE isComposing SYSTEM "file:///etc/passwd"><isComposing>&x;</isComposing>', 400),
    ("application/octet-stream", "binary-ish", 415),
])
def test_hostile_and_unwanted(bob: Account, sipp: SIPp, events: Recorder, content_type: str,
                              body: str, code: int) -> None:
    play(sipp, content_type, body, code)
    assert not events.named("SIPEngineGotMessage")
    assert not events.named("SIPEngineGotComposingIndication")
    still_working(sipp, events)


def raw_message(size: int, send_body: bool = True) -> tuple[bytes, bytes]:
    """A MESSAGE to bob over TCP with a `size`-byte text/plain body: the body, the answer.

    Without `send_body` only the head goes (the Content-Length says `size`): a
    body the service refuses unread would make its close reset the connection.
    """
    target = route("tcp")
    body = (b"0123456789abcdef" * (size // 16 + 1))[:size]
    head = (
        f"MESSAGE sip:bob@127.0.0.1:{target.port} SIP/2.0\r\n"
        f"Via: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bKbig{size}\r\n"
        f"From: <sip:big@127.0.0.1>;tag=b{size}\r\nTo: <sip:bob@127.0.0.1>\r\n"
        f"Call-ID: big-{size}\r\nCSeq: 1 MESSAGE\r\nMax-Forwards: 70\r\n"
        f"Content-Type: text/plain\r\nContent-Length: {size}\r\n\r\n"
    ).encode()
    with socket.create_connection((target.address, target.port), timeout=60) as sock:
        sock.sendall(head + body if send_body else head)
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    return body, answer


def test_a_1mb_body_arrives_whole(bob: Account, sipp: SIPp, events: Recorder) -> None:
    body, answer = raw_message(1_000_000)
    assert answer.startswith(b"SIP/2.0 200 "), answer[:200]
    got = events.wait("SIPEngineGotMessage")
    assert got.data.body == body
    still_working(sipp, events)


def test_a_body_over_the_limit_gets_400(bob: Account, sipp: SIPp, events: Recorder) -> None:
    _body, answer = raw_message(2 * 1024 * 1024, send_body=False)
    assert answer.startswith(b"SIP/2.0 400 "), answer[:200]
    assert not events.named("SIPEngineGotMessage")
    still_working(sipp, events)
