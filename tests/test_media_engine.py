"""The engine in this process under gevent: real sockets on loopback, the frame clock,
port allocation, and a failing port that does not stop the rest."""

from __future__ import annotations

import gc
import os
import socket
import time
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import gevent
import numpy as np
import pytest

from sipsimple_services.media.engine import Engine, EngineError, NotFound, PortRangeExhausted
from sipsimple_services.media.mixer import AudioFrame, Port


class Events:
    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, name: str, data: dict[str, Any]) -> None:
        self.seen.append((name, data))

    def named(self, name: str) -> list[dict[str, Any]]:
        return [d for n, d in self.seen if n == name]


def eventually(check: Callable[[], object], what: str, timeout: float = 10) -> None:
    """Let the engine run (gevent) until `check()` holds."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        gevent.sleep(0.02)


@pytest.fixture
def events() -> Events:
    return Events()


@pytest.fixture
def engine(events: Events) -> Iterator[Engine]:
    engine = Engine(events)
    engine.configure([41000, 41100], None)
    engine.start()
    yield engine
    engine.stop()


def media(peer: dict[str, Any]) -> dict[str, Any]:
    return {
        "codec": "PCMU", "payload_type": 0, "local_payload_type": 0, "clock_rate": 8000,
        "sample_rate": 8000, "telephone_event_payload_type": None,
        "local_telephone_event_payload_type": None, "telephone_event_clock_rate": None,
        "ptime": 20, "direction": "sendrecv", "remote_address": "127.0.0.1",
        "remote_port": peer["rtp_port"], "remote_rtcp_address": "127.0.0.1",
        "remote_rtcp_port": peer["rtcp_port"], "rtcp_mux": False, "srtp": None,
    }


def test_two_streams_on_loopback(engine: Engine, events: Events) -> None:
    a = engine.create_stream("127.0.0.1", "voice")
    b = engine.create_stream("127.0.0.1", "voice")
    engine.stream(a["stream_id"]).start(media(b), 0)
    engine.stream(b["stream_id"]).start(media(a), 0)
    eventually(lambda: engine.stream(b["stream_id"]).stats()["packets_received"] > 10,
               "B received packets")
    eventually(lambda: engine.clock.ticks >= 20, "the frame clock ticks")
    assert events.named("media.stream_rtp_changed")
    final = engine.end_stream(a["stream_id"])
    assert final["packets_sent"] > 10
    assert events.named("media.stream_ended")[0]["stream_id"] == a["stream_id"]
    with pytest.raises(NotFound):
        engine.end_stream(a["stream_id"])


@pytest.fixture
def no_cycle_collection() -> Iterator[None]:
    gc.collect()
    gc.disable()
    yield
    gc.enable()


@pytest.mark.usefixtures("no_cycle_collection")
def test_an_ended_stream_is_freed_at_once_not_by_the_garbage_collector(
    engine: Engine, events: Events
) -> None:
    # A stream in a reference cycle waits for a full collection, which a busy service
    # makes rarely: hundreds of ended streams (and their C-side SRTP and codec state)
    # piled up between two and raised the heap's high-water mark (bench/README.md, soak).
    a = engine.create_stream("127.0.0.1", "voice")
    b = engine.create_stream("127.0.0.1", "voice")
    ka, kb = os.urandom(30), os.urandom(30)
    suite = "AES_CM_128_HMAC_SHA1_80"
    dtmf = {"telephone_event_payload_type": 101, "local_telephone_event_payload_type": 101,
            "telephone_event_clock_rate": 8000}
    first, second = engine.stream(a["stream_id"]), engine.stream(b["stream_id"])
    first.start({**media(b), **dtmf, "srtp": {"suite": suite, "tag": 1, "local_key": ka,
                                               "remote_key": kb}}, time.time())
    second.start({**media(a), **dtmf, "srtp": {"suite": suite, "tag": 1, "local_key": kb,
                                                "remote_key": ka}}, time.time())
    engine.connect(a["stream_id"], b["stream_id"], True)
    first.send_dtmf("5")
    eventually(lambda: engine.stream(b["stream_id"]).stats()["packets_received"] > 10,
               "B received packets")
    first.update({**media(b), **dtmf, "direction": "sendonly", "srtp": {
        "suite": suite, "tag": 1, "local_key": ka, "remote_key": kb}}, time.time())
    refs = [weakref.ref(first), weakref.ref(second)]
    del first, second
    engine.end_stream(a["stream_id"])
    engine.end_stream(b["stream_id"])
    # (a tick that yielded halfway holds them until it resumes)
    eventually(lambda: [ref() for ref in refs] == [None, None], "the ended streams freed", 5)


@pytest.mark.usefixtures("no_cycle_collection")
def test_an_ended_stream_with_ice_is_freed_at_once_too(engine: Engine) -> None:
    a = engine.create_stream("127.0.0.1", "voice")
    engine.ice_gather(a["stream_id"], [], None, False)
    freed = weakref.ref(engine.stream(a["stream_id"]))
    engine.end_stream(a["stream_id"])
    eventually(lambda: freed() is None, "the ended stream freed", 5)


def test_port_allocation_skips_ports_in_use_and_wraps(engine: Engine) -> None:
    engine.configure([41200, 41206], None)
    blocker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    blocker.bind(("127.0.0.1", 41203))  # the RTCP port of the second pair
    try:
        first = engine.create_stream("127.0.0.1", "voice")
        second = engine.create_stream("127.0.0.1", "voice")
        # wherever in the range it started looking
        assert sorted((first["rtp_port"], second["rtp_port"])) == [41200, 41204]
        with pytest.raises(PortRangeExhausted):
            engine.create_stream("127.0.0.1", "voice")
        engine.end_stream(first["stream_id"])
        assert engine.create_stream("127.0.0.1", "voice")["rtp_port"] == first["rtp_port"]
    finally:
        blocker.close()


def test_allocation_starts_at_a_random_place_in_the_range(engine: Engine) -> None:
    """Not at the range's start: a service started again would otherwise take at once
    the ports whose old peers may still be sending."""
    starts = set()
    for _ in range(20):
        engine.configure([20000, 30000], None)
        stream = engine.create_stream("127.0.0.1", "voice")
        assert 20000 <= stream["rtp_port"] < 30000 and stream["rtp_port"] % 2 == 0
        starts.add(stream["rtp_port"])
        engine.end_stream(stream["stream_id"])
    assert len(starts) > 1  # 20 draws from 5,000 pairs: all equal once in 10^70


def test_bad_addresses_and_ranges(engine: Engine) -> None:
    with pytest.raises(ValueError):
        engine.create_stream("localhost", "voice")
    with pytest.raises(EngineError):
        engine.create_stream("192.0.2.1", "voice")
    with pytest.raises(NotFound):
        engine.create_stream("127.0.0.1", "music")
    for bad in ([1], [5, 5], [0, 10], [10, 70000], ["a", "b"], [True, 5]):
        with pytest.raises(ValueError):
            engine.configure(bad, None)
    engine.configure([41301, 41302], None)  # no even port with room for RTCP
    with pytest.raises(PortRangeExhausted):
        engine.create_stream("127.0.0.1", "voice")


def wait_until(check: Callable[[], bool], timeout: float = 30) -> None:
    """Let the engine run until `check()` holds (AssertionError after `timeout`)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("the condition never held")
        gevent.sleep(0.01)


