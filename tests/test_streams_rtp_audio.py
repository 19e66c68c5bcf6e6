"""AudioStream: SDP checks on their own, then calls between two accounts through real services.

The integration tests run the signalling, dns and media services as
processes; alice calls bob through the signalling service's own UDP
address, both accounts in this process (as in test_session.py). Audio is
checked from recordings: a tone played into one stream must come out of the
other with its frequency (FFT) and about its level.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
import wave
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from harness.audio import audio_services, wait_until
from harness.notifications import Recorder
from harness.sessions import facade
from hypothesis import given, settings
from hypothesis import strategies as st

from sipsimple.account import Account
from sipsimple.audio import TonePlayer, media_call
from sipsimple.bus.client import get_bus
from sipsimple.configuration import ConfigurationManager
from sipsimple.configuration.backend import MemoryBackend
from sipsimple.core import SIPURI, Route, ToHeader
from sipsimple.core.sdp import parse_sdp
from sipsimple.session import Session
from sipsimple.streams import (
    AudioStream,
    AudioStreamError,
    InvalidStreamError,
    MediaStreamRegistry,
    UnknownStreamError,
)
from sipsimple.streams.rtp.audio import audio_config, default_recording_name
from sipsimple_services.media.codecs.g711 import ulaw_encode

DOMAIN = "sip.test"

OFFER = """v=0
o=- 1 1 IN IP4 192.0.2.1
s=-
c=IN IP4 192.0.2.1
t=0 0
m=audio 4000 {transport} {formats}
{attributes}a=sendrecv
"""


def offer(formats: str = "0 101", transport: str = "RTP/AVP", attributes: str = "",
          media: str = "audio") -> Any:
    text = OFFER.format(transport=transport, formats=formats, attributes=attributes)
    return parse_sdp(text.replace("m=audio", f"m={media}").replace("\n", "\r\n"))


def settings_account(codecs: tuple[str, ...] | None = ("PCMU",), enabled: bool = True,
                     key_negotiation: str = "sdes_optional") -> Any:
    """The attributes of an account the AudioStream reads, without a configuration."""
    encryption = SimpleNamespace(enabled=enabled, key_negotiation=key_negotiation)
    return SimpleNamespace(rtp=SimpleNamespace(audio_codec_list=codecs, encryption=encryption))


# --- without services ------------------------------------------------------------------


def test_registered_as_the_audio_stream_type() -> None:
    assert MediaStreamRegistry.get("audio") is AudioStream
    assert AudioStream.type == "audio" and AudioStream.hold_supported


def test_new_from_sdp_takes_an_audio_offer_with_a_common_codec() -> None:
    account = settings_account(("PCMU", "opus"))
    stream = AudioStream.new_from_sdp(account, offer("0 101", attributes=(
        "a=rtpmap:101 telephone-event/8000\n")), 0)
    assert isinstance(stream, AudioStream)
    assert stream.codec is None and not stream.on_hold and stream.ice_active is False
    assert stream.local_rtp_candidate_type is None and stream.remote_rtp_candidate_type is None


@pytest.mark.parametrize(("sdp", "error"), [
    (offer(media="video"), UnknownStreamError),
    (offer(transport="UDP/TLS/RTP/SAVPF"), UnknownStreamError),
    (offer("18"), InvalidStreamError),  # G.729 only: no common codec
    (offer(transport="RTP/SAVP"), InvalidStreamError),  # SAVP without a=crypto
])
def test_new_from_sdp_refuses(sdp: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        AudioStream.new_from_sdp(settings_account(("PCMU",)), sdp, 0)


def test_srtp_policy_of_the_account_decides() -> None:
    with pytest.raises(InvalidStreamError):  # mandatory: plain RTP is refused
        AudioStream.new_from_sdp(settings_account(key_negotiation="sdes_mandatory"), offer(), 0)
    assert audio_config(settings_account(enabled=False)).srtp == "disabled"
    assert audio_config(settings_account()).srtp == "optional"


def test_codec_list_of_the_account_else_the_global_one() -> None:
    ConfigurationManager().start(MemoryBackend())
    try:
        assert audio_config(settings_account(("PCMA", "G729", "pcmu"))).codecs == ("PCMA", "PCMU")
        assert audio_config(settings_account(None)).codecs == ("opus", "G722", "PCMU", "PCMA")
    finally:
        ConfigurationManager().stop()


@pytest.mark.parametrize("digit", ["", "E", "12", "x", " ", 5])
def test_send_dtmf_refuses_what_is_not_a_digit(digit: Any) -> None:
    stream = AudioStream.new_from_sdp(settings_account(("PCMU",)), offer(), 0)
    with pytest.raises(ValueError, match="DTMF"):
        stream.send_dtmf(digit)


def test_dtmf_and_recording_need_a_started_stream() -> None:
    stream = AudioStream.new_from_sdp(settings_account(("PCMU",)), offer(), 0)
    with pytest.raises(AudioStreamError):
        stream.send_dtmf("1")
    with pytest.raises(AudioStreamError):
        stream.start_recording()
    stream.stop_recording()  # nothing to stop: nothing happens


def test_default_recording_name() -> None:
    when = datetime(2026, 11, 27, 15, 4, 5)
    assert default_recording_name("alice@sip.test", "bob@example.com", when) == \
        "20261127-150405-alice@sip.test-bob@example.com.wav"
    assert default_recording_name("a/../b", None, when) == "20261127-150405-a_.._b.wav"
    assert default_recording_name(None, "...", when) == "20261127-150405-unknown.wav"


# --- calls through the services -----------------------------------------------------------


@pytest.fixture
def services(spawn_service: Callable[..., Any]) -> dict[str, Any]:
    return audio_services(spawn_service)


@pytest.fixture
def accounts(services: dict[str, Any]) -> Iterator[dict[str, Account]]:
    with facade(["alice", "bob"]) as created:
        yield created


def configure(account: Account, codecs: tuple[str, ...], srtp: str | None) -> None:
    account.rtp.audio_codec_list = codecs
    account.rtp.encryption.enabled = srtp is not None
    if srtp is not None:
        account.rtp.encryption.key_negotiation = srtp
    account.save()


def call(events: Recorder, caller: Account) -> tuple[Session, AudioStream, Session, AudioStream]:
    ports = get_bus().call("signalling", "get_transports")
    session = Session(caller)
    stream = AudioStream(caller)
    session.connect(ToHeader(SIPURI(user="bob", host=DOMAIN)),
                    [Route("127.0.0.1", ports["udp"], "udp")], [stream])
    new = events.wait("SIPSessionNewIncoming")
    answering: Session = new.sender
    [offered] = new.data.streams
    assert isinstance(offered, AudioStream)
    answering.accept([offered])
    events.wait(lambda n: n.name == "SIPSessionDidStart" and n.sender is session)
    events.wait(lambda n: n.name == "SIPSessionDidStart" and n.sender is answering)
    return session, stream, answering, offered


def hang_up(events: Recorder, session: Session) -> None:
    session.end()
    events.wait(lambda n: n.name == "SIPSessionDidEnd" and n.sender is session)


def received(stream: AudioStream) -> int:
    return int(stream.statistics.get("packets_received", 0))


def sent(stream: AudioStream) -> int:
    return int(stream.statistics.get("packets_sent", 0))


def read_wav(path: str) -> tuple[np.ndarray, int]:
    with wave.open(path, "rb") as source:
        assert source.getnchannels() == 1 and source.getsampwidth() == 2
        rate = source.getframerate()
        data = np.frombuffer(source.readframes(source.getnframes()), dtype="<i2")
    return data.astype(np.float64), rate


def tone_of(path: str) -> tuple[float, float]:
    """(peak frequency in Hz, RMS) of the loud part of a recording."""
    samples, rate = read_wav(path)
    loud = np.flatnonzero(np.abs(samples) > 2000)
    assert len(loud) > rate // 4, f"no tone in {path}"
    part = samples[loud[0]:loud[-1]]
    part = part[len(part) // 10: -len(part) // 10 or None]  # away from the edges
    spectrum = np.abs(np.fft.rfft(part * np.hanning(len(part))))
    frequency = float(np.fft.rfftfreq(len(part), 1 / rate)[int(np.argmax(spectrum))])
    return frequency, float(np.sqrt(np.mean(part ** 2)))


def play_and_record(player_stream: AudioStream, recorder_stream: AudioStream, frequency: float,
                    path: Path) -> tuple[float, float]:
    """A tone into one stream, the other stream's audio recorded; the recording's tone."""
    tone = TonePlayer(player_stream.mixer, [frequency], volume=50)
    tone.start()
    player_stream.mixer.connect(tone, player_stream)
    try:
        recorder_stream.start_recording(str(path))
        start = received(recorder_stream)
        wait_until(lambda: received(recorder_stream) >= start + 60, "no RTP arrived")
        recorder_stream.stop_recording()
    finally:
        tone.stop()
    return tone_of(str(path))


@pytest.mark.integration
@pytest.mark.parametrize("srtp", [None, "sdes_mandatory"])
@pytest.mark.parametrize("codec", ["PCMU", "PCMA", "G722", "opus"])
def test_tone_both_ways(accounts: dict[str, Account], events: Recorder, tmp_path: Path,
                        codec: str, srtp: str | None) -> None:
    alice, bob = accounts["alice"], accounts["bob"]
    configure(alice, (codec,), srtp)
    configure(bob, ("opus", "G722", "PCMU", "PCMA"), srtp)
    session, stream, _answering, offered = call(events, alice)
    for s in (stream, offered):
        assert s.codec == codec
        assert s.srtp_active is (srtp is not None)
        assert s.sample_rate == {"PCMU": 8000, "PCMA": 8000, "G722": 16000, "opus": 48000}[codec]
        assert s.local_rtp_address == "127.0.0.1" and s.local_rtp_port
    assert stream.remote_rtp_port_sdp == offered.local_rtp_port
    assert offered.remote_rtp_port_sdp == stream.local_rtp_port

    names = []
    with Recorder("AudioStreamWillStartRecordingAudio", "AudioStreamDidStartRecordingAudio",
                  "AudioStreamWillStopRecordingAudio", "AudioStreamDidStopRecordingAudio",
                  sender=offered) as recording:
        frequency, level = play_and_record(stream, offered, 1000, tmp_path / "at-bob.wav")
        names = recording.names
        assert {n.data.filename for n in recording.seen} == {str(tmp_path / "at-bob.wav")}
    assert names == ["AudioStreamWillStartRecordingAudio", "AudioStreamDidStartRecordingAudio",
                     "AudioStreamWillStopRecordingAudio", "AudioStreamDidStopRecordingAudio"]
    assert offered.recording_filename is None
    assert abs(frequency - 1000) < 15
    # volume 50: half of full scale, an RMS of 0.5 * 32767 / sqrt(2) (G.722 and opus
    # are lossy, hence the margin)
    assert 0.6 < level / (0.5 * 32767 / np.sqrt(2)) < 1.4

    frequency, level = play_and_record(offered, stream, 600, tmp_path / "at-alice.wav")
    assert abs(frequency - 600) < 15
    assert 0.6 < level / (0.5 * 32767 / np.sqrt(2)) < 1.4

    wait_until(lambda: stream.remote_rtp_port_received == offered.local_rtp_port,
               "the received address was not reported")
    assert stream.remote_rtp_address_received == "127.0.0.1"
    hang_up(events, session)
    events.wait(lambda n: n.name == "MediaStreamDidEnd" and n.sender is offered)


@pytest.mark.integration
def test_dtmf_both_ways(accounts: dict[str, Account], events: Recorder) -> None:
    configure(accounts["alice"], ("PCMU",), "sdes_optional")
    session, stream, _answering, offered = call(events, accounts["alice"])
    for digit in "1*A":
        stream.send_dtmf(digit)
        got = events.wait(lambda n, d=digit: n.name == "AudioStreamGotDTMF" and  # type: ignore[misc]
                          n.sender is offered and n.data.digit == d)
        assert got.data.digit == digit
    offered.send_dtmf("#")
    events.wait(lambda n: n.name == "AudioStreamGotDTMF" and n.sender is stream
                and n.data.digit == "#")
    got = [n.data.digit for n in events.named("AudioStreamGotDTMF")]
    assert got == ["1", "*", "A", "#"]  # each digit exactly once
    hang_up(events, session)


@pytest.mark.integration
def test_hold_stops_rtp_and_unhold_brings_it_back(accounts: dict[str, Account],
                                                  events: Recorder, tmp_path: Path) -> None:
    configure(accounts["alice"], ("PCMA",), None)
    session, stream, answering, offered = call(events, accounts["alice"])
    wait_until(lambda: received(stream) > 10 and received(offered) > 10, "no RTP")

    session.hold()
    events.wait(lambda n: n.name == "SIPSessionDidChangeHoldState" and n.sender is answering
                and n.data.on_hold)
    events.wait(lambda n: n.name == "SIPSessionDidChangeHoldState" and n.sender is session
                and n.data.on_hold)
    holds = [(n.sender, n.data.originator, n.data.on_hold)
             for n in events.named("AudioStreamDidChangeHoldState")]
    assert (stream, "local", True) in holds and (offered, "remote", True) in holds
    assert stream.on_hold_by_local and not stream.on_hold_by_remote and stream.on_hold
    assert offered.on_hold_by_remote and not offered.on_hold_by_local
    assert session.on_hold and answering.on_hold

    # Nothing is sent either way while held, and nothing recorded.
    before = (sent(stream), sent(offered))
    offered.start_recording(str(tmp_path / "held.wav"))
    time.sleep(0.6)  # 30 packet intervals
    assert (sent(stream), sent(offered)) == before
    offered.stop_recording()
    samples, _ = read_wav(str(tmp_path / "held.wav"))
    assert samples.size == 0  # not even silence: the time on hold is not in the file

    session.unhold()
    events.wait(lambda n: n.name == "SIPSessionDidChangeHoldState" and n.sender is answering
                and not n.data.on_hold)
    assert not stream.on_hold and not offered.on_hold
    frequency, _ = play_and_record(stream, offered, 800, tmp_path / "after.wav")
    assert abs(frequency - 800) < 15
    wait_until(lambda: sent(offered) > before[1] + 10, "bob does not send after the unhold")
    hang_up(events, session)


@pytest.mark.integration
def test_default_recording_name_in_the_state_directory(accounts: dict[str, Account],
                                                        events: Recorder) -> None:
    configure(accounts["alice"], ("PCMU",), None)
    session, stream, _answering, _offered = call(events, accounts["alice"])
    stream.start_recording()
    filename = stream.recording_filename
    assert filename is not None
    assert Path(filename).parent.name == "recordings"
    assert "alice@sip.test-bob@sip.test.wav" in filename
    with pytest.raises(AudioStreamError, match="already"):
        stream.start_recording()
    hang_up(events, session)  # ending the stream ends its recording
    assert stream.recording_filename is None
    read_wav(filename)  # a valid WAV file


@pytest.mark.integration
def test_recordings_go_to_the_configured_directory(accounts: dict[str, Account],
                                                   events: Recorder, tmp_path: Path) -> None:
    from sipsimple.configuration.settings import SIPSimpleSettings

    settings = SIPSimpleSettings()
    settings.audio.recordings_directory = str(tmp_path / "calls")
    settings.save()
    configure(accounts["alice"], ("PCMU",), None)
    session, stream, _answering, _offered = call(events, accounts["alice"])
    stream.start_recording()
    filename = stream.recording_filename
    assert filename is not None and Path(filename).parent == tmp_path / "calls"
    hang_up(events, session)
    read_wav(filename)


@pytest.mark.integration
def test_rtp_timeout(accounts: dict[str, Account], events: Recorder) -> None:
    media_call("configure", rtp_timeout=1)
    configure(accounts["alice"], ("PCMU",), None)
    session, stream, _answering, offered = call(events, accounts["alice"])
    wait_until(lambda: received(stream) > 5, "no RTP")
    # bob's media goes away behind the session's back: alice hears nothing more
    media_call("end_stream", stream_id=offered.port_id)
    timeout = events.wait(lambda n: n.name == "AudioStreamDidTimeout" and n.sender is stream)
    assert timeout.data.timeout == 1
    hang_up(events, session)


@pytest.mark.integration
def test_a_failed_media_service_call_fails_the_stream(accounts: dict[str, Account],
                                                      events: Recorder) -> None:
    # an address the media service cannot bind: initialize fails, the session too
    session = Session(accounts["alice"])
    stream = AudioStream(accounts["alice"])
    session.local_media_address = lambda: "192.0.2.1"  # type: ignore[method-assign]
    ports = get_bus().call("signalling", "get_transports")
    session.connect(ToHeader(SIPURI(user="bob", host=DOMAIN)),
                    [Route("127.0.0.1", ports["udp"], "udp")], [stream])
    failed = events.wait(lambda n: n.name == "MediaStreamDidFail" and n.sender is stream)
    assert "media service" in failed.data.reason
    events.wait(lambda n: n.name == "SIPSessionDidFail" and n.sender is session)


@pytest.mark.integration
def test_reinvite_changes_the_codec(accounts: dict[str, Account], events: Recorder,
                                    tmp_path: Path) -> None:
    configure(accounts["alice"], ("PCMU", "PCMA"), "sdes_optional")
    session, stream, answering, offered = call(events, accounts["alice"])
    assert stream.codec == offered.codec == "PCMU" and stream.srtp_active
    with Recorder("AudioStreamDidChangeRTPParameters") as changes:
        # the next offer (a hold and an unhold) carries the new codec list
        configure(accounts["alice"], ("G722",), "sdes_optional")
        session.hold()
        events.wait(lambda n: n.name == "SIPSessionDidChangeHoldState" and n.sender is answering
                    and n.data.on_hold)
        session.unhold()
        events.wait(lambda n: n.name == "SIPSessionDidChangeHoldState" and n.sender is answering
                    and not n.data.on_hold)
        wait_until(lambda: offered.codec == "G722" and stream.codec == "G722",
                   "the codec did not change")
        assert {n.sender for n in changes.seen} == {stream, offered}
    assert stream.sample_rate == offered.sample_rate == 16000 and stream.srtp_active
    frequency, _ = play_and_record(stream, offered, 1200, tmp_path / "g722.wav")
    assert abs(frequency - 1200) < 15
    hang_up(events, session)


@pytest.mark.integration
def test_muted_stream_sends_silence(accounts: dict[str, Account], events: Recorder,
                                    tmp_path: Path) -> None:
    configure(accounts["alice"], ("PCMU",), None)
    session, stream, _answering, offered = call(events, accounts["alice"])
    stream.set_muted(True)
    assert stream.muted
    tone = TonePlayer(stream.mixer, [700], volume=50)
    tone.start()
    stream.mixer.connect(tone, stream)
    offered.start_recording(str(tmp_path / "muted.wav"))
    start = received(offered)
    wait_until(lambda: received(offered) >= start + 40, "no RTP while muted")
    offered.stop_recording()
    samples, _ = read_wav(str(tmp_path / "muted.wav"))
    assert np.max(np.abs(samples)) < 100  # the tone went nowhere
    stream.set_muted(False)
    frequency, _ = play_and_record(stream, offered, 700, tmp_path / "unmuted.wav")
    assert abs(frequency - 700) < 15
    tone.stop()
    hang_up(events, session)


@pytest.mark.integration
def test_two_calls_bridged_into_a_conference(accounts: dict[str, Account], events: Recorder,
                                             tmp_path: Path) -> None:
    """Bob's two streams in one bridge: what alice's first call says reaches her second."""
    from sipsimple.audio import AudioBridge

    configure(accounts["alice"], ("PCMA",), None)
    first = call(events, accounts["alice"])
    events.seen.clear()
    second = call(events, accounts["alice"])
    bridge = AudioBridge(first[3].mixer)
    bridge.add(first[3])
    bridge.add(second[3])
    frequency, _ = play_and_record(first[1], second[1], 900, tmp_path / "bridged.wav")
    assert abs(frequency - 900) < 15
    bridge.remove(second[3])
    hang_up(events, first[0])
    hang_up(events, second[0])


@pytest.mark.integration
def test_a_media_service_restart_fails_the_streams_and_ends_the_call(
    accounts: dict[str, Account], events: Recorder, services: dict[str, Any],
    spawn_service: Callable[..., Any],
) -> None:
    configure(accounts["alice"], ("PCMU",), None)
    session, stream, answering, offered = call(events, accounts["alice"])
    services["media"].kill()
    services["media"].wait(10)
    spawn_service("sipsimple_services.media", "media", SIPSIMPLE_CLIENT_TIMEOUT="2")
    # Each stream fails, unless the other session's BYE ended its session first (both
    # sessions share the media service, so which one notices first is a race).
    for s in (stream, offered):
        events.wait(lambda n, s=s: n.name in ("MediaStreamDidFail", "MediaStreamDidEnd")  # type: ignore[misc]
                    and n.sender is s, timeout=20)
    failures = events.named("MediaStreamDidFail")
    assert failures and all("restarted" in n.data.reason for n in failures)
    # its only stream gone, each session ends (a BYE through the signalling service)
    events.wait(lambda n: n.name == "SIPSessionDidEnd" and n.sender is session)
    events.wait(lambda n: n.name == "SIPSessionDidEnd" and n.sender is answering)
    # and a new call works with the new instance
    events.seen.clear()
    session, stream, _answering, offered = call(events, accounts["alice"])
    wait_until(lambda: received(stream) > 5 and received(offered) > 5, "no RTP after restart")
    hang_up(events, session)


# --- media events with whatever data the bus carries ------------------------------------

_VALUES = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
                    st.text(max_size=8), st.binary(max_size=8),
                    st.lists(st.integers(), max_size=3))


@settings(max_examples=300, deadline=None)
@given(what=st.sampled_from(["stream_started", "stream_rtp_changed", "stream_dtmf",
                             "stream_timeout", "stream_stats", "stream_failed",
                             "stream_ended", "port_done", "unknown", "ice_gathered",
                             "ice_state", "ice_succeeded", "ice_failed"]),
       fields=st.dictionaries(st.sampled_from(["digit", "address", "port", "seconds", "reason",
                                               "codec", "stats", "duration_ms", "error",
                                               "ufrag", "pwd", "candidates", "default",
                                               "state", "prev_state", "chosen", "duration",
                                               "valid_pairs"]),
                              _VALUES, max_size=5))
def test_media_events_with_any_data_never_raise(what: str, fields: dict[str, Any]) -> None:
    from sipsimple.audio import media_events
    from sipsimple.notification import Notification, NotificationData
    from sipsimple.streams.rtp.audio import DTMF_DIGITS

    stream = AudioStream.new_from_sdp(settings_account(("PCMU",)), offer(), 0)
    stream._stream_id, stream._state = "s-1", "started"  # as after start(); no service here
    media_events.register("s-1", stream)
    try:
        with Recorder(sender=stream) as posted:
            media_events.handle_notification(Notification(
                f"media.{what}", None, NotificationData(stream_id="s-1", **fields)))
    finally:
        media_events.unregister("s-1")
    for notification in posted.seen:
        if notification.name == "AudioStreamGotDTMF":
            assert notification.data.digit in DTMF_DIGITS
        if notification.name == "MediaStreamDidFail":
            assert isinstance(notification.data.reason, str)
    port = stream.remote_rtp_port_received
    assert port is None or 0 < port < 65536
    assert stream.remote_rtp_address_received is None or isinstance(
        stream.remote_rtp_address_received, str)


def test_checks_events_of_a_replaced_ice_link_are_dropped() -> None:
    """The old link's success, come after a move or restart (its reply travels on another
    socket), would put the stream back on a pair whose sockets are gone."""
    from sipsimple.audio import media_events
    from sipsimple.notification import Notification, NotificationData
    from sipsimple.streams.rtp.ice import LocalICE

    stream = AudioStream.new_from_sdp(settings_account(("PCMU",)), offer(), 0)
    stream._stream_id, stream._state = "s-2", "started"
    candidate = {"component": "RTP", "type": "host", "address": "127.0.0.1", "port": 4000,
                 "priority": 1, "rel_addr": None}
    chosen = [{"component": "RTP", "local": candidate, "remote": {**candidate, "port": 5000}}]

    def succeeded(ufrag: str) -> list[str]:
        with Recorder(sender=stream) as posted:
            media_events.handle_notification(Notification("media.ice_succeeded", None,
                NotificationData(stream_id="s-2", ufrag=ufrag, duration=0.1, chosen=chosen,
                                 local_candidates=[], remote_candidates=[], valid_pairs=[],
                                 valid_list=[])))
        return [n.name for n in posted.seen]

    def local(ufrag: str) -> LocalICE:
        return LocalICE(ufrag, "p" * 22, (), "127.0.0.1", 4000, "127.0.0.1", 4001, "host")

    media_events.register("s-2", stream)
    try:
        stream._ice_local, stream._rebound = local("old"), lambda: None  # moving: not gathered
        assert succeeded("old") == [] and not stream.ice_active
        stream._ice_local, stream._rebound = local("new"), None  # gathered there
        assert succeeded("old") == [] and not stream.ice_active
        assert "AudioStreamICENegotiationDidSucceed" in succeeded("new") and stream.ice_active
    finally:
        media_events.unregister("s-2")


@settings(max_examples=200, deadline=None)
@given(name=st.text(max_size=20), fields=st.dictionaries(st.text(max_size=10), _VALUES,
                                                         max_size=4))
def test_media_event_routing_ignores_what_names_no_object(name: str,
                                                          fields: dict[str, Any]) -> None:
    from sipsimple.audio import media_events
    from sipsimple.notification import Notification, NotificationData

    fields.pop("service", None)  # a ServiceDidRestart/Connect names the service
    media_events.handle_notification(Notification(name, None, NotificationData(**fields)))


class Injector:
    """An RTP stream from 127.0.0.2 to `port`: a loud 3000 Hz PCMU tone with its own
    SSRC, in sequence, sent in bursts (three, then two every 40 ms) so that an
    SSRC rule alone would switch to it and keep it."""

    def __init__(self, port: int) -> None:
        self.target = ("127.0.0.1", port)
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        t = np.arange(160) / 8000
        self._payloads = [
            ulaw_encode((30000 * np.sin(2 * np.pi * 3000 * (t + n / 50))).astype("<i2").tobytes())
            for n in range(50)
        ]

    def __enter__(self) -> Injector:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("127.0.0.2", 0))
            burst = 3
            while not self._stop.is_set():
                for _ in range(burst):
                    n = self.sent
                    header = struct.pack("!BBHII", 0x80, 0, (7000 + n) % 65536, 160 * n, 0xB1EED)
                    sock.sendto(header + self._payloads[n % 50], self.target)
                    self.sent += 1
                burst = 2
                self._stop.wait(0.04)  # the stream's pace, not a synchronisation


@pytest.mark.integration
def test_rtp_bleed_an_injected_stream_does_not_take_the_call(
        accounts: dict[str, Account], events: Recorder, tmp_path: Path) -> None:
    configure(accounts["alice"], ("PCMU",), None)
    session, stream, _answering, offered = call(events, accounts["alice"])
    wait_until(lambda: received(stream) > 10 and received(offered) > 10, "no RTP")
    with Injector(offered.local_rtp_port) as injector:
        wait_until(lambda: injector.sent > 20, "the injector did not start")
        # bob still hears alice's tone, not the injected one ...
        frequency, _ = play_and_record(stream, offered, 1000, tmp_path / "at-bob.wav")
        assert abs(frequency - 1000) < 15
        # ... and alice still hears bob: he still sends to her
        frequency, _ = play_and_record(offered, stream, 600, tmp_path / "at-alice.wav")
        assert abs(frequency - 600) < 15
    sent = injector.sent
    wait_until(lambda: offered.statistics.get("rtp_dropped_foreign") == sent,
               "the injected packets were not counted")
    assert offered.statistics["dropped"]["foreign-source"] == sent
    assert (offered.remote_rtp_address_received, offered.remote_rtp_port_received) == (
        "127.0.0.1", stream.local_rtp_port)
    hang_up(events, session)


@pytest.mark.integration
def test_rtp_bleed_a_reinvite_opens_no_window_for_a_peer_at_its_sdp_address(
        accounts: dict[str, Account], events: Recorder, tmp_path: Path) -> None:
    configure(accounts["alice"], ("PCMU",), None)
    session, stream, answering, offered = call(events, accounts["alice"])
    wait_until(lambda: received(stream) > 10 and received(offered) > 10, "no RTP")
    # Two offer/answers (hold, unhold); right after them a stream from elsewhere.
    session.hold()
    events.wait(lambda n: n.name == "SIPSessionDidChangeHoldState" and n.sender is answering
                and n.data.on_hold)
    session.unhold()
    events.wait(lambda n: n.name == "SIPSessionDidChangeHoldState" and n.sender is answering
                and not n.data.on_hold)
    with Injector(offered.local_rtp_port) as injector:
        wait_until(lambda: injector.sent > 20, "the injector did not start")
        frequency, _ = play_and_record(stream, offered, 1000, tmp_path / "at-bob.wav")
        assert abs(frequency - 1000) < 15
    sent = injector.sent
    wait_until(lambda: offered.statistics.get("rtp_dropped_foreign") == sent,
               "the injected packets were not counted")
    assert (offered.remote_rtp_address_received, offered.remote_rtp_port_received) == (
        "127.0.0.1", stream.local_rtp_port)
    hang_up(events, session)
