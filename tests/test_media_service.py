"""The media service process (`python -m sipsimple_services.media`) over the bus.

Two streams in the service send to each other on loopback: a tone played
into one, the other's audio recorded to a WAV file and checked by FFT, for
every codec with and without SRTP; DTMF both ways, hold, RTP timeout,
hostile datagrams, and a client going away.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pylibsrtp
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
    timeout: float = 10, sender: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """`stream`'s stats once `check` accepts them; a failure shows `sender`'s too."""
    deadline = time.monotonic() + timeout
    while True:
        current = stats(bus, stream)
        if check(current):
            return current
        if time.monotonic() > deadline:
            seen = "" if sender is None else f"; the sender's: {stats(bus, sender)}"
            raise AssertionError(f"stats never matched: {current}{seen}")
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
    assert 16384 <= a["rtp_port"] < a["rtcp_port"] <= 32767
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
        for seq in range(5):  # a stray source: not the latched address
            attacker.sendto(rtp_packet(0, 5000 + seq, 0xBADBAD), target)
        for _ in range(3):
            attacker.sendto(b"\x81\xc8\x00\x01garbage", ("127.0.0.1", b["rtcp_port"]))
            attacker.sendto(garbage.randbytes(64), ("127.0.0.1", b["rtcp_port"]))

    def counted(after: dict[str, Any]) -> bool:
        dropped = after["dropped"]
        if srtp:
            # what looks like RTP fails authentication; the rest is dropped by its shape
            return bool(after["srtp_failures"] >= 2 + 3 and dropped.get("short", 0) >= 6)
        # RTCP from another port than A's: whether it is parsed depends on whether
        # A's own RTCP has fixed its RTCP address yet
        return bool(dropped.get("short", 0) >= 6 and dropped.get("payload-type", 0) >= 3
                    and dropped.get("foreign-source", 0) >= 5
                    and after["rtp_dropped_foreign"] >= 5
                    and dropped.get("rtcp-malformed", 0)
                    + dropped.get("rtcp-foreign-source", 0) >= 3)

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


def test_ids_the_client_chooses_idempotent_creates_and_ends_before_creates(
    bus: BusClient
) -> None:
    """The facade names its objects so that a create it stopped waiting for can be
    ended (services/media/object_ids.py): asked again, a create answers the same;
    ended before it came, it is refused; `owned` lists what the client made."""
    import uuid

    stream_id, port_id = uuid.uuid4().hex, f"tone-{uuid.uuid4().hex[:16]}"
    first = call(bus, "create_stream", address="127.0.0.1", stream_id=stream_id)
    assert first["stream_id"] == stream_id
    assert first["instance"] == call(bus, "ping")["instance"]
    again = call(bus, "create_stream", address="127.0.0.1", stream_id=stream_id)
    assert again == first  # the same stream, no second one
    port = call(bus, "create_port", kind="tone", params={"frequencies": [440]},
                port_id=port_id)
    assert port["port_id"] == port_id
    assert call(bus, "create_port", kind="tone", params={"frequencies": [440]},
                port_id=port_id) == port
    assert call(bus, "owned") == {"streams": [stream_id], "ports": [port_id]}
    assert call(bus, "resources")["objects"]["streams"] == 1
    # another client may neither take nor see them
    other = BusClient(services=["media"], post_notifications=False)
    other.start()
    try:
        with pytest.raises(ServiceError) as error:
            other.call("media", "create_stream", address="127.0.0.1", stream_id=stream_id)
        assert error.value.code == "forbidden"
        assert other.call("media", "owned") == {"streams": [], "ports": []}
    finally:
        other.stop()
    call(bus, "end_stream", stream_id=stream_id)
    call(bus, "destroy_port", port_id=port_id)
    # ended before it was made: the create that comes late makes nothing
    late_stream, late_port = uuid.uuid4().hex, f"player-{uuid.uuid4().hex[:16]}"
    for method, key, late in (("end_stream", "stream_id", late_stream),
                              ("destroy_port", "port_id", late_port)):
        with pytest.raises(ServiceError) as error:
            call(bus, method, **{key: late})
        assert error.value.code == "not-found"
    with pytest.raises(ServiceError, match="ended before it was made") as error:
        call(bus, "create_stream", address="127.0.0.1", stream_id=late_stream)
    assert error.value.code == "not-found"
    with pytest.raises(ServiceError, match="ended before it was made"):
        call(bus, "create_port", kind="player", params={"filename": "/nowhere.wav"},
             port_id=late_port)
    assert call(bus, "owned") == {"streams": [], "ports": []}
    # ids of another shape are refused
    for method, params in (
        ("create_stream", {"address": "127.0.0.1", "stream_id": "voice-device"}),
        ("create_stream", {"address": "127.0.0.1", "stream_id": stream_id.upper()}),
        ("create_port", {"kind": "tone", "params": {"frequencies": [440]},
                         "port_id": "voice-device"}),
        ("create_port", {"kind": "tone", "params": {"frequencies": [440]},
                         "port_id": f"player-{uuid.uuid4().hex[:16]}"}),
    ):
        with pytest.raises(ServiceError) as error:
            call(bus, method, **params)
        assert error.value.code == "invalid-params"
    assert call(bus, "resources")["objects"]["streams"] == 0


def test_bad_requests(bus: BusClient, tmp_path: Path) -> None:
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
        ("create_port", {"kind": "player", "params": {"filename": str(tmp_path / "none.wav")}},
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
    configured = call(bus, "configure", port_range=[40100, 40104])
    assert configured["port_range"] == [40100, 40104] and configured["rtp_timeout"] == 30
    made = [call(bus, "create_stream", address="127.0.0.1") for _ in range(2)]
    assert sorted(s["rtp_port"] for s in made) == [40100, 40102]
    with pytest.raises(ServiceError) as error:
        call(bus, "create_stream", address="127.0.0.1")
    assert error.value.code == "failed"
    call(bus, "end_stream", stream_id=made[0]["stream_id"])
    again = call(bus, "create_stream", address="127.0.0.1")
    assert again["rtp_port"] == made[0]["rtp_port"]


def test_the_default_port_range_holds_300_local_calls(bus: BusClient) -> None:
    # Both ends of every call in this service: 600 streams, 1200 sockets.
    made = [call(bus, "create_stream", address="127.0.0.1") for _ in range(600)]
    ports = {s["rtp_port"] for s in made}
    assert len(ports) == 600 and all(16384 <= p <= 32766 and p % 2 == 0 for p in ports)
    for stream in made:
        call(bus, "end_stream", stream_id=stream["stream_id"])


def test_an_exhausted_port_range_names_the_setting(bus: BusClient) -> None:
    call(bus, "configure", port_range=[40110, 40112])
    call(bus, "create_stream", address="127.0.0.1")
    with pytest.raises(ServiceError) as error:
        call(bus, "create_stream", address="127.0.0.1")
    assert error.value.code == "failed" and "rtp.port_range" in str(error.value)


def service_threads(bus: BusClient) -> int:
    return len(os.listdir(f"/proc/{call(bus, 'ping')['pid']}/task"))


def test_overload_keeps_every_call_and_ends_with_the_load(
    bus: BusClient, events: Recorder
) -> None:
    # Opus calls, both ends in the service, until its clock cannot make every
    # tick: more encoding than its core can do. A plays a tone; B decodes what
    # it gets and echoes it (decoded and encoded again).
    pairs: list[tuple[dict[str, Any], dict[str, Any]]] = []

    def add(count: int) -> None:
        for _ in range(count):
            a, b = pair(bus, "opus")
            tone_into(bus, a)
            call(bus, "connect_ports", source=b["stream_id"], sink=b["stream_id"])
            pairs.append((a, b))

    def clock() -> dict[str, Any]:
        result: dict[str, Any] = stats(bus, pairs[0][0])["clock"]
        return result

    def frames(c: dict[str, Any]) -> int:
        return int(c["ticks"] + c["skipped"])

    add(4)
    wait_stats(bus, pairs[0][1], lambda s: s["packets_received"] > 10)
    threads = service_threads(bus)
    while True:
        add(10)
        start = clock()
        while frames(now := clock()) < frames(start) + 25:  # half a second of frames
            time.sleep(0.05)
        if now["skipped"] > start["skipped"]:
            break
        assert len(pairs) < 400, "no overload with 800 opus streams"
    assert service_threads(bus) == threads  # codecs start no threads of their own
    # Eight seconds of frames overloaded: past the client timeout (6 s) and the
    # facade's 3 s of silence before it calls a service gone. A skip above may
    # have come from another process's burst on a shared machine: the window
    # counts only if the clock skipped in it too, else more calls are added.
    while True:
        streams = [stream for both in pairs for stream in both]
        before = {s["stream_id"]: stats(bus, s)["packets_received"] for s in streams}
        start = clock()
        while frames(clock()) < frames(start) + 400:
            assert call(bus, "ping")["service"] == "media"  # answered at 100% CPU
            time.sleep(0.1)
        if clock()["skipped"] > start["skipped"]:
            break
        assert len(pairs) < 400, "no overload with 800 opus streams"
        add(10)
    after = {s["stream_id"]: stats(bus, s) for s in streams}  # every stream is still there
    assert all(after[k]["packets_received"] > before[k] for k in before)  # and receiving
    assert sum(s["skipped"] for s in after.values()) > 0  # the skipped frames are counted
    assert bus.state["media"].available
    assert not [n for n in events.seen if n.name in (
        "media.stream_failed", "media.stream_ended", "ServiceDidDisconnect")]
    # (the harness's ping client may expire, owning nothing)
    assert not [n for n in events.seen if n.name == "service.client_expired" and n.data.objects]
    # The load drops: the clock keeps time again.
    for a, b in pairs[1:]:
        call(bus, "end_stream", stream_id=a["stream_id"])
        call(bus, "end_stream", stream_id=b["stream_id"])
    mark = clock()
    deadline = time.monotonic() + 60
    while frames(now := clock()) < frames(mark) + 25 or now["skipped"] != mark["skipped"]:
        if now["skipped"] != mark["skipped"]:
            mark = now  # a frame was skipped: start the quiet half second again
        assert time.monotonic() < deadline, f"the clock still skips ticks: {now}"
        time.sleep(0.05)
    wait_stats(bus, pairs[0][1], lambda s: s["packets_received"] > after[
        pairs[0][1]["stream_id"]]["packets_received"] + 10)


# A facade with opus calls, both ends in the service, and no goodbye: killed.
KILLED_CLIENT = """
import json, sys, time
from sipsimple.bus.client import BusClient
pairs, media = int(sys.argv[1]), json.loads(sys.argv[2])
bus = BusClient(services=["media"], post_notifications=False)
bus.start()
call = lambda method, **params: bus.call("media", method, timeout=30, **params)
for _ in range(pairs):
    a = call("create_stream", address="127.0.0.1")
    b = call("create_stream", address="127.0.0.1")
    for x, y in ((a, b), (b, a)):
        m = dict(media, remote_port=y["rtp_port"], remote_rtcp_port=y["rtcp_port"])
        call("start_stream", stream_id=x["stream_id"], media=m)
    tone = call("create_port", kind="tone", params={"frequencies": [1000]})["port_id"]
    call("connect_ports", source=tone, sink=a["stream_id"])
    call("connect_ports", source=b["stream_id"], sink=b["stream_id"])
