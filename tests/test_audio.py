"""The audio proxies (sipsimple.audio): argument checks, bridges, and ports in the media service."""

from __future__ import annotations

import shutil
import tempfile
import time
import wave
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from harness.notifications import Recorder

from sipsimple.audio import (
    AudioBridge,
    AudioDevice,
    AudioError,
    AudioMixer,
    TonePlayer,
    WavePlayer,
    WaveRecorder,
    configure_media_service,
    media_call,
)
from sipsimple.configuration import ConfigurationManager
from sipsimple.configuration.backend import MemoryBackend
from sipsimple.configuration.settings import SIPSimpleSettings


def test_mixers_are_named_and_compare_by_name() -> None:
    assert AudioMixer("voice") == AudioMixer() != AudioMixer("alert")
    assert len({AudioMixer("voice"), AudioMixer("voice")}) == 1
    with pytest.raises(ValueError, match="no mixer"):
        AudioMixer("nope")


def test_device_port_is_the_mixers() -> None:
    assert AudioDevice(AudioMixer("alert")).port_id == "alert-device"
    assert AudioDevice(AudioMixer()) == AudioDevice(AudioMixer("voice"))


@pytest.mark.parametrize("kwargs", [{"volume": 101}, {"volume": -1}, {"loop_count": -1}])
def test_player_arguments_are_checked(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        WavePlayer(AudioMixer(), "x.wav", **kwargs)


@pytest.mark.parametrize("frequencies", [[], [0], [-5.0], [24000], [440, 30000]])
def test_tone_frequencies_are_checked(frequencies: list[float]) -> None:
    with pytest.raises(ValueError, match="frequencies"):
        TonePlayer(AudioMixer(), frequencies)


def test_tone_duration_is_checked() -> None:
    with pytest.raises(ValueError, match="duration"):
        TonePlayer(AudioMixer(), [440], duration=0)


def test_bridge_refuses_a_port_of_another_mixer_and_duplicates() -> None:
    bridge = AudioBridge(AudioMixer("voice"))
    with pytest.raises(ValueError, match="belongs to"):
        bridge.add(AudioDevice(AudioMixer("alert")))
    player = WavePlayer(AudioMixer("voice"), "x.wav")  # not started: nothing to connect yet
    bridge.add(player)
    with pytest.raises(ValueError, match="already"):
        bridge.add(player)
    assert player in bridge and len(bridge) == 1
    bridge.remove(player)
    with pytest.raises(ValueError, match="not in the bridge"):
        bridge.remove(player)


def test_mixer_connect_needs_started_ports_of_its_own() -> None:
    mixer = AudioMixer()
    with pytest.raises(ValueError, match="not started"):
        mixer.connect(WavePlayer(mixer, "x.wav"), AudioDevice(mixer))
    with pytest.raises(ValueError, match="belongs to"):
        mixer.connect(AudioDevice(AudioMixer("alert")), AudioDevice(mixer))


# --- against the media service -----------------------------------------------------


@pytest.fixture
def media(spawn_service: Callable[..., Any]) -> Iterator[None]:
    spawn_service("sipsimple_services.media", "media")
    yield


def tone_file(path: Path, frequency: float, seconds: float, rate: int = 48000) -> Path:
    t = np.arange(int(rate * seconds)) / rate
    samples = (0.3 * 32767 * np.sin(2 * np.pi * frequency * t)).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.tobytes())
    return path


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as source:
        rate = source.getframerate()
        data = np.frombuffer(source.readframes(source.getnframes()), dtype="<i2")
    return data.astype(np.float64), rate


def peak_frequency(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[int(np.argmax(spectrum))])


@pytest.mark.integration
def test_player_into_recorder_through_a_bridge(media: None, tmp_path: Path) -> None:
    mixer = AudioMixer()
    source = tone_file(tmp_path / "tone.wav", 700, 1.0)
    player = WavePlayer(mixer, str(source))
    recorder = WaveRecorder(mixer, str(tmp_path / "out.wav"))
    bridge = AudioBridge(mixer)
    bridge.add(player)  # before it exists: connected once started
    bridge.add(recorder)
    with Recorder("WavePlayerDidStart", "WavePlayerDidEnd", sender=player) as events:
        recorder.start()
        player.start()
        events.wait("WavePlayerDidStart")
        events.wait("WavePlayerDidEnd")  # the end of the file (media.port_done)
    assert not player.is_active
    recorder.stop()
    samples, rate = read_wav(tmp_path / "out.wav")
    loud = samples[np.abs(samples) > 1000]
    assert len(loud) > rate // 2, "the tone was not recorded"
    assert abs(peak_frequency(samples, rate) - 700) < 10


@pytest.mark.integration
def test_a_missing_file_is_an_audio_error(media: None, tmp_path: Path) -> None:
    with pytest.raises(AudioError):
        WavePlayer(AudioMixer(), str(tmp_path / "missing.wav")).start()
    with pytest.raises(AudioError, match="not"):
        media_call("destroy_port", port_id="no-such-port")


