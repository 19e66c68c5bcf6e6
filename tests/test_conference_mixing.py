"""ConferenceBridge: every port hears all the others, a muted one is heard by nobody.

Against a real media service: two tones and recorders in one bridge; each
recording's spectrum says whom it heard.
"""

from __future__ import annotations

import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from harness.audio import wait_until

from sipsimple.audio import AudioMixer, TonePlayer, WaveRecorder
from sipsimple.conference.mixing import ConferenceBridge

LOW, HIGH = 500.0, 900.0


def test_ports_must_be_started_and_are_added_once() -> None:
    bridge = ConferenceBridge(AudioMixer())
    with pytest.raises(ValueError, match="not started"):
        bridge.add(TonePlayer(AudioMixer(), [LOW]))
    assert len(bridge) == 0


def levels(path: Path) -> dict[float, float]:
    with wave.open(str(path), "rb") as source:
        rate = source.getframerate()
        samples = np.frombuffer(source.readframes(source.getnframes()), dtype="<i2")
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64) * np.hanning(len(samples))))
    frequencies = np.fft.rfftfreq(len(samples), 1 / rate)
    found = {f: float(spectrum[np.abs(frequencies - f) < 10].max()) for f in (LOW, HIGH)}
    loudest = max(found.values())
    assert loudest > 0, f"silence in {path}"
    return {f: level / loudest for f, level in found.items()}


def record(bridge: ConferenceBridge, path: Path) -> dict[float, float]:
    """What a recorder joining the bridge hears, half a second of it."""
    recorder = WaveRecorder(bridge.mixer, str(path))
    recorder.start()
    bridge.add(recorder)
    wait_until(lambda: path.exists() and path.stat().st_size > 44 + 48000, "nothing recorded")
    bridge.remove(recorder)
    recorder.stop()
    return levels(path)


@pytest.mark.integration
def test_everyone_hears_the_others_and_a_muted_port_is_not_heard(
        spawn_service: Callable[..., Any], tmp_path: Path) -> None:
    spawn_service("sipsimple_services.media", "media")
    bridge = ConferenceBridge(AudioMixer())
    low, high = TonePlayer(bridge.mixer, [LOW], volume=30), TonePlayer(bridge.mixer, [HIGH],
                                                                       volume=30)
    try:
        for tone in (low, high):
            tone.start()
            bridge.add(tone)
        with pytest.raises(ValueError, match="already"):
            bridge.add(low)
        both = record(bridge, tmp_path / "both.wav")
        assert both[LOW] > 0.5 and both[HIGH] > 0.5, both

        bridge.set_muted(low, True)
        assert bridge.is_muted(low)
        muted = record(bridge, tmp_path / "muted.wav")  # joins after the mute
        assert muted[LOW] < 0.05 < 0.5 < muted[HIGH], muted

        bridge.set_muted(low, False)
        bridge.remove(high)
        alone = record(bridge, tmp_path / "alone.wav")
        assert alone[HIGH] < 0.05 < 0.5 < alone[LOW], alone
        assert len(bridge) == 1
    finally:
        for tone in (low, high):
            tone.stop()
