"""AudioStream calls with independent peers: pjsua2 and baresip, both directions.

The facade runs as an application would (Session, AudioStream, the real
signalling, dns and media services); the peer is a separate process. Audio
is checked both ways from recordings: our tone in the peer's recording, the
peer's tone in ours (FFT peak), and DTMF both ways.
"""

from __future__ import annotations

import shutil
import tempfile
import wave
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from harness.audio import audio_services, tone_file, wait_until
from harness.baresip import Baresip, needs_baresip
from harness.notifications import Recorder
from harness.pjsua import PjsuaPeer, needs_pjsua2
from harness.sessions import facade

from sipsimple.account import Account
from sipsimple.audio import TonePlayer
from sipsimple.bus.client import get_bus
from sipsimple.core import SIPURI, Route, ToHeader
from sipsimple.session import Session
from sipsimple.streams import AudioStream

pytestmark = pytest.mark.integration

OUR_TONE = 1000.0
PEER_TONE = 440.0


@pytest.fixture
def alice(spawn_service: Callable[..., Any]) -> Iterator[Account]:
    audio_services(spawn_service)
    with facade(["alice"], domain="127.0.0.1") as created:
        yield created["alice"]


def signalling_port() -> int:
    return int(get_bus().call("signalling", "get_transports")["udp"])


def peak(path: Path) -> float:
    with wave.open(str(path), "rb") as source:
        rate, channels = source.getframerate(), source.getnchannels()
        samples = np.frombuffer(source.readframes(source.getnframes()), dtype="<i2")
    samples = samples.astype(np.float64)[::channels]
    samples = samples[len(samples) // 4:]  # after start-up
    assert len(samples) > rate // 4 and np.max(np.abs(samples)) > 500, f"silence in {path}"
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[int(np.argmax(spectrum))])


