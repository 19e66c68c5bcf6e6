"""The msrp service's trace (`services/msrp/bus/trace.py`, `set_trace`).

The text of a read or write is cut at TRACE_LIMIT; log records become
events without looping. Through the service process: nothing is published
until a client asks; then what its sessions read and write
(``msrp.transport_traced``, not another client's sessions) and the
service's log lines (``msrp.log``); a client that stops or goes away stops it.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable
from typing import Any

import pytest
from harness.msrp import start_msrp_service
from harness.notifications import Recorder

from sipsimple.bus.client import BusClient
from sipsimple_services.msrp.bus.trace import TRACE_LIMIT, LogPublisher, trace_text


def test_trace_text_shows_the_parts_up_to_the_limit() -> None:
    assert trace_text([b"MSRP a SEND\r\n", memoryview(b"h\xc3\xa9")]) == "MSRP a SEND\r\nhé"
    text = trace_text([b"x" * (TRACE_LIMIT - 1), memoryview(b"yz"), b"w" * 10])
    assert text == "x" * (TRACE_LIMIT - 1) + "y\n[... 11 more bytes not shown]"
    assert trace_text([b"\xff"]) == "\ufffd"


def test_log_publisher_publishes_records_without_looping() -> None:
    published: list[tuple[str, str]] = []
    logger = logging.getLogger("test.msrp.trace")
    logger.setLevel(logging.DEBUG)

    def publish(level: str, message: str) -> None:
        published.append((level, message))
        logger.warning("logged while publishing")  # must not publish again

    handler = LogPublisher(publish)
    logger.addHandler(handler)
    try:
        logger.info("connection from %s closed", "127.0.0.1:1")
        worker = threading.Thread(target=lambda: logger.error("from another thread"))
        worker.start()
        worker.join()
    finally:
        logger.removeHandler(handler)
    assert published == [("INFO", "connection from 127.0.0.1:1 closed")]


@pytest.fixture
def bus(spawn_service: Callable[..., Any]) -> BusClient:
    return start_msrp_service(spawn_service, SIPSIMPLE_CLIENT_TIMEOUT="2")


def traced(events: Recorder, session_id: str, direction: str, text: str) -> Any:
    return events.wait(lambda n: n.name == "msrp.transport_traced"
                       and n.data.session_id == session_id and n.data.direction == direction
                       and text in n.data.data)


@pytest.mark.integration
def test_the_trace_is_published_only_while_asked(bus: BusClient, events: Recorder) -> None:
    a = bus.call("msrp", "create_session", address="127.0.0.1")
    b = bus.call("msrp", "create_session", address="127.0.0.1")
    bus.call("msrp", "start_session", session_id=b["session_id"], remote_path=[a["path"]],
             active=False)
    bus.call("msrp", "start_session", session_id=a["session_id"], remote_path=[b["path"]],
             active=True)
    bus.call("msrp", "send_message", session_id=a["session_id"], content_type="text/plain",
             body=b"untraced")
    events.wait(lambda n: n.name == "msrp.message_received" and n.data.body == b"untraced")

    assert bus.call("msrp", "set_trace", enabled=True) == {"enabled": True}
    other = BusClient(services=["msrp"], post_notifications=False)
    other.start()
    try:
        theirs = other.call("msrp", "create_session", address="127.0.0.1")
        other.call("msrp", "start_session", session_id=theirs["session_id"],
                   remote_path=[a["path"]], active=False)
        sent = bus.call("msrp", "send_message", session_id=a["session_id"],
                        content_type="text/plain", body=b"traced hello")
        out = traced(events, a["session_id"], "outgoing", "traced hello")
        assert out.data.data.startswith("MSRP ") and " SEND\r\n" in out.data.data
        assert f"Message-ID: {sent['message_id']}" in out.data.data
        assert out.data.client == bus.client_id
        traced(events, b["session_id"], "incoming", "traced hello")
        traced(events, a["session_id"], "incoming", " 200 OK")  # the response

        with socket.create_connection(("127.0.0.1", a["port"])) as stranger:
            stranger.sendall(b"no MSRP here\r\n\r\n")
            logged = events.wait(lambda n: n.name == "msrp.log"
                                 and "no MSRP request" in n.data.message)
            assert logged.data.level == "WARNING" and logged.data.session_id is None
            assert stranger.recv(100) == b""
        # the other client did not ask: its session is not traced
        assert not [n for n in events.seen if n.name == "msrp.transport_traced"
                    and n.data.session_id == theirs["session_id"]]
    finally:
        other.stop()

    bus.call("msrp", "set_trace", enabled=False)
    bus.call("msrp", "send_message", session_id=a["session_id"], content_type="text/plain",
             body=b"untraced again")
    events.wait(lambda n: n.name == "msrp.message_received" and n.data.body == b"untraced again")
    with socket.create_connection(("127.0.0.1", a["port"])) as stranger:
        stranger.sendall(b"still no MSRP\r\n\r\n")
        assert stranger.recv(100) == b""
    # traced: only what came between on and off
    texts = [n.data.data for n in events.seen if n.name == "msrp.transport_traced"]
    assert not [t for t in texts if "untraced" in t]
    assert len([n for n in events.seen if n.name == "msrp.log"]) == 1
