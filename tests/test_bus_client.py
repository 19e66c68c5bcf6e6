"""The facade's bus client against a real service process."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import pytest
from harness.notifications import Recorder, owner_subscribed

from sipsimple.bus.client import (
    BusClient,
    BusError,
    ServiceError,
    ServiceUnavailable,
    get_bus,
    reset_bus,
)

pytestmark = pytest.mark.integration
OWNER = "harness.owner_service"
Spawn = Callable[..., subprocess.Popen[bytes]]


@pytest.fixture
def client() -> BusClient:
    bus = BusClient(services=["media"])
    bus.start()
    yield bus
    bus.stop(goodbye=False)


def test_timeout_names_the_service_and_method(runtime: object, client: BusClient) -> None:
    with pytest.raises(ServiceUnavailable) as info:
        client.call("media", "ping", timeout=0.3)
    assert "'media'" in str(info.value) and "'ping'" in str(info.value)
    future = client.call_async("media", "ping", timeout=0.3)
    assert isinstance(future.exception(5), ServiceUnavailable)


def test_a_call_waiting_when_the_client_stops_raises_a_bus_error(runtime: object) -> None:
    """stop() destroys the sockets under another thread's call: that caller gets a
    BusError (which every caller handles), not zmq's 'operation on non-socket'."""
    bus = BusClient(services=["media"])
    bus.start()
    outcome: list[BaseException] = []
    waiting = threading.Thread(target=lambda: outcome.extend(
        _raised(lambda: bus.call("media", "ping", timeout=30))))
    waiting.start()
    deadline = time.monotonic() + 10
    while not _inside(waiting, "_calls"):  # past the checks, waiting: nobody answers
        assert time.monotonic() < deadline
        time.sleep(0.01)
    bus.stop(goodbye=False)
    waiting.join(10)
    assert not waiting.is_alive()
    [error] = outcome
    assert type(error) is BusError and "stopped" in str(error)


def _inside(thread: threading.Thread, function: str) -> bool:
    frame = sys._current_frames().get(thread.ident or 0)
    while frame is not None:
        if frame.f_code.co_name == function:
            return True
        frame = frame.f_back
    return False


def _raised(call: Callable[[], object]) -> list[BaseException]:
    try:
        call()
    except BaseException as exc:  # what the thread got is the result
        return [exc]
    return []


def test_unknown_service_and_unserializable_params(runtime: object, client: BusClient) -> None:
    with pytest.raises(ValueError, match="unknown service"):
        client.call("nope", "ping")
    with pytest.raises(ValueError, match="not serializable"):
        client.call("media", "create", key=object())
    with pytest.raises(ValueError, match="limit"):  # a service would drop it unanswered
        client.call("media", "create", key=b"x" * (1 << 20))
    with pytest.raises(ValueError, match="limit"):
        client.call_async("media", "create", {"key": b"x" * (1 << 20)})


def test_async_calls_and_callbacks(spawn_service: Spawn, client: BusClient) -> None:
    spawn_service(OWNER, "media")
    results: list[object] = []
    future = client.call_async("media", "create", {"key": "a"})
    future.add_done_callback(lambda f: results.append(f.result()))
    assert future.result(5) == ["a"]
    deadline = time.monotonic() + 5
    while not results and time.monotonic() < deadline:
        time.sleep(0.01)
    assert results == [["a"]]
    futures = [client.call_async("media", "create", {"key": str(i)}) for i in range(50)]
    assert len(futures[-1].result(5)) == 51


