"""MSRPTransportTrace and MSRPLibraryLog (`sipsimple.streams.msrp.trace`) through the services.

With ``logs.trace_msrp`` off nothing is posted; turned on, the chat's MSRP
traffic comes as MSRPTransportTrace on behalf of its stream and the msrp
service's log lines as anonymous MSRPLibraryLog; turned off again, they stop.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from harness.audio import audio_services, wait_until
from harness.chat import by, chat, got
from harness.notifications import Recorder
from harness.sessions import facade

from sipsimple.account import Account
from sipsimple.configuration.settings import SIPSimpleSettings
from sipsimple.streams import ChatStream
from sipsimple.streams.msrp.trace import MSRPTrace

pytestmark = pytest.mark.integration


@pytest.fixture
def accounts(spawn_service: Callable[..., Any]) -> Iterator[dict[str, Account]]:
    audio_services(spawn_service, msrp=True)
    with facade(["alice", "bob"]) as created:
        yield created


@pytest.fixture
def trace(accounts: dict[str, Account]) -> Iterator[MSRPTrace]:
    component = MSRPTrace()
    component.start()
    try:
        yield component
    finally:
        component.stop()


def set_tracing(trace: MSRPTrace, enabled: bool) -> None:
    settings = SIPSimpleSettings()
    settings.logs.trace_msrp = enabled
    settings.save()
    wait_until(lambda: trace.enabled is enabled, "the msrp service was told")


def test_traces_follow_the_setting(accounts: dict[str, Account], trace: MSRPTrace,
                                   events: Recorder) -> None:
    stream = ChatStream(accounts["alice"])
    session, answering, theirs = chat(events, accounts["alice"], stream)
    stream.send_message("before tracing")
    got(events, theirs)
    assert not events.named("MSRPTransportTrace") and not trace.enabled

    set_tracing(trace, True)
    sent = stream.send_message("while tracing")
    out = events.wait(lambda n: by(stream, "MSRPTransportTrace")(n)
                      and n.data.direction == "outgoing" and "while tracing" in n.data.data)
    assert f"Message-ID: {sent}" in out.data.data and out.data.timestamp is not None
    assert out.data.session_id == stream.msrp_session_id
    events.wait(lambda n: by(theirs, "MSRPTransportTrace")(n)
                and n.data.direction == "incoming" and "while tracing" in n.data.data)
    assert stream._port is not None
    with socket.create_connection(("127.0.0.1", stream._port)) as stranger:
        stranger.sendall(b"GET / HTTP/1.0\r\n\r\n")
        logged = events.wait(lambda n: n.name == "MSRPLibraryLog"
                             and "no MSRP request" in n.data.message)
        assert logged.sender is None and logged.data.level == logging.WARNING
        assert stranger.recv(100) == b""

    set_tracing(trace, False)
    stream.send_message("after tracing")
    assert [m.content for m in got(events, theirs, 3)][-1] == b"after tracing"
    assert not [n for n in events.named("MSRPTransportTrace")
                if "before tracing" in n.data.data or "after tracing" in n.data.data]
    session.end()
    events.wait(by(answering, "SIPSessionDidEnd"))