@pytest.mark.integration
def test_tone_player_stops_and_devices_are_listed(media: None) -> None:
    tone = TonePlayer(AudioMixer("alert"), [440, 480])
    tone.start()
    assert tone.is_active and tone.port_id
    tone.stop()
    assert not tone.is_active
    tone.stop()  # twice is fine
    devices = AudioMixer.list_devices()
    assert "null" in devices["input"] and "null" in devices["output"]


@pytest.mark.integration
def test_the_applications_audio_objects_and_settings(spawn_service: Callable[..., Any]) -> None:
    from sipsimple.application import SIPApplication
    from sipsimple.configuration.keys import set_setting
    from sipsimple.configuration.settings import SIPSimpleSettings
    from sipsimple.storage import MemoryStorage

    for service in ("dns", "media", "msrp", "signalling"):
        spawn_service(f"sipsimple_services.{service}", service)
    app = SIPApplication()
    with Recorder("SIPApplicationDidStart", "SIPApplicationDidEnd") as events:
        app.start(MemoryStorage())
        try:
            events.wait("SIPApplicationDidStart")
            assert SIPApplication.voice_audio_mixer == AudioMixer("voice")
            assert SIPApplication.alert_audio_mixer == AudioMixer("alert")
            assert SIPApplication.voice_audio_device.port_id == "voice-device"
            assert SIPApplication.alert_audio_device.port_id == "alert-device"
            assert list(SIPApplication.voice_audio_bridge) == [SIPApplication.voice_audio_device]
            assert list(SIPApplication.alert_audio_bridge) == [SIPApplication.alert_audio_device]
            # the settings reach the (shared) service, now and on every change
            assert media_call("configure")["rtp_timeout"] == 30
            settings = SIPSimpleSettings()
            set_setting(settings, "rtp.timeout", 7)
            set_setting(settings, "audio.output_device", None)
            settings.save()
            deadline = time.monotonic() + 10
            while media_call("configure")["rtp_timeout"] != 7:
                assert time.monotonic() < deadline, "rtp.timeout did not reach the service"
                time.sleep(0.05)
            assert AudioMixer.list_devices()["current"]["output"] == "null"
            assert SIPApplication.voice_audio_mixer.real_output_device == "null"
            assert SIPApplication.alert_audio_mixer.real_input_device == "null"
            assert "null" in SIPApplication.voice_audio_mixer.input_devices
        finally:
            app.stop()
            events.wait("SIPApplicationDidEnd")
    assert SIPApplication.voice_audio_mixer is None and SIPApplication.alert_audio_bridge is None


@pytest.mark.integration
def test_player_loop_count_plays_the_file_that_many_times(media: None, tmp_path: Path) -> None:
    mixer = AudioMixer()
    source = tone_file(tmp_path / "tone.wav", 500, 0.3)
    player = WavePlayer(mixer, str(source), loop_count=3)
    recorder = WaveRecorder(mixer, str(tmp_path / "out.wav"))
    recorder.start()
    with Recorder("WavePlayerDidStart", "WavePlayerDidEnd", sender=player) as events:
        player.start()
        mixer.connect(player, recorder)
        bridge = AudioBridge(mixer)  # later plays reach the recorder through the bridge
        bridge.add(player)
        bridge.add(recorder)
        events.wait("WavePlayerDidEnd", timeout=20)
        assert events.names == ["WavePlayerDidStart", "WavePlayerDidEnd"]  # once each
    recorder.stop()
    samples, rate = read_wav(tmp_path / "out.wav")
    # three times 0.3 s of tone (94% of a sine's samples are above the threshold):
    # 0.85 s; two plays would give 0.56 s
    assert np.count_nonzero(np.abs(samples) > 1000) > 0.7 * rate


def test_recordings_go_only_where_the_settings_allow(
    media: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two directories outside the tests' tmp_path tree: one configured, one not.
    chosen = Path(tempfile.mkdtemp(prefix="ss-rec-", dir="/tmp"))
    other = Path(tempfile.mkdtemp(prefix="ss-other-", dir="/tmp"))
    ConfigurationManager().start(MemoryBackend())
    try:
        settings = SIPSimpleSettings()
        settings.audio.recordings_directory = str(chosen)
        settings.save()
        configure_media_service()  # sends the directories, as the application does
        mixer = AudioMixer()
        allowed = WaveRecorder(mixer, str(chosen / "ok.wav"))
        allowed.start()
        allowed.stop()
        assert (chosen / "ok.wav").exists()
        with pytest.raises(AudioError, match="outside the directories"):
            WaveRecorder(mixer, str(other / "no.wav")).start()
        assert not (other / "no.wav").exists()
        # A relative name means the caller's directory, not the service's.
        monkeypatch.chdir(tmp_path)
        relative = WaveRecorder(mixer, "here.wav")
        relative.start()
        relative.stop()
        assert (tmp_path / "here.wav").exists()
    finally:
        ConfigurationManager().stop()
        shutil.rmtree(chosen, ignore_errors=True)
        shutil.rmtree(other, ignore_errors=True)
