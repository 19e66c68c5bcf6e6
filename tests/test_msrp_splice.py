"""The msrp service's splice (transport/splice.py) over the bus, with real sockets.

Two service sessions connected over loopback; one is spliced to a VNC viewer's
socket (the test's), the other to a VNC server's (the test's): bytes written on
one TCP side come out of the other, both ways, in order, through MSRP, and
never as bus events. Bad calls get clear errors; a listener belongs to the
client that made it.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from typing import Any

import pytest
from harness.msrp import call, of, start_msrp_service
from harness.notifications import Recorder

from sipsimple.bus.client import BusClient, ServiceError

pytestmark = pytest.mark.integration


@pytest.fixture
def bus(spawn_service: Callable[..., Any]) -> BusClient:
    return start_msrp_service(spawn_service, SIPSIMPLE_CLIENT_TIMEOUT="2")


def read(sock: socket.socket, size: int) -> bytes:
    parts, left = [], size
    while left:
        data = sock.recv(left)
        assert data, f"closed with {left} bytes unread"
        parts.append(data)
        left -= len(data)
    return b"".join(parts)


def test_bytes_go_through_both_splices(bus: BusClient, events: Recorder) -> None:
    vnc = socket.socket()
    vnc.bind(("127.0.0.1", 0))
    vnc.listen(1)
    listening = call(bus, "splice_listen", address="127.0.0.1")
    a = call(bus, "create_session", address="127.0.0.1")  # the viewer's side
    b = call(bus, "create_session", address="127.0.0.1")  # the server's side
    call(bus, "splice_session", session_id=a["session_id"], mode="viewer",
         listener_id=listening["listener_id"], connect_timeout=10)
    host, port = vnc.getsockname()
    call(bus, "splice_session", session_id=b["session_id"], mode="server", host=host,
         port=port, connect_timeout=10)
    call(bus, "start_session", session_id=b["session_id"], remote_path=[a["path"]],
         active=False, accept_types=["application/x-rfb"])
    call(bus, "start_session", session_id=a["session_id"], remote_path=[b["path"]],
         active=True, accept_types=["application/x-rfb"])
    server, _ = vnc.accept()
    server.sendall(b"RFB 003.008\n")  # before the viewer connects: it waits in the service
    viewer = socket.create_connection((listening["address"], listening["port"]))
    assert read(viewer, 12) == b"RFB 003.008\n"
    upstream = os.urandom(3_000_000)
    viewer.sendall(b"go")
    assert read(server, 2) == b"go"
    server.sendall(upstream)
    assert read(viewer, len(upstream)) == upstream
    connected = events.wait(of(a["session_id"], "msrp.splice_connected"))
    assert connected.data.address == list(viewer.getsockname())
    events.wait(of(b["session_id"], "msrp.splice_connected"))
    assert not [n for n in events.seen if n.name == "msrp.message_received"]
    status = {s["session_id"]: s["splice"] for s in call(bus, "status")["sessions"]}
    assert status == {a["session_id"]: "connected", b["session_id"]: "connected"}
    # the server goes away: its splice fails, the other side's TCP stays until its
    # session ends
    server.close()
    failed = events.wait(of(b["session_id"], "msrp.splice_failed"))
    assert (failed.data.context, failed.data.reason) == \
        ("reading", "the VNC server closed the connection")
    call(bus, "end_session", session_id=a["session_id"])
    assert viewer.recv(1) == b""
    events.wait(of(b["session_id"], "msrp.session_failed"))  # the MSRP peer went
    assert not call(bus, "status")["sessions"]


def test_bad_splice_calls(bus: BusClient, events: Recorder) -> None:
    a = call(bus, "create_session", address="127.0.0.1")
    for params, code in [
        ({"mode": "viewer", "listener_id": "nope"}, "not-found"),
        ({"mode": "server"}, "invalid-params"),
        ({"mode": "server", "host": "127.0.0.1", "port": 0}, "invalid-params"),
        ({"mode": "sideways"}, "invalid-params"),
        ({"mode": "server", "host": "127.0.0.1", "port": 5900,
          "connect_timeout": 0}, "invalid-params"),
    ]:
        with pytest.raises(ServiceError) as error:
            call(bus, "splice_session", session_id=a["session_id"], **params)
        assert error.value.code == code, params
    with pytest.raises(ServiceError) as error:
        call(bus, "splice_listen", address="192.0.2.1")  # not ours
    assert error.value.code == "failed" and "cannot listen" in str(error.value)
    b = call(bus, "create_session", address="127.0.0.1")
    call(bus, "start_session", session_id=b["session_id"], remote_path=[a["path"]],
         active=False)
    with pytest.raises(ServiceError) as error:  # too late: the session started
        call(bus, "splice_session", session_id=b["session_id"], mode="server",
             host="127.0.0.1", port=5900)
    assert "before the session starts" in str(error.value)
    with pytest.raises(ServiceError) as error:
        call(bus, "splice_close", listener_id="nope")
    assert error.value.code == "not-found"


def test_a_listener_goes_with_its_client(bus: BusClient, events: Recorder) -> None:
    listening = call(bus, "splice_listen", address="127.0.0.1")
    address = (listening["address"], listening["port"])
    socket.create_connection(address).close()  # listening
    bus.call("msrp", "goodbye")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(address, timeout=5)
