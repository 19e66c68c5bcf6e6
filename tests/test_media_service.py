"""The media service process (`python -m sipsimple_services.media`) over the bus.

Two streams in the service send to each other on loopback: a tone played
into one, the other's audio recorded to a WAV file and checked by FFT, for
every codec with and without SRTP; DTMF both ways, hold, RTP timeout,
hostile datagrams, and a client going away.
"""

from __future__ import annotations

import os
import random
import socket
import struct
import time
import wave
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from harness.loopback import ipv6_available
from harness.notifications import Recorder

from sipsimple.bus.client import BusClient, ServiceError, get_bus

pytestmark = pytest.mark.integration

TONE = 1000.0
CODECS = {  # name: (payload type, clock rate, sample rate)
    "PCMU": (0, 8000, 8000),
    "PCMA": (8, 8000, 8000),
    "G722": (9, 8000, 16000),
    "opus": (96, 48000, 48000),
}


@pytest.fixture
def bus(spawn_service: Callable[..., Any]) -> BusClient:
    spawn_service("sipsimple_services.media", "media")
    return get_bus()


@pytest.fixture
def events() -> Iterator[Recorder]:
    recorder = Recorder()
    yield recorder
    recorder.close()


def call(bus: BusClient, method: str, **params: Any) -> Any:
    return bus.call("media", method, **params)