def test_pipelined_calls_answer_in_order(spawn_service: Spawn, client: BusClient) -> None:
    spawn_service(OWNER, "media")
    calls = [("create", {"key": "a"}), ("fail", {}), ("create", {"key": "b"}),
             ("destroy", {"key": "nope"}), ("create", {"key": "c"})]
    outcomes = client.call_many("media", calls, timeout=10)
    assert outcomes[0] == ["a"] and outcomes[2] == ["a", "b"] and outcomes[4] == ["a", "b", "c"]
    failed, missing = outcomes[1], outcomes[3]
    assert isinstance(failed, ServiceError) and failed.code == "failed"
    assert isinstance(missing, ServiceError) and missing.code == "not-found"
    assert client.call_many("media", []) == []
    # a reply that does not come in time names the first call still waiting
    with pytest.raises(ServiceUnavailable, match="'sleep'"):
        client.call_many("media", [("create", {"key": "d"}), ("sleep", {"seconds": 2})],
                         timeout=0.5)
    assert client.call("media", "create", key="e")[-1] == "e"  # the late reply is skipped


def test_events_reach_the_notification_center(spawn_service: Spawn, client: BusClient) -> None:
    recorder = Recorder("test.tick", "ServiceDidConnect")
    spawn_service(OWNER, "media")
    try:
        recorder.wait("ServiceDidConnect")
        owner_subscribed(client)
        client.call("media", "emit", count=3)
        deadline = time.monotonic() + 5
        while len([n for n in recorder.seen if n.name == "test.tick"]) < 3:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        ticks = [n for n in recorder.seen if n.name == "test.tick"]
        assert [n.data.index for n in ticks] == [0, 1, 2]
        assert ticks[0].sender is client
        assert ticks[0].data.service == "media" and ticks[0].data.sender_id == "ticker"
    finally:
        recorder.close()


def test_recovers_after_the_service_is_killed_and_restarted(
    spawn_service: Spawn, client: BusClient
) -> None:
    recorder = Recorder(
        "ServiceDidConnect", "ServiceDidDisconnect", "ServiceDidRestart", "test.tick"
    )
    first = spawn_service(OWNER, "media")
    try:
        recorder.wait("ServiceDidConnect")
        old = client.ping("media")
        first.send_signal(signal.SIGKILL)
        first.wait(5)
        recorder.wait("ServiceDidDisconnect")
        with pytest.raises(BusError):
            client.call("media", "ping", timeout=0.3)
        spawn_service(OWNER, "media")
        restarted = recorder.wait("ServiceDidRestart")
        assert restarted.data.previous_instance == old["instance"]
        new = client.ping("media")
        assert new["pid"] != old["pid"] and new["instance"] == restarted.data.instance
        owner_subscribed(client)  # events flow again on the new instance
        client.call("media", "emit", count=1)
        recorder.wait("test.tick")
    finally:
        recorder.close()


def test_what_a_caller_gave_up_on_never_reaches_the_services_next_instance(
    spawn_service: Spawn, client: BusClient
) -> None:
    """Requests to a service that is down wait for it only as long as their caller
    does: none is left in a queue for its next instance to carry out later
    (ZMQ_IMMEDIATE; a media worker would make a stream no facade object knows)."""
    first = spawn_service("sipsimple_services.media", "media")
    client.ping("media")  # this thread's connection was up when the service died
    first.send_signal(signal.SIGKILL)
    first.wait(5)
    with pytest.raises(ServiceUnavailable):
        client.call("media", "create_stream", timeout=0.5, address="127.0.0.1")
    future = client.call_async("media", "create_stream", {"address": "127.0.0.1"}, timeout=0.5)
    with pytest.raises(ServiceUnavailable):
        future.result(15)
    spawn_service("sipsimple_services.media", "media")
    # Each connection's requests are answered in order: anything still queued on
    # this thread's or the bus thread's would be carried out before these pings.
    client.ping("media")
    client.call_async("media", "ping").result(15)
    assert client.call("media", "owned") == {"streams": [], "ports": []}
    assert client.call("media", "resources")["objects"]["streams"] == 0


def test_process_wide_bus(runtime: object) -> None:
    bus = get_bus()
    assert get_bus() is bus and bus.running
    reset_bus()
    assert not bus.running
    assert get_bus() is not bus
    reset_bus()