print("ready", flush=True)
time.sleep(600)
"""


def test_a_killed_client_under_overload_loses_its_objects_and_the_load_ends(
    spawn_service: Callable[..., Any], events: Recorder
) -> None:
    spawn_service("sipsimple_services.media", "media", SIPSIMPLE_CLIENT_TIMEOUT="3")
    bus = get_bus()
    pairs = 100  # 200 opus streams: more than this machine's core encodes in time
    client = subprocess.Popen(
        [sys.executable, "-c", KILLED_CLIENT, str(pairs), json.dumps(media({"rtp_port": 0,
                                                                           "rtcp_port": 0},
                                                                          "opus"))],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert client.stdout is not None and client.stdout.readline() == "ready\n"
    finally:
        client.kill()
        client.wait()
    expired = events.wait(
        lambda n: n.name == "service.client_expired" and len(n.data.objects) == 3 * pairs,
        timeout=60,
    )
    assert expired.data.reason == "heartbeat stopped"
    probe = call(bus, "create_stream", address="127.0.0.1")  # the service serves on
    mark = stats(bus, probe)["clock"]
    deadline = time.monotonic() + 60
    while True:  # and its clock keeps time again: half a second without a skipped tick
        now = stats(bus, probe)["clock"]
        if now["skipped"] != mark["skipped"]:
            mark = now
        elif now["ticks"] >= mark["ticks"] + 25:
            break
        assert time.monotonic() < deadline, f"the clock still skips ticks: {now}"
        time.sleep(0.05)
    assert len([n for n in events.seen if n.name == "media.stream_ended"]) == 2 * pairs


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
    # (one run of a full suite saw b take a single packet from a, then nothing)
    wait_stats(bus, b, lambda s: s["packets_received"] > 10, sender=a)
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


class Peer:
    """The far end of a stream, played by this test: RTP (SRTP with pylibsrtp when
    given a key) from its own two sockets on 127.0.0.1, 50 packets a second."""

    def __init__(self, key: bytes | None = None, their_key: bytes | None = None) -> None:
        self.rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.rtcp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for sock in (self.rtp, self.rtcp):
            sock.bind(("127.0.0.1", 0))
            sock.settimeout(0.5)
        self.ssrc = 0x5EED5
        self.target: tuple[str, int] | None = None
        self._out = self._in = None
        if key is not None and their_key is not None:
            profile = pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80
            self._out = pylibsrtp.Session(pylibsrtp.Policy(
                key=key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND, srtp_profile=profile))
            self._in = pylibsrtp.Session(pylibsrtp.Policy(
                key=their_key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND, srtp_profile=profile))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._send, daemon=True)
        self.old_sockets: list[socket.socket] = []

    def rebind(self) -> None:
        """Send from another port from now on (a NAT's new mapping)."""
        fresh = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        fresh.bind(("127.0.0.1", 0))
        fresh.settimeout(0.5)
        self.old_sockets.append(self.rtp)
        self.rtp = fresh

    @property
    def ports(self) -> dict[str, int]:
        return {"rtp_port": self.rtp.getsockname()[1], "rtcp_port": self.rtcp.getsockname()[1]}

    def start(self, target: tuple[str, int]) -> None:
        self.target = target
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)
        for sock in (self.rtp, self.rtcp, *self.old_sockets):
            sock.close()

    def _send(self) -> None:
        assert self.target is not None
        n = 0
        while not self._stop.is_set():
            packet = rtp_packet(0, 100 + n, self.ssrc)
            self.rtp.sendto(self._out.protect(packet) if self._out else packet, self.target)
            n += 1
            self._stop.wait(0.02)  # the stream's pace, not a synchronisation

    def drain_rtcp(self) -> None:
        self.rtcp.setblocking(False)
        try:
            while True:
                self.rtcp.recv(2048)
        except BlockingIOError:
            pass
        finally:
            self.rtcp.settimeout(0.5)

    def srtcp_report(self, timeout: float = 20) -> bytes:
        """The next RTCP compound the stream sends to our RTCP socket, unprotected."""
        assert self._in is not None
        deadline = time.monotonic() + timeout
        while True:
            try:
                data = self.rtcp.recv(2048)
            except TimeoutError:
                assert time.monotonic() < deadline, "no RTCP report arrived"
                continue
            return bytes(self._in.unprotect_rtcp(data))