def media(
    peer: dict[str, Any],
    codec: str = "PCMU",
    direction: str = "sendrecv",
    srtp: dict[str, Any] | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """start_stream's `media`, as dataclasses.asdict(NegotiatedMedia) gives it."""
    pt, clock, rate = CODECS[codec]
    event_clock = 48000 if codec == "opus" else 8000
    return {
        "codec": codec,
        "payload_type": pt,
        "local_payload_type": pt,
        "clock_rate": clock,
        "sample_rate": rate,
        "telephone_event_payload_type": 101,
        "local_telephone_event_payload_type": 101,
        "telephone_event_clock_rate": event_clock,
        "ptime": 20,
        "direction": direction,
        "remote_address": "127.0.0.1",
        "remote_port": peer["rtp_port"],
        "remote_rtcp_address": "127.0.0.1",
        "remote_rtcp_port": peer["rtcp_port"],
        "rtcp_mux": False,
        "srtp": srtp,
        **overrides,
    }


def keys() -> tuple[dict[str, Any], dict[str, Any]]:
    """SRTP parameters for A and for B (each one's local key is the other's remote key)."""
    ka, kb = os.urandom(30), os.urandom(30)
    suite = "AES_CM_128_HMAC_SHA1_80"
    return (
        {"suite": suite, "tag": 1, "local_key": ka, "remote_key": kb},
        {"suite": suite, "tag": 1, "local_key": kb, "remote_key": ka},
    )


def pair(
    bus: BusClient, codec: str = "PCMU", srtp: bool = False, **overrides: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    a = call(bus, "create_stream", address="127.0.0.1")
    b = call(bus, "create_stream", address="127.0.0.1")
    sa, sb = keys() if srtp else (None, None)
    call(bus, "start_stream", stream_id=a["stream_id"], media=media(b, codec, srtp=sa, **overrides))
    call(bus, "start_stream", stream_id=b["stream_id"], media=media(a, codec, srtp=sb, **overrides))
    return a, b


def stats(bus: BusClient, stream: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = call(bus, "stream_stats", stream_id=stream["stream_id"])
    return result


def wait_stats(
    bus: BusClient, stream: dict[str, Any], check: Callable[[dict[str, Any]], bool],
    timeout: float = 10,
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        current = stats(bus, stream)
        if check(current):
            return current
        if time.monotonic() > deadline:
            raise AssertionError(f"stats never matched: {current}")
        time.sleep(0.05)


def tone_into(bus: BusClient, stream: dict[str, Any], frequency: float = TONE) -> str:
    port: str = call(bus, "create_port", kind="tone", params={"frequencies": [frequency]})[
        "port_id"
    ]
    call(bus, "connect_ports", source=port, sink=stream["stream_id"])
    return port


def record(bus: BusClient, stream: dict[str, Any], path: Path, seconds: float) -> np.ndarray:
    """`seconds` of what `stream` receives, from a recorder port's WAV file."""
    port = call(bus, "create_port", kind="recorder", params={"filename": str(path)})["port_id"]
    call(bus, "connect_ports", source=stream["stream_id"], sink=port)
    time.sleep(seconds)
    call(bus, "destroy_port", port_id=port)
    with wave.open(str(path), "rb") as reader:
        assert (reader.getnchannels(), reader.getsampwidth()) == (1, 2)
        assert reader.getframerate() == 48000
        return np.frombuffer(reader.readframes(reader.getnframes()), dtype="<i2")


def dominant(samples: np.ndarray, rate: int = 48000) -> tuple[float, float]:
    """The strongest frequency and the RMS level of the last second."""
    tail = samples[-rate:].astype(np.float64)
    spectrum = np.abs(np.fft.rfft(tail * np.hanning(len(tail))))
    return float(np.argmax(spectrum) * rate / len(tail)), float(np.sqrt(np.mean(tail**2)))


def test_create_and_end_stream(bus: BusClient, events: Recorder) -> None:
    a = call(bus, "create_stream", address="127.0.0.1")
    assert a["address"] == "127.0.0.1"
    assert a["rtp_port"] % 2 == 0 and a["rtcp_port"] == a["rtp_port"] + 1
    assert 50000 <= a["rtp_port"] < a["rtcp_port"] <= 50500
    b = call(bus, "create_stream", address="127.0.0.1", mixer_id="alert")
    assert b["rtp_port"] != a["rtp_port"]
    final = call(bus, "end_stream", stream_id=a["stream_id"])
    assert final["packets_sent"] == 0 and final["codec"] is None
    ended = events.wait("media.stream_ended")
    assert ended.data.stream_id == a["stream_id"]
    with pytest.raises(ServiceError) as error:
        call(bus, "end_stream", stream_id=a["stream_id"])
    assert error.value.code == "not-found"
    # the port pair is free again
    for port in (a["rtp_port"], a["rtcp_port"]):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("127.0.0.1", port))
    call(bus, "end_stream", stream_id=b["stream_id"])


@pytest.mark.parametrize("srtp", [False, True], ids=["rtp", "srtp"])
@pytest.mark.parametrize("codec", list(CODECS))
def test_tone_through_two_streams(
    bus: BusClient, events: Recorder, tmp_path: Path, codec: str, srtp: bool
) -> None:
    a, b = pair(bus, codec, srtp)
    started = events.wait(
        lambda n: n.name == "media.stream_started" and n.data.stream_id == b["stream_id"]
    )
    assert (started.data.codec, started.data.srtp) == (codec, srtp)
    tone_into(bus, a)
    wait_stats(bus, b, lambda s: s["packets_received"] > 10)
    samples = record(bus, b, tmp_path / "b.wav", 1.5)
    frequency, level = dominant(samples)
    assert abs(frequency - TONE) <= 2
    # the tone is at half of full scale: an RMS of 0.5 * 32767 / sqrt(2)
    assert 0.7 * 11585 < level < 1.3 * 11585, level
    final = stats(bus, b)
    assert final["srtp"] is srtp and final["srtp_failures"] == 0
    assert final["lost"] == 0 and final["codec"] == codec
    # B hears no tone and sends silence: A's side records nothing but (near) silence
    quiet = record(bus, a, tmp_path / "a.wav", 0.5)
    assert np.sqrt(np.mean(quiet[-12000:].astype(np.float64) ** 2)) < 100


def test_audio_both_ways(bus: BusClient, tmp_path: Path) -> None:
    a, b = pair(bus, "G722", srtp=True)
    tone_into(bus, a, 800)
    tone_into(bus, b, 1200)
    wait_stats(bus, a, lambda s: s["packets_received"] > 10)
    wait_stats(bus, b, lambda s: s["packets_received"] > 10)
    assert dominant(record(bus, b, tmp_path / "b.wav", 1.2))[0] == pytest.approx(800, abs=2)
    assert dominant(record(bus, a, tmp_path / "a.wav", 1.2))[0] == pytest.approx(1200, abs=2)


@pytest.mark.parametrize("codec", ["PCMU", "opus"])
def test_dtmf_both_ways(bus: BusClient, events: Recorder, codec: str) -> None:
    a, b = pair(bus, codec, srtp=True)
    wait_stats(bus, b, lambda s: s["packets_received"] > 5)
    for digit in "1#":
        call(bus, "send_dtmf", stream_id=a["stream_id"], digit=digit)
    call(bus, "send_dtmf", stream_id=b["stream_id"], digit="D")

    def digits(stream: dict[str, Any]) -> list[str]:
        return [
            n.data.digit for n in events.named("media.stream_dtmf")
            if n.data.stream_id == stream["stream_id"]
        ]

    events.wait(lambda n: digits(b) == ["1", "#"] and digits(a) == ["D"])
    durations = {n.data.duration_ms for n in events.named("media.stream_dtmf")}
    assert durations == {100}
    with pytest.raises(ServiceError) as error:
        call(bus, "send_dtmf", stream_id=a["stream_id"], digit="x")
    assert error.value.code == "invalid-params"


def test_dtmf_needs_telephone_event(bus: BusClient) -> None:
    a, _ = pair(
        bus, telephone_event_payload_type=None, local_telephone_event_payload_type=None,
        telephone_event_clock_rate=None,
    )
    with pytest.raises(ServiceError) as error:
        call(bus, "send_dtmf", stream_id=a["stream_id"], digit="1")
    assert error.value.code == "failed"


def test_hold_and_unhold(bus: BusClient, tmp_path: Path) -> None:
    a, b = pair(bus, "PCMA")
    tone_into(bus, a)
    wait_stats(bus, b, lambda s: s["packets_received"] > 10)
    call(bus, "update_stream", stream_id=a["stream_id"], media=media(b, "PCMA", "recvonly"))
    call(bus, "update_stream", stream_id=b["stream_id"], media=media(a, "PCMA", "sendonly"))
    held = stats(bus, a)["packets_sent"]
    time.sleep(0.6)
    assert stats(bus, a)["packets_sent"] == held  # nothing sent on hold
    assert stats(bus, a)["direction"] == "recvonly"
    # B still sends (sendonly): A keeps receiving
    received = stats(bus, a)["packets_received"]
    wait_stats(bus, a, lambda s: s["packets_received"] > received + 10)
    call(bus, "update_stream", stream_id=a["stream_id"], media=media(b, "PCMA"))
    call(bus, "update_stream", stream_id=b["stream_id"], media=media(a, "PCMA"))
    wait_stats(bus, a, lambda s: s["packets_sent"] > held + 10)
    assert dominant(record(bus, b, tmp_path / "b.wav", 1.2))[0] == pytest.approx(TONE, abs=2)


def test_inactive_sends_rtcp_only(bus: BusClient) -> None:
    a, b = pair(bus, "PCMU", direction="inactive")
    # RTCP goes every 5 s (the first after about 2.5 s); no RTP at all
    final = wait_stats(bus, b, lambda s: s["rtcp_received"] >= 1, timeout=10)
    assert final["packets_received"] == 0 and stats(bus, a)["packets_sent"] == 0


def test_rtp_timeout(bus: BusClient, events: Recorder) -> None:
    call(bus, "configure", rtp_timeout=1)
    quiet = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    quiet.bind(("127.0.0.1", 0))
    port = quiet.getsockname()[1]
    a = call(bus, "create_stream", address="127.0.0.1")
    peer = {"rtp_port": port, "rtcp_port": port}
    call(bus, "start_stream", stream_id=a["stream_id"], media=media(peer))
    timeout = events.wait("media.stream_timeout", timeout=10)
    assert (timeout.data.stream_id, timeout.data.seconds) == (a["stream_id"], 1)
    time.sleep(1.5)
    assert len(events.named("media.stream_timeout")) == 1  # once
    quiet.close()


def test_timeout_not_while_on_hold(bus: BusClient, events: Recorder) -> None:
    call(bus, "configure", rtp_timeout=1)
    a = call(bus, "create_stream", address="127.0.0.1")
    peer = {"rtp_port": 9, "rtcp_port": 9}
    call(bus, "start_stream", stream_id=a["stream_id"], media=media(peer, direction="sendonly"))
    b = call(bus, "create_stream", address="127.0.0.1")  # a probe that the service is ticking
    time.sleep(2)
    assert events.named("media.stream_timeout") == []
    assert b["stream_id"]


def rtp_packet(pt: int, seq: int, ssrc: int, payload: bytes = b"\xff" * 160) -> bytes:
    return struct.pack("!BBHII", 0x80, pt, seq, seq * 160, ssrc) + payload


@pytest.mark.parametrize("srtp", [False, True], ids=["rtp", "srtp"])
def test_hostile_datagrams_are_dropped_and_counted(
    bus: BusClient, tmp_path: Path, srtp: bool
) -> None:
    a, b = pair(bus, "PCMU", srtp)
    tone_into(bus, a)
    wait_stats(bus, b, lambda s: s["packets_received"] > 10)
    target = ("127.0.0.1", b["rtp_port"])
    garbage = random.Random(310)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as attacker:
        for _ in range(3):
            attacker.sendto(b"", target)
            attacker.sendto(b"\x80\x00", target)  # short
            attacker.sendto(b"\x40" + bytes(40), target)  # version 1
            attacker.sendto(rtp_packet(50, 1, 0xBAD), target)  # unknown payload type
            attacker.sendto(garbage.randbytes(200), target)
        for seq in range(2):  # a stray source: fewer than the switch threshold
            attacker.sendto(rtp_packet(0, 5000 + seq, 0xBADBAD), target)
        for _ in range(3):
            attacker.sendto(b"\x81\xc8\x00\x01garbage", ("127.0.0.1", b["rtcp_port"]))
            attacker.sendto(garbage.randbytes(64), ("127.0.0.1", b["rtcp_port"]))

    def counted(after: dict[str, Any]) -> bool:
        dropped = after["dropped"]
        if srtp:
            # what looks like RTP fails authentication; the rest is dropped by its shape
            return bool(after["srtp_failures"] >= 2 + 3 and dropped.get("short", 0) >= 6)
        return bool(dropped.get("short", 0) >= 6 and dropped.get("payload-type", 0) >= 3
                    and dropped.get("foreign-ssrc", 0) >= 2
                    and dropped.get("rtcp-malformed", 0) >= 3)

    after = wait_stats(bus, b, counted)
    # audio goes on
    received = after["packets_received"]
    wait_stats(bus, b, lambda s: s["packets_received"] > received + 20)
    frequency, level = dominant(record(bus, b, tmp_path / "b.wav", 1.2))
    assert frequency == pytest.approx(TONE, abs=2) and level > 0.7 * 11585
    assert stats(bus, b)["lost"] == 0


def test_a_failing_stream_does_not_stop_the_others(bus: BusClient, tmp_path: Path) -> None:
    a, b = pair(bus, "opus")
    tone_into(bus, a)
    # a third stream whose peer sends opus garbage with a valid header
    c = call(bus, "create_stream", address="127.0.0.1")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
        peer.bind(("127.0.0.1", 0))
        port = peer.getsockname()[1]
        call(bus, "start_stream", stream_id=c["stream_id"],
             media=media({"rtp_port": port, "rtcp_port": port + 1}, "opus"))
        sink = call(bus, "create_port", kind="recorder",
                    params={"filename": str(tmp_path / "c.wav")})["port_id"]
        call(bus, "connect_ports", source=c["stream_id"], sink=sink)
        for seq in range(60):
            garbage = rtp_packet(96, seq, 0x1234, b"\xff\xff\xff" * 50)
            peer.sendto(garbage, ("127.0.0.1", c["rtp_port"]))
            time.sleep(0.005)
    wait_stats(bus, b, lambda s: s["packets_received"] > 10)
    assert dominant(record(bus, b, tmp_path / "b.wav", 1.2))[0] == pytest.approx(TONE, abs=2)
    # the bad payloads were dropped and counted, and the stream itself goes on
    broken = wait_stats(bus, c, lambda s: s["dropped"].get("decode", 0) > 0)
    assert broken["packets_received"] > 50


def test_a_client_going_away_releases_its_objects(bus: BusClient, events: Recorder) -> None:
    other = BusClient(services=["media"], post_notifications=False)
    other.start()
    try:
        a = other.call("media", "create_stream", address="127.0.0.1")
        port = other.call("media", "create_port", kind="tone", params={"frequencies": [440]})
    finally:
        other.stop()  # says goodbye
    expired = events.wait("service.client_expired")
    assert set(expired.data.objects) == {a["stream_id"], port["port_id"]}
    ended = events.wait("media.stream_ended")
    assert ended.data.stream_id == a["stream_id"]
    for method, key in (("stream_stats", "stream_id"), ("destroy_port", "port_id")):
        with pytest.raises(ServiceError) as error:
            call(bus, method, **{key: a["stream_id"] if key == "stream_id" else port["port_id"]})
        assert error.value.code == "not-found"


def test_bad_requests(bus: BusClient) -> None:
    a = call(bus, "create_stream", address="127.0.0.1")
    peer = {"rtp_port": 4000, "rtcp_port": 4001}
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("create_stream", {"address": "not-an-address"}, "invalid-params"),
        ("create_stream", {"address": "192.0.2.1"}, "failed"),  # not ours
        ("create_stream", {"address": "127.0.0.1", "mixer_id": "nope"}, "not-found"),
        ("start_stream", {"stream_id": "nope", "media": media(peer)}, "not-found"),
        ("start_stream", {"stream_id": a["stream_id"], "media": {}}, "invalid-params"),
        ("start_stream", {"stream_id": a["stream_id"], "media": media(peer, codec="PCMU",
                                                                      clock_rate=16000)},
         "invalid-params"),
        ("start_stream", {"stream_id": a["stream_id"], "media": media(peer, direction="up")},
         "invalid-params"),
        ("start_stream", {"stream_id": a["stream_id"],
                          "media": media(peer, srtp={"suite": "NULL", "tag": 1,
                                                     "local_key": b"", "remote_key": b""})},
         "invalid-params"),
        ("update_stream", {"stream_id": a["stream_id"], "media": media(peer)}, "failed"),
        ("send_dtmf", {"stream_id": a["stream_id"], "digit": "1"}, "failed"),
        ("create_port", {"kind": "tone", "params": {"frequencies": []}}, "invalid-params"),
        ("create_port", {"kind": "drum", "params": {}}, "invalid-params"),
        ("create_port", {"kind": "player", "params": {"filename": "/nonexistent.wav"}},
         "invalid-params"),
        ("connect_ports", {"source": a["stream_id"], "sink": "nope"}, "not-found"),
        ("connect_ports", {"source": a["stream_id"], "sink": "alert-device"}, "failed"),
        ("destroy_port", {"port_id": "voice-device"}, "not-found"),
        ("configure", {"port_range": [5, 2]}, "invalid-params"),
        ("configure", {"rtp_timeout": -1}, "invalid-params"),
    ]
    for method, params, code in cases:
        with pytest.raises(ServiceError) as error:
            call(bus, method, **params)
        assert error.value.code == code, (method, params, error.value)
    call(bus, "start_stream", stream_id=a["stream_id"], media=media(peer))
    with pytest.raises(ServiceError) as error:
        call(bus, "start_stream", stream_id=a["stream_id"], media=media(peer))
    assert error.value.code == "failed"
    assert call(bus, "ping")["service"] == "media"


def test_port_range(bus: BusClient) -> None:
    assert call(bus, "configure", port_range=[40100, 40104]) == {
        "port_range": [40100, 40104], "rtp_timeout": 30,
    }
    made = [call(bus, "create_stream", address="127.0.0.1") for _ in range(2)]
    assert sorted(s["rtp_port"] for s in made) == [40100, 40102]
    with pytest.raises(ServiceError) as error:
        call(bus, "create_stream", address="127.0.0.1")
    assert error.value.code == "failed"
    call(bus, "end_stream", stream_id=made[0]["stream_id"])
    again = call(bus, "create_stream", address="127.0.0.1")
    assert again["rtp_port"] == made[0]["rtp_port"]


@pytest.mark.skipif(not ipv6_available(), reason="no IPv6 on loopback")
def test_ipv6_stream(bus: BusClient) -> None:
    a = call(bus, "create_stream", address="::1")
    b = call(bus, "create_stream", address="::1")
    for x, y in ((a, b), (b, a)):
        call(bus, "start_stream", stream_id=x["stream_id"],
             media=media(y, remote_address="::1", remote_rtcp_address="::1"))
    wait_stats(bus, b, lambda s: s["packets_received"] > 5)


def test_rtcp_mux_and_symmetric_rtp(bus: BusClient, events: Recorder) -> None:
    a, b = pair(bus, "PCMU", rtcp_mux=True)
    changed = events.wait(
        lambda n: n.name == "media.stream_rtp_changed" and n.data.stream_id == b["stream_id"]
    )
    assert (changed.data.address, changed.data.port) == ("127.0.0.1", a["rtp_port"])
    wait_stats(bus, b, lambda s: s["rtcp_received"] >= 1, timeout=10)
    assert stats(bus, b)["dropped"].get("rtcp-malformed", 0) == 0


def test_player_loops_and_finishes(bus: BusClient, events: Recorder, tmp_path: Path) -> None:
    path = tmp_path / "tone.wav"
    t = np.arange(8000) / 8000
    with wave.open(str(path), "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(8000)
        writer.writeframes((8000 * np.sin(2 * np.pi * 600 * t)).astype("<i2").tobytes()[:3200])
    once = call(bus, "create_port", kind="player", params={"filename": str(path)})["port_id"]
    done = events.wait("media.port_done", timeout=5)
    assert done.data.port_id == once
    a, b = pair(bus, "PCMU")
    looped = call(bus, "create_port", kind="player",
                  params={"filename": str(path), "loop": True})["port_id"]
    call(bus, "connect_ports", source=looped, sink=a["stream_id"])
    wait_stats(bus, b, lambda s: s["packets_received"] > 10)
    assert dominant(record(bus, b, tmp_path / "b.wav", 1.2))[0] == pytest.approx(600, abs=2)
    assert [n.data.port_id for n in events.named("media.port_done")] == [once]


def test_mute(bus: BusClient, tmp_path: Path) -> None:
    a, b = pair(bus, "PCMU")
    tone_into(bus, a)
    call(bus, "set_mute", stream_id=a["stream_id"], muted=True)
    wait_stats(bus, b, lambda s: s["packets_received"] > 10)
    quiet = record(bus, b, tmp_path / "muted.wav", 0.6)
    assert np.abs(quiet[-9600:]).max() < 100
    call(bus, "set_mute", stream_id=a["stream_id"], muted=False)
    assert dominant(record(bus, b, tmp_path / "b.wav", 1.2))[0] == pytest.approx(TONE, abs=2)


def test_devices(bus: BusClient, events: Recorder) -> None:
    devices = call(bus, "list_devices")
    assert "null" in devices["input"] and "null" in devices["output"]
    chosen = call(bus, "set_devices", input_device="no such card", output_device="null",
                  alert_device="missing too")
    assert chosen == {"input": "null", "output": "null", "alert": "null"}
    changed = events.wait("media.devices_changed")
    assert (changed.data.input, changed.data.output, changed.data.alert) == ("null",) * 3
    assert call(bus, "set_devices", input_device=None, output_device=None) == chosen


def test_stats_events(bus: BusClient, events: Recorder) -> None:
    a, b = pair(bus, "PCMU")
    first = events.wait(
        lambda n: n.name == "media.stream_stats" and n.data.stream_id == b["stream_id"]
        and n.data.packets_received > 0,
        timeout=5,
    )
    assert first.data.codec == "PCMU"
    call(bus, "end_stream", stream_id=a["stream_id"])
    call(bus, "end_stream", stream_id=b["stream_id"])
    count = len(events.named("media.stream_stats"))
    time.sleep(1.5)
    assert len(events.named("media.stream_stats")) == count  # ended streams are quiet


def test_a_stream_connected_to_itself_echoes(bus: BusClient, tmp_path: Path) -> None:
    a, b = pair(bus, "G722")
    tone_into(bus, a, 700)
    call(bus, "connect_ports", source=b["stream_id"], sink=b["stream_id"])
    wait_stats(bus, a, lambda s: s["packets_received"] > 10)
    frequency, level = dominant(record(bus, a, tmp_path / "echo.wav", 1.2))
    assert frequency == pytest.approx(700, abs=2) and level > 0.5 * 11585
    call(bus, "disconnect_ports", source=b["stream_id"], sink=b["stream_id"])
    quiet = record(bus, a, tmp_path / "quiet.wav", 0.6)
    assert np.sqrt(np.mean(quiet[-9600:].astype(np.float64) ** 2)) < 100
