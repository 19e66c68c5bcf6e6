"""The service base, driven over its real sockets by raw zmq peers and the bus client."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import msgpack
import pytest
import zmq
from harness.notifications import Recorder, owner_subscribed

from sipsimple.bus import endpoints
from sipsimple.bus.auth import Credentials
from sipsimple.bus.client import BusClient, ServiceError
from sipsimple.bus.schema import (
    MAX_EVENT_BATCH,
    MAX_MESSAGE_SIZE,
    PROTOCOL_VERSION,
    ErrorCode,
    decode_events,
    decode_reply,
)

pytestmark = pytest.mark.integration
OWNER = "harness.owner_service"

Spawn = Callable[..., subprocess.Popen[bytes]]
RAW = Credentials.generate()  # what the raw peers prove to the service
GARBAGE_CODES = {ErrorCode.BAD_MESSAGE, ErrorCode.TOO_LARGE, ErrorCode.UNSUPPORTED_VERSION}


@pytest.fixture
def owner(spawn_service: Spawn) -> subprocess.Popen[bytes]:
    return spawn_service(OWNER, "media", SIPSIMPLE_CLIENT_TIMEOUT="1.5")


@pytest.fixture
def raw() -> zmq.Socket:
    context = zmq.Context.instance()
    socket = context.socket(zmq.DEALER)
    socket.setsockopt(zmq.LINGER, 0)
    RAW.apply(socket, endpoints.command_endpoint("media"))
    socket.connect(endpoints.command_endpoint("media"))
    yield socket
    socket.close()


def request(
    method: str, params: dict | None = None, request_id: int = 1, client: str = RAW.client_id
) -> bytes:
    return msgpack.packb(
        {
            "v": PROTOCOL_VERSION,
            "id": request_id,
            "client": client,
            "method": method,
            "params": params or {},
        }
    )


def answer(socket: zmq.Socket, frames: list[bytes]):
    socket.send_multipart(frames)
    assert socket.poll(5000), "no answer"
    return decode_reply(socket.recv())


def test_ping_names_the_service(owner: subprocess.Popen[bytes], raw: zmq.Socket) -> None:
    reply = answer(raw, [request("ping")])
    assert reply.error is None
    assert reply.result["service"] == "media"
    assert reply.result["pid"] == owner.pid
    assert reply.result["uptime"] >= 0


@pytest.mark.parametrize(
    ("frames", "code"),
    [
        ([b"random bytes \xff\x00"], "bad-message"),
        ([msgpack.packb([1, 2, 3])], "bad-message"),
        ([msgpack.packb({"v": 1})], "bad-message"),
        (
            [msgpack.packb({"v": 2, "id": 1, "client": "x", "method": "ping", "params": {}})],
            "unsupported-version",
        ),
        ([request("no_such_method")], "unknown-method"),
        ([request("create", {"key": 5})], "invalid-params"),
        ([request("create", {})], "invalid-params"),
        ([request("ping", {"extra": 1})], "invalid-params"),
        ([b"x" * (MAX_MESSAGE_SIZE + 10)], "too-large"),
        ([b"one", b"two", b"three"], "bad-message"),
    ],
)
def test_bad_input_gets_an_error_reply_and_the_service_keeps_serving(
    owner: subprocess.Popen[bytes], raw: zmq.Socket, frames: list[bytes], code: str
) -> None:
    reply = answer(raw, frames)
    assert reply.error is not None and reply.error.code == code
    assert answer(raw, [request("ping", request_id=2)]).result["service"] == "media"
    assert owner.poll() is None


def test_random_garbage_storm(owner: subprocess.Popen[bytes], raw: zmq.Socket) -> None:
    rng = __import__("random").Random(1)
    for _ in range(300):
        raw.send(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200))))
    for _ in range(300):  # every one is answered, with an error reply
        assert raw.poll(5000)
        reply = decode_reply(raw.recv())
        assert reply.error is not None and reply.error.code in GARBAGE_CODES, reply
    assert answer(raw, [request("ping", request_id=9)]).result["service"] == "media"


def test_a_req_peer_is_answered_too(owner: subprocess.Popen[bytes]) -> None:
    socket = zmq.Context.instance().socket(zmq.REQ)
    socket.setsockopt(zmq.LINGER, 0)
    RAW.apply(socket, endpoints.command_endpoint("media"))
    socket.connect(endpoints.command_endpoint("media"))
    socket.send(request("ping"))
    assert socket.poll(5000)
    assert decode_reply(socket.recv()).result["service"] == "media"
    socket.close()


def test_handler_errors(spawn_service: Spawn) -> None:
    # the crash is logged with its traceback, as a bug in a service should be
    spawn_service(OWNER, "media", tracebacks_expected=True, SIPSIMPLE_CLIENT_TIMEOUT="1.5")
    client = BusClient(services=["media"])
    client.start()
    try:
        with pytest.raises(ServiceError) as info:
            client.call("media", "fail")
        assert info.value.code == "failed" and "asked to fail" in str(info.value)
        with pytest.raises(ServiceError) as info:
            client.call("media", "crash")
        assert info.value.code == "internal"
        assert client.ping("media")["service"] == "media"
    finally:
        client.stop()


def test_a_slow_request_does_not_block_others(owner: subprocess.Popen[bytes]) -> None:
    client = BusClient(services=["media"])
    client.start()
    try:
        slow = client.call_async("media", "sleep", {"seconds": 2})
        client.ping("media")
        assert not slow.done()  # ping came back while sleep still ran
        assert slow.result(5) == 2
    finally:
        client.stop()


def test_objects_of_a_silent_client_are_released(
    owner: subprocess.Popen[bytes], raw: zmq.Socket
) -> None:
    watcher = BusClient(services=["media"])
    watcher.start()
    recorder = Recorder("test.ended")
    try:
        owner_subscribed(watcher)
        # The raw socket creates an object and then never heartbeats again.
        assert answer(raw, [request("create", {"key": "call-1"})]).result == [
            "call-1"
        ]
        ended = recorder.wait(lambda n: n.data.key == "call-1")
        assert ended.sender is watcher
        objects = watcher.call("media", "create", key="other")
        assert objects == ["other"]
    finally:
        recorder.close()
        watcher.stop()


def test_a_live_client_keeps_its_objects(owner: subprocess.Popen[bytes]) -> None:
    client = BusClient(services=["media"])
    client.start()
    try:
        client.call("media", "create", key="mine")
        time.sleep(3.5)  # longer than the 1.5 s client timeout; the heartbeat keeps it alive
        assert "mine" in client.call("media", "create", key="second")
    finally:
        client.stop()


def test_a_live_client_keeps_its_objects_through_a_stall(
    owner: subprocess.Popen[bytes],
) -> None:
    # The service stops serving for longer than the client timeout while the
    # client keeps heartbeating; the heartbeats wait in the queue, and the
    # reaper, which may run before they are read, must not take them for silence.
    client = BusClient(services=["media"])
    client.start()
    try:
        client.call("media", "create", key="mine")
        client.call("media", "stall", seconds=2.5)  # the client timeout is 1.5 s
        assert client.call("media", "create", key="second", timeout=10) == ["mine", "second"]
    finally:
        client.stop()


def test_goodbye_releases_at_once(owner: subprocess.Popen[bytes]) -> None:
    leaving, staying = BusClient(services=["media"]), BusClient(services=["media"])
    leaving.start()
    staying.start()
    try:
        leaving.call("media", "create", key="leaving")
        leaving.stop()
        assert staying.call("media", "create", key="x") == ["x"]
    finally:
        staying.stop()


def test_sigterm_releases_objects_and_exits_cleanly(owner: subprocess.Popen[bytes]) -> None:
    client = BusClient(services=["media"])
    client.start()
    recorder = Recorder("test.ended")
    try:
        owner_subscribed(client)
        client.call("media", "create", key="doomed")
        owner.send_signal(signal.SIGTERM)
        recorder.wait(lambda n: n.data.key == "doomed")
        assert owner.wait(10) == 0
    finally:
        recorder.close()
        client.stop(goodbye=False)


def test_what_a_request_publishes_goes_out_in_batches_in_order(
    owner: subprocess.Popen[bytes], raw: zmq.Socket
) -> None:
    sub = zmq.Context.instance().socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.connect(endpoints.event_endpoint("media"))
    try:
        for _ in range(200):  # until the subscription has reached the publisher
            answer(raw, [request("emit", {"count": 1})])
            if sub.poll(50):
                break
        else:
            raise AssertionError("the subscription never joined")
        while sub.poll(200):
            sub.recv_multipart()
        count = MAX_EVENT_BATCH + 3
        assert answer(raw, [request("emit", {"count": count})]).result == count
        messages: list[list[bytes]] = []
        while sum(len(frames) // 2 for frames in messages) < count:
            assert sub.poll(5000), f"events missing after {messages}"
            messages.append(sub.recv_multipart())
        assert [len(frames) // 2 for frames in messages] == [MAX_EVENT_BATCH, 3]
        events = [event for frames in messages for event in decode_events(frames)]
        assert [event.data["index"] for event in events] == list(range(count))
    finally:
        sub.close()


def test_sockets_are_private(owner: subprocess.Popen[bytes], runtime: Path) -> None:
    assert (runtime.stat().st_mode & 0o777) == 0o700
    for name in ("media.cmd", "media.evt"):
        assert (os.stat(runtime / name).st_mode & 0o077) == 0
