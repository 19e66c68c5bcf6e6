"""Audio devices: the null device (the default) and, when available, PortAudio.

`sounddevice` is optional (the `audio` extra): without it, or without a
sound card, only "null" exists. The null device gives silence and discards
what it is given, so its port does not even make the mixer sum its
sources. A real device runs PortAudio's callback thread at 48 kHz mono in
20 ms blocks; frames cross between that thread and the mixer through two
short deques (appends and pops are atomic), bounded so that a stalled side
drops audio instead of growing a delay.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from sipsimple_services.media.mixer import FRAME_SAMPLES, SAMPLE_RATE, AudioFrame, Port

__all__ = ["NULL", "DeviceChoice", "DevicePort", "available_devices", "resolve"]

log = logging.getLogger("sipsimple.media.devices")

NULL = "null"
DEFAULT_NAMES = (None, "system_default", "default")
QUEUE_FRAMES = 5  # 100 ms at most between PortAudio and the mixer


def _sounddevice() -> Any:
    try:
        return importlib.import_module("sounddevice")
    except Exception:  # ImportError, or OSError when libportaudio is missing
        return None


def available_devices() -> dict[str, Any]:
    """{"input": [...], "output": [...], "default": {"input", "output"}}; "null" always first."""
    inputs, outputs = [NULL], [NULL]
    default = {"input": NULL, "output": NULL}
    sd = _sounddevice()
    if sd is not None:
        try:
            devices = list(sd.query_devices())
            for device in devices:
                if device.get("max_input_channels", 0) > 0:
                    inputs.append(str(device["name"]))
                if device.get("max_output_channels", 0) > 0:
                    outputs.append(str(device["name"]))
            default_in, default_out = sd.default.device
            if isinstance(default_in, int) and 0 <= default_in < len(devices):
                default["input"] = str(devices[default_in]["name"])
            if isinstance(default_out, int) and 0 <= default_out < len(devices):
                default["output"] = str(devices[default_out]["name"])
        except Exception:  # PortAudio errors: no devices then
            log.warning("cannot list audio devices", exc_info=True)
    return {"input": inputs, "output": outputs, "default": default}


def resolve(name: str | None, kind: str, devices: dict[str, Any]) -> str:
    """The device to use for a setting: the default for None, null for one that is missing."""
    if name in DEFAULT_NAMES:
        return str(devices["default"][kind])
    return name if name in devices[kind] else NULL


@dataclass(frozen=True)
class DeviceChoice:
    input: str
    output: str


class DevicePort(Port):
    """The mixer's port for a sound card (or the null device)."""

    def __init__(self, port_id: str, choice: DeviceChoice) -> None:
        super().__init__(port_id)
        self.choice = DeviceChoice(NULL, NULL)
        self._stream: Any = None
        self._captured: deque[bytes] = deque(maxlen=QUEUE_FRAMES)
        self._playback: deque[bytes] = deque(maxlen=QUEUE_FRAMES)
        self.wants_input = False
        self.use(choice)

    def use(self, choice: DeviceChoice) -> DeviceChoice:
        """Switch devices; what could not be opened becomes null. Returns what is in use."""
        self._close_stream()
        if choice.input == NULL and choice.output == NULL:
            self.choice = choice
            self.wants_input = False
            return choice
        sd = _sounddevice()
        try:
            if sd is None:
                raise OSError("sounddevice is not available")
            self._open(sd, choice)
            self.choice = choice
        except Exception as exc:
            log.warning("cannot open audio devices %s: %s; using null", choice, exc)
            self.choice = DeviceChoice(NULL, NULL)
        self.wants_input = self.choice.output != NULL
        return self.choice

    def _open(self, sd: Any, choice: DeviceChoice) -> None:
        settings = {"samplerate": SAMPLE_RATE, "blocksize": FRAME_SAMPLES, "dtype": "int16"}
        if choice.input != NULL and choice.output != NULL:
            stream = sd.RawStream(
                device=(choice.input, choice.output), channels=1, callback=self._duplex, **settings
            )
        elif choice.input != NULL:
            stream = sd.RawInputStream(
                device=choice.input, channels=1, callback=self._capture, **settings
            )
        else:
            stream = sd.RawOutputStream(
                device=choice.output, channels=1, callback=self._play, **settings
            )
        stream.start()
        self._stream = stream

    @property
    def healthy(self) -> bool:
        """False once an open PortAudio stream stopped by itself (a card unplugged)."""
        if self._stream is None:
            return True
        try:
            return bool(self._stream.active)
        except Exception:
            return False

    # PortAudio's thread
    def _capture(self, data: Any, frames: int, time: Any, status: Any) -> None:
        self._captured.append(bytes(data))

    def _play(self, data: Any, frames: int, time: Any, status: Any) -> None:
        try:
            block = self._playback.popleft()
        except IndexError:
            block = b""
        block = block[: len(data)]
        data[: len(block)] = block
        data[len(block) :] = bytes(len(data) - len(block))

    def _duplex(self, indata: Any, outdata: Any, frames: int, time: Any, status: Any) -> None:
        self._capture(indata, frames, time, status)
        self._play(outdata, frames, time, status)

    # the mixer's side
    def pull(self, needed: bool) -> AudioFrame | None:
        try:
            block = self._captured.popleft()
        except IndexError:
            return None
        if not needed or len(block) != 2 * FRAME_SAMPLES:
            return None
        return np.frombuffer(block, dtype=np.int16)

    def push(self, frame: AudioFrame | None) -> None:
        if self._stream is not None:
            self._playback.append(bytes(2 * FRAME_SAMPLES) if frame is None else frame.tobytes())

    def _close_stream(self) -> None:
        if self._stream is not None:
            with contextlib.suppress(Exception):
                self._stream.stop()
                self._stream.close()
            self._stream = None
        self._captured.clear()
        self._playback.clear()

    def close(self) -> None:
        self._close_stream()
