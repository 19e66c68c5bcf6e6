"""Devices: the null device, listing and the fallback when a device is missing."""

from __future__ import annotations

import numpy as np
import pytest

from sipsimple_services.media import devices
from sipsimple_services.media.devices import (
    NULL,
    DeviceChoice,
    DevicePort,
    available_devices,
    resolve,
)
from sipsimple_services.media.mixer import FRAME_SAMPLES

LISTING = {
    "input": [NULL, "Mic"],
    "output": [NULL, "Speakers"],
    "default": {"input": "Mic", "output": "Speakers"},
}


def test_null_is_always_listed() -> None:
    listing = available_devices()
    assert listing["input"][0] == NULL and listing["output"][0] == NULL
    assert set(listing["default"]) == {"input", "output"}


def test_resolve() -> None:
    assert resolve(None, "input", LISTING) == "Mic"
    assert resolve("system_default", "output", LISTING) == "Speakers"
    assert resolve("Mic", "input", LISTING) == "Mic"
    assert resolve("Mic", "output", LISTING) == NULL  # not an output
    assert resolve("Gone", "input", LISTING) == NULL
    assert resolve(NULL, "output", LISTING) == NULL


def test_null_device_gives_silence_and_wants_nothing() -> None:
    port = DevicePort("voice-device", DeviceChoice(NULL, NULL))
    assert port.pull(True) is None and not port.wants_input
    port.push(np.ones(FRAME_SAMPLES, dtype=np.int16))  # discarded
    assert port.pull(True) is None
    port.close()


def test_a_device_that_cannot_open_falls_back_to_null() -> None:
    # Without sounddevice (or with it, but no such card) the choice becomes null.
    port = DevicePort("voice-device", DeviceChoice("No Such Card", "No Such Card"))
    assert port.choice == DeviceChoice(NULL, NULL) and not port.wants_input


class FakeStream:
    def __init__(self, **kwargs: object) -> None:
        self.kwargs = kwargs
        self.started = self.closed = False
        self.active = True

    def start(self) -> None:
        self.started = True

    def stop(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


class FakeSoundDevice:
    RawStream = RawInputStream = RawOutputStream = FakeStream


def test_frames_cross_between_portaudio_and_the_mixer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(devices, "_sounddevice", lambda: FakeSoundDevice)
    port = DevicePort("voice-device", DeviceChoice("Mic", "Speakers"))
    assert port.choice == DeviceChoice("Mic", "Speakers") and port.wants_input
    stream = port._stream
    assert stream.started and stream.kwargs["samplerate"] == 48000
    # PortAudio's callback: captures one block, plays what the mixer pushed
    captured = np.arange(FRAME_SAMPLES, dtype=np.int16).tobytes()
    out = bytearray(2 * FRAME_SAMPLES)
    port._duplex(captured, out, FRAME_SAMPLES, None, None)
    assert not any(out)  # nothing pushed yet: silence
    frame = port.pull(True)
    assert frame is not None and frame[5] == 5
    port.push(np.full(FRAME_SAMPLES, 7, dtype=np.int16))
    port._duplex(captured, out, FRAME_SAMPLES, None, None)
    assert np.frombuffer(bytes(out), dtype=np.int16)[0] == 7
    port.use(DeviceChoice(NULL, "Speakers"))
    assert isinstance(port._stream, FakeStream) and stream.closed
    port.close()
    assert port._stream is None


def test_a_stream_that_stops_is_unhealthy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(devices, "_sounddevice", lambda: FakeSoundDevice)
    port = DevicePort("voice-device", DeviceChoice(NULL, "Speakers"))
    assert port.healthy and port.wants_input
    port._stream.active = False  # PortAudio stopped it: the card went away
    assert not port.healthy
    port.use(DeviceChoice(NULL, NULL))
    assert port.healthy and not port.wants_input
