"""Helpers for audio call tests: the services a call needs, tone files, waits.

Shared by tests/test_streams_rtp_audio.py, test_streams_rtp_audio_peers.py and test_cli_call.py.
"""

from __future__ import annotations

import time
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np


def audio_services(spawn_service: Callable[..., Any], msrp: bool = False) -> dict[str, Any]:
    """Signalling (UDP only), dns and media (and msrp, if asked) running; their processes."""
    services = {
        "signalling": spawn_service("sipsimple_services.signalling", "signalling",
                                    SIPSIMPLE_CLIENT_TIMEOUT="2", SIPSIMPLE_SIP_TRANSPORTS="udp"),
        "dns": spawn_service("sipsimple_services.dns", "dns"),
        "media": spawn_service("sipsimple_services.media", "media", SIPSIMPLE_CLIENT_TIMEOUT="2"),
    }
    if msrp:
        services["msrp"] = spawn_service("sipsimple_services.msrp", "msrp")
    return services


def wait_until(check: Callable[[], bool], what: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def tone_file(path: Path, frequency: float, seconds: float, rate: int,
              amplitude: float) -> Path:
    """A mono 16-bit WAV of a sine at `amplitude` (of full scale)."""
    t = np.arange(int(rate * seconds)) / rate
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes((amplitude * 32767 * np.sin(2 * np.pi * frequency * t)).astype("<i2"))
    return path


__all__ = ["audio_services", "tone_file", "wait_until"]