class Slow(Port):
    """Burns `seconds` of CPU in each of its first `ticks` pulls: a tick's work
    longer than the frame, as when more streams are encoded than a core can."""

    def __init__(self, port_id: str, seconds: float, ticks: int) -> None:
        super().__init__(port_id)
        self.seconds = seconds
        self.ticks = ticks
        self.pulls = 0

    def pull(self, needed: bool) -> AudioFrame | None:
        self.pulls += 1
        if self.pulls <= self.ticks:
            end = time.perf_counter() + self.seconds
            while time.perf_counter() < end:
                pass
        return None


def test_an_overloaded_clock_lets_the_rest_run_skips_ticks_and_recovers(
    engine: Engine,
) -> None:
    a = engine.create_stream("127.0.0.1", "voice")
    b = engine.create_stream("127.0.0.1", "voice")
    engine.stream(a["stream_id"]).start(media(b), 0)
    engine.stream(b["stream_id"]).start(media(a), 0)
    received = engine.stream(b["stream_id"]).stats
    wait_until(lambda: received()["packets_received"] > 5)
    slow = Slow("slow", 0.035, 40)  # each tick takes almost two frames
    engine.mixers["voice"].add(slow)
    # This greenlet stands for the bus: it notes the overload's progress and
    # b's packets each time it gets to run.
    seen: list[tuple[int, int]] = []
    while slow.pulls < slow.ticks:
        gevent.sleep(0.005)
        seen.append((slow.pulls, received()["packets_received"]))
    during = [packets for pulls, packets in seen if 0 < pulls < slow.ticks]
    assert len(during) >= 2, seen  # it ran while the clock was overloaded
    assert during[-1] > during[0]  # and so did the sockets' receiving
    assert engine.clock.skipped > 0 and engine.clock.resyncs > 0
    assert engine.stream(a["stream_id"]).stats()["skipped"] > 0
    # Overload over: the clock keeps time again, and the streams never stopped.
    clock = engine.clock
    mark = (clock.ticks, clock.skipped)

    def recovered() -> bool:
        nonlocal mark
        if clock.skipped != mark[1]:
            mark = (clock.ticks, clock.skipped)
        return clock.ticks - mark[0] >= 25  # half a second of ticks, none skipped

    wait_until(recovered, timeout=60)
    packets = received()["packets_received"]
    wait_until(lambda: received()["packets_received"] > packets + 5)
    assert engine.stream(a["stream_id"]).failed is None