def test_a_peer_behind_nat_is_learnt(bus: BusClient) -> None:
    # The SDP names a port (as a NAT'd peer's private address would) that the
    # peer's packets do not come from: the stream learns where they come from.
    peer = Peer()
    elsewhere = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        elsewhere.bind(("127.0.0.1", 0))
        sdp = {"rtp_port": elsewhere.getsockname()[1], "rtcp_port": elsewhere.getsockname()[1]}
        b = call(bus, "create_stream", address="127.0.0.1")
        call(bus, "start_stream", stream_id=b["stream_id"], media=media(sdp))
        peer.start(("127.0.0.1", b["rtp_port"]))
        wait_stats(bus, b, lambda s: s["packets_received"] > 10)
        data, source = peer.rtp.recvfrom(2048)  # b sends to the peer now
        assert source == ("127.0.0.1", b["rtp_port"]) and data[0] >> 6 == 2
    finally:
        peer.close()
        elsewhere.close()


def test_a_nat_rebinding_is_followed_only_after_a_new_offer_answer(bus: BusClient) -> None:
    peer = Peer()
    elsewhere = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        elsewhere.bind(("127.0.0.1", 0))
        sdp = media({"rtp_port": elsewhere.getsockname()[1],
                     "rtcp_port": elsewhere.getsockname()[1]})
        b = call(bus, "create_stream", address="127.0.0.1")
        call(bus, "start_stream", stream_id=b["stream_id"], media=sdp)
        peer.start(("127.0.0.1", b["rtp_port"]))
        wait_stats(bus, b, lambda s: s["packets_received"] > 10)
        peer.rebind()
        # The new mapping's packets are dropped; b still sends to the old one.
        dropped = wait_stats(bus, b, lambda s: s["rtp_dropped_foreign"] > 10)
        assert dropped["dropped"]["foreign-source"] == dropped["rtp_dropped_foreign"]
        peer.old_sockets[0].recvfrom(2048)
        # A new offer/answer with the same SDP lets b learn the new mapping.
        call(bus, "update_stream", stream_id=b["stream_id"], media=sdp, relearn=True)
        data, source = peer.rtp.recvfrom(2048)
        assert source == ("127.0.0.1", b["rtp_port"]) and data[0] >> 6 == 2
    finally:
        peer.close()
        elsewhere.close()