def rms(path: Path) -> float:
    with wave.open(str(path), "rb") as source:
        channels = source.getnchannels()
        samples = np.frombuffer(source.readframes(source.getnframes()), dtype="<i2")
    samples = samples.astype(np.float64)[::channels]
    samples = samples[len(samples) // 4:]
    return float(np.sqrt(np.mean(samples ** 2)))


def call_or_answer(alice: Account, events: Recorder, direction: str, user: str, port: int,
                   dial: Callable[[str], object]) -> tuple[Session, AudioStream]:
    """Outgoing: alice calls the peer (`user` at 127.0.0.1:`port`); incoming: `dial(uri)`
    makes the peer call alice, who accepts. The session and its stream, not yet started."""
    if direction == "outgoing":
        session = Session(alice)
        stream = AudioStream(alice)
        session.connect(ToHeader(SIPURI.parse(f"sip:{user}@127.0.0.1:{port}")),
                        [Route("127.0.0.1", port, "udp")], [stream])
        return session, stream
    dial(f"sip:alice@127.0.0.1:{signalling_port()}")
    new = events.wait("SIPSessionNewIncoming", timeout=15)
    [stream] = new.data.streams
    new.sender.accept([stream])
    return new.sender, stream


def talk(stream: AudioStream, recording: Path, packets: int = 100) -> None:
    """Our tone into the stream while recording what comes back, `packets` long."""
    tone = TonePlayer(stream.mixer, [OUR_TONE], volume=50)
    tone.start()
    stream.mixer.connect(tone, stream)
    try:
        stream.start_recording(str(recording))
        start = stream.statistics.get("packets_received", 0)
        wait_until(lambda: stream.statistics.get("packets_received", 0) >= start + packets,
                   "no RTP from the peer")
        stream.stop_recording()
    finally:
        tone.stop()


# --- pjsua2 ----------------------------------------------------------------------------


@needs_pjsua2
@pytest.mark.parametrize("codec", ["PCMU", "G722"])
@pytest.mark.parametrize("direction", ["outgoing", "incoming"])
def test_audio_and_dtmf_with_pjsua2(alice: Account, events: Recorder,
                                    pjsua_factory: Callable[..., PjsuaPeer], tmp_path: Path,
                                    direction: str, codec: str) -> None:
    alice.rtp.audio_codec_list = (codec,)
    alice.save()
    peer = pjsua_factory("peer", codecs=(f"{codec}/",))
    peer_tone = tone_file(tmp_path / "peer-tone.wav", PEER_TONE, 10.0, rate=16000, amplitude=0.25)
    session, stream = call_or_answer(alice, events, direction, "peer", peer.udp_port,
                                     peer.make_call)
    events.wait(lambda n: n.name == "SIPSessionDidStart" and n.sender is session)
    assert stream.codec == codec and not stream.srtp_active  # the PyPI pjsua2 has no SRTP
    peer.wait_event("media_state", timeout=10, active=True)
    peer.play(peer_tone)
    peer.record(tmp_path / "peer-heard.wav")

    talk(stream, tmp_path / "we-heard.wav")
    peer.stop_record()
    peer.wait_event("recording_done", timeout=10)
    assert abs(peak(tmp_path / "we-heard.wav") - PEER_TONE) <= 10
    assert abs(peak(tmp_path / "peer-heard.wav") - OUR_TONE) <= 10

    stream.send_dtmf("7")
    assert peer.wait_event("dtmf", timeout=10)["digit"] == "7"
    peer.send_dtmf("9")
    events.wait(lambda n: n.name == "AudioStreamGotDTMF" and n.sender is stream
                and n.data.digit == "9")
    session.end()
    events.wait(lambda n: n.name == "SIPSessionDidEnd" and n.sender is session)


# --- baresip ---------------------------------------------------------------------------

@pytest.fixture
def baresip_factory() -> Iterator[Callable[..., Baresip]]:
    workdir = Path(tempfile.mkdtemp(prefix="baresip-", dir="/tmp"))
    peers: list[Baresip] = []

    def factory(codec: str, mediaenc: str | None = None, **options: Any) -> Baresip:
        directory = workdir / str(len(peers))
        directory.mkdir()
        peer = Baresip(directory, codec, mediaenc, PEER_TONE, **options)
        peers.append(peer)
        return peer

    yield factory
    for peer in peers:
        peer.stop()
    shutil.rmtree(workdir, ignore_errors=True)


@needs_baresip
@pytest.mark.parametrize(("codec", "srtp"), [
    ("PCMU", None), ("G722", "sdes_mandatory"), ("opus", "sdes_mandatory"), ("opus", None),
])
@pytest.mark.parametrize("direction", ["outgoing", "incoming"])
def test_audio_and_dtmf_with_baresip(alice: Account, events: Recorder,
                                     baresip_factory: Callable[..., Baresip], tmp_path: Path,
                                     direction: str, codec: str, srtp: str | None) -> None:
    alice.rtp.audio_codec_list = (codec,)
    alice.rtp.encryption.enabled = srtp is not None
    if srtp is not None:
        alice.rtp.encryption.key_negotiation = srtp
    alice.save()
    peer = baresip_factory(codec, "srtp-mand" if srtp else None)
    session, stream = call_or_answer(alice, events, direction, "baresip", peer.sip_port,
                                     lambda uri: peer.command("dial", uri))
    started = events.wait(lambda n: n.name in ("SIPSessionDidStart", "SIPSessionDidFail")
                          and n.sender is session)
    assert started.name == "SIPSessionDidStart", (started.data, peer.log())
    assert stream.codec == codec
    assert stream.srtp_active is (srtp is not None)

    talk(stream, tmp_path / "we-heard.wav")
    assert abs(peak(tmp_path / "we-heard.wav") - PEER_TONE) <= 10, peer.log()

    stream.send_dtmf("4")
    peer.wait_event("CALL_DTMF_START", "4")
    peer.command("sndcode", "6")
    events.wait(lambda n: n.name == "AudioStreamGotDTMF" and n.sender is stream
                and n.data.digit == "6")
    session.end()
    events.wait(lambda n: n.name == "SIPSessionDidEnd" and n.sender is session)
    assert abs(peak(peer.decoded()) - OUR_TONE) <= 10
    # Our tone at volume 50 has an RMS of 0.5 * 32767 / sqrt(2); baresip decodes it at
    # that level with every codec, G.722 included (its G.722 scales PCM as FFmpeg's
    # does, unlike pjmedia's: docs/media.md).
    assert 0.75 < rms(peer.decoded()) / (0.5 * 32767 / np.sqrt(2)) < 1.25