class Exploding(Port):
    def pull(self, needed: bool) -> AudioFrame | None:
        raise RuntimeError("boom")


def test_a_failing_port_leaves_the_mix_and_the_rest_goes_on(engine: Engine,
                                                             events: Events) -> None:
    recorder_sink = engine.create_port("tone", {"frequencies": [440]}, "voice")
    engine.mixers["voice"].add(Exploding("bad"))
    engine.ports["bad"] = ("voice", engine.mixers["voice"].ports["bad"])
    engine.connect("bad", "voice-device", True)
    eventually(lambda: "bad" not in engine.mixers["voice"].ports, "the bad port left the mix")
    assert events.named("media.port_done") == [{"port_id": "bad"}]
    engine.destroy_port("bad")
    ticks = engine.clock.ticks
    eventually(lambda: engine.clock.ticks > ticks, "the clock goes on")
    engine.destroy_port(recorder_sink)


def test_tone_with_duration_reports_done_once(engine: Engine, events: Events) -> None:
    port = engine.create_port("tone", {"frequencies": [440], "duration": 0.05}, "alert")
    eventually(lambda: events.named("media.port_done"), "the tone reported done")
    ticks = engine.clock.ticks
    eventually(lambda: engine.clock.ticks >= ticks + 10, "the clock goes on")  # no second one
    assert events.named("media.port_done") == [{"port_id": port}]
    with pytest.raises(EngineError):
        engine.connect(port, "voice-device", True)  # another mixer
    engine.connect(port, "alert-device", True)
    engine.connect(port, "alert-device", False)
    engine.destroy_port(port)
    with pytest.raises(NotFound):
        engine.destroy_port(port)


def test_devices_fall_back_to_null(engine: Engine, events: Events) -> None:
    assert engine.set_devices("Gone", None, None) == {
        "input": "null", "output": "null", "alert": "null"}
    assert events.named("media.devices_changed") == [
        {"input": "null", "output": "null", "alert": "null"}]
    engine.set_devices(None, None, None)
    assert len(events.named("media.devices_changed")) == 1  # nothing changed, nothing missing
    assert np.array_equal(engine.list_devices()["input"][:1], ["null"])


def test_an_unplugged_device_falls_back_to_null(engine: Engine, events: Events,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from sipsimple_services.media import devices

    class Stream:
        active = True

        def __init__(self, **kwargs: object) -> None:
            pass

        def start(self) -> None:
            pass

        def stop(self) -> None:
            pass

        def close(self) -> None:
            pass

    class SoundDevice:
        RawStream = RawInputStream = RawOutputStream = Stream

        @staticmethod
        def query_devices() -> list[dict[str, Any]]:
            return [{"name": "Card", "max_input_channels": 1, "max_output_channels": 2}]

        class default:
            device = (0, 0)

    monkeypatch.setattr(devices, "_sounddevice", lambda: SoundDevice)
    assert engine.set_devices("Card", "Card", "null") == {
        "input": "Card", "output": "Card", "alert": "null"}
    assert engine.list_devices()["input"] == ["null", "Card"]
    engine.devices["voice"]._stream.active = False
    fallback = {"input": "null", "output": "null", "alert": "null"}
    # checked once a second
    eventually(lambda: fallback in events.named("media.devices_changed"), "devices changed")
    assert events.named("media.devices_changed")[-1] == fallback
    assert engine.device_choice["input"] == "null"