def test_plaintext_rtcp_under_srtp_is_dropped_and_counted(bus: BusClient) -> None:
    ours, theirs = os.urandom(30), os.urandom(30)
    peer = Peer(theirs, ours)
    intruder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        intruder.bind(("127.0.0.1", 0))  # the peer's host, another port
        intruder.settimeout(0.2)
        b = call(bus, "create_stream", address="127.0.0.1")
        srtp = {"suite": "AES_CM_128_HMAC_SHA1_80", "tag": 1, "local_key": ours,
                "remote_key": theirs}
        call(bus, "start_stream", stream_id=b["stream_id"], media=media(peer.ports, srtp=srtp))
        peer.start(("127.0.0.1", b["rtp_port"]))
        before = wait_stats(bus, b, lambda s: s["packets_received"] > 10)
        peer.drain_rtcp()  # what follows shows where reports go after the injection
        # An 8-byte RR, a lone BYE and an RR+BYE naming the peer's SSRC, in plaintext.
        rr = struct.pack("!BBHI", 0x80, 201, 1, 0xBAD)
        bye = struct.pack("!BBHI", 0x81, 203, 1, peer.ssrc)
        for data in (rr, bye, rr + bye):
            intruder.sendto(data, ("127.0.0.1", b["rtcp_port"]))
        after = wait_stats(bus, b, lambda s: s["srtcp_failures"] >= 3)
        assert after["srtcp_failures"] == after["dropped"]["srtcp"] == 3
        assert after["rtcp_received"] == before["rtcp_received"]
        # Reception was not reset (a reset source's next packet would be a
        # probation drop) and the stream's reports still go to the peer's RTCP port.
        report = peer.srtcp_report()
        assert report[1] in (200, 201) and struct.unpack("!I", report[4:8])[0] != peer.ssrc
        with pytest.raises(TimeoutError):
            intruder.recv(2048)
        final = stats(bus, b)
        assert final["dropped"].get("probation", 0) == before["dropped"].get("probation", 0)
        assert final["packets_received"] > after["packets_received"] and final["lost"] == 0
    finally:
        peer.close()
        intruder.close()


