"""The media service process (`python -m sipsimple_services.media`) over the bus.

Two streams in the service send to each other on loopback: a tone played
into one, the other's audio recorded to a WAV file and checked by FFT, for
every codec with and without SRTP; DTMF both ways, hold, RTP timeout,
hostile datagrams, and a client going away.
"""

from __future__ import annotations

import os
import socket
import time
import wave
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
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