def test_files_outside_the_allowed_directories_are_refused(bus: BusClient) -> None:
    # A directory the tests did not configure (they allow their tmp_path tree).
    outside = Path(tempfile.mkdtemp(prefix="ss-outside-", dir="/tmp"))
    try:
        victim = outside / "victim.wav"
        for kind, params in (("recorder", {"filename": str(victim)}),
                             ("player", {"filename": str(victim)}),
                             ("recorder", {"filename": "relative.wav"})):
            with pytest.raises(ServiceError) as error:
                call(bus, "create_port", kind=kind, params=params)
            assert error.value.code == "forbidden"
            assert "outside the directories" in error.value.message or (
                "absolute" in error.value.message)
        assert not victim.exists()
        # Configured (as the facade does from the settings), the directory is usable.
        configured = call(bus, "configure", directories=[str(outside)])
        assert str(outside) in configured["directories"]
        port = call(bus, "create_port", kind="recorder", params={"filename": str(victim)})
        call(bus, "destroy_port", port_id=port["port_id"])
        assert victim.exists()
    finally:
        call(bus, "configure", directories=[])
        shutil.rmtree(outside, ignore_errors=True)


# --- media workers ---------------------------------------------------------------------------


def test_a_second_worker_is_a_media_service_of_its_own(
    spawn_service: Callable[..., Any], monkeypatch: pytest.MonkeyPatch, events: Recorder
) -> None:
    """Worker 1 answers on its own endpoints as "media-1", runs streams, publishes their
    events under its name, says its load, and leaves the sound devices to the first."""
    monkeypatch.setenv("SIPSIMPLE_MEDIA_WORKERS", "2")
    spawn_service("sipsimple_services.media", "media")
    spawn_service("sipsimple_services.media", "media-1", SIPSIMPLE_MEDIA_WORKER="1")
    bus = get_bus()
    assert bus.services == ("dns", "media", "media-1", "msrp", "signalling")
    first, second = bus.ping("media"), bus.ping("media-1")
    assert (first["service"], second["service"]) == ("media", "media-1")
    assert first["pid"] != second["pid"]
    a = bus.call("media-1", "create_stream", address="127.0.0.1")
    b = bus.call("media-1", "create_stream", address="127.0.0.1")
    bus.call("media-1", "start_stream", stream_id=a["stream_id"], media=media(b))
    bus.call("media-1", "start_stream", stream_id=b["stream_id"], media=media(a))
    with pytest.raises(ServiceError) as refused:  # not the first worker's stream
        bus.call("media", "stream_stats", stream_id=a["stream_id"])
    assert refused.value.code == "not-found"
    deadline = time.monotonic() + 10
    while bus.call("media-1", "stream_stats", stream_id=a["stream_id"])["packets_received"] < 10:
        assert time.monotonic() < deadline, "no RTP between the streams of media-1"
        time.sleep(0.05)
    load = bus.ping("media-1")["load"]
    assert (load["index"], load["streams"], load["ports"]) == (1, 2, 0)
    assert bus.ping("media")["load"]["streams"] == 0
    with pytest.raises(ServiceError, match="first media worker"):
        bus.call("media-1", "set_devices", input_device=None, output_device=None)
    bus.call("media-1", "end_stream", stream_id=a["stream_id"])
    ended = events.wait(lambda n: n.name == "media.stream_ended"
                        and n.data.stream_id == a["stream_id"])
    assert ended.data.service == "media-1"
    bus.call("media-1", "end_stream", stream_id=b["stream_id"])


@pytest.mark.parametrize("value", ["x", "64", "-1"])
def test_a_bad_worker_number_stops_the_service_with_a_reason(runtime: Path, value: str) -> None:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "sipsimple_services.media"],
                          env={**os.environ, "SIPSIMPLE_MEDIA_WORKER": value},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "SIPSIMPLE_MEDIA_WORKER" in done.stderr and "Traceback" not in done.stderr
