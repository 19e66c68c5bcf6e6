"""Stream, sans-IO: two streams wired back to back in memory on a fake clock.

A tone port feeds stream A through a real mixer; what stream B receives is
captured by a port that listens to it. Datagrams go from one stream's
`transmit` straight into the other's `receive`, with the sender's address,
unless a test intercepts them.
"""

from __future__ import annotations

import os
import random
from typing import Any

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from sipsimple_services.media.codecs.g711 import ulaw_decode, ulaw_encode
from sipsimple_services.media.mixer import FRAME_SAMPLES, AudioFrame, Mixer, Port
from sipsimple_services.media.parameters import ParameterError
from sipsimple_services.media.ports import TonePort
from sipsimple_services.media.rtp.packet import RTPPacket, parse_rtp
from sipsimple_services.media.rtp.rtcp import Bye, ReceiverReport, serialize_compound
from sipsimple_services.media.stream import Stream, StreamStateError

ADDRESS = {"a": ("10.0.0.1", 4000), "b": ("10.0.0.2", 6000)}
CODECS = {"PCMU": (0, 8000, 8000), "PCMA": (8, 8000, 8000), "G722": (9, 8000, 16000),
          "opus": (96, 48000, 48000)}


class Capture(Port):
    def __init__(self, port_id: str) -> None:
        super().__init__(port_id)
        self.frames: list[AudioFrame] = []

    def push(self, frame: AudioFrame | None) -> None:
        self.frames.append(np.zeros(FRAME_SAMPLES, np.int16) if frame is None else frame)

    def audio(self, last: int) -> np.ndarray:
        return np.concatenate(self.frames[-last:])


def media(peer: str, codec: str = "PCMU", **overrides: Any) -> dict[str, Any]:
    pt, clock, rate = CODECS[codec]
    host, port = ADDRESS[peer]
    return {
        "codec": codec, "payload_type": pt, "local_payload_type": pt, "clock_rate": clock,
        "sample_rate": rate, "telephone_event_payload_type": 101,
        "local_telephone_event_payload_type": 101,
        "telephone_event_clock_rate": 48000 if codec == "opus" else 8000, "ptime": 20,
        "direction": "sendrecv", "remote_address": host, "remote_port": port,
        "remote_rtcp_address": host, "remote_rtcp_port": port + 1, "rtcp_mux": False,
        "srtp": None, **overrides,
    }


class Link:
    def __init__(self, codec: str = "PCMU", srtp: bool = False, timeout: float = 0,
                 start: bool = True, **overrides: Any) -> None:
        self.now = 1_800_000_000.0
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.sent: list[tuple[str, bytes, tuple[Any, ...], bool]] = []
        self.deliver = True
        self.a = Stream("a", self._transmit("a"), self._publish, rng=random.Random(1),
                        timeout=timeout)
        self.b = Stream("b", self._transmit("b"), self._publish, rng=random.Random(2),
                        timeout=timeout)
        self.mixer = Mixer("voice")
        self.tone = TonePort("tone", [1000.0], None, 0.5)
        self.capture = Capture("capture")
        for port in (self.a, self.b, self.tone, self.capture):
            self.mixer.add(port)
        self.mixer.connect("tone", "a")
        self.mixer.connect("b", "capture")
        ka, kb = os.urandom(30), os.urandom(30)
        suite = "AES_CM_128_HMAC_SHA1_80"
        self.a_keys = {"suite": suite, "tag": 1, "local_key": ka, "remote_key": kb}
        self.b_keys = {"suite": suite, "tag": 1, "local_key": kb, "remote_key": ka}
        if start:  # else the test starts the streams
            self.a.start(media("b", codec, srtp=self.a_keys if srtp else None, **overrides),
                         self.now)
            self.b.start(media("a", codec, srtp=self.b_keys if srtp else None, **overrides),
                         self.now)

    def _transmit(self, name: str) -> Any:
        def transmit(data: bytes, to: tuple[Any, ...], rtcp: bool) -> None:
            self.sent.append((name, data, to, rtcp))
            if not self.deliver:
                return
            peer = self.b if name == "a" else self.a
            host, port = ADDRESS[name]
            expected = ADDRESS["b" if name == "a" else "a"]
            if to[0] == expected[0] and to[1] in (expected[1], expected[1] + 1):
                peer.receive(data, (host, port + 1 if rtcp else port), self.now, to[1] % 2 == 1)
        return transmit

    def _publish(self, name: str, data: dict[str, Any]) -> None:
        self.events.append((name, data))

    def run(self, seconds: float) -> None:
        for _ in range(round(seconds / 0.02)):
            self.now += 0.02
            self.a.prepare(self.now)
            self.b.prepare(self.now)
            self.mixer.tick()
            assert self.mixer.errors == []

    def named(self, name: str, stream: str | None = None) -> list[dict[str, Any]]:
        return [d for n, d in self.events if n == name and stream in (None, d["stream_id"])]

    def rtp_sent(self, name: str) -> int:
        return sum(1 for who, _, _, rtcp in self.sent if who == name and not rtcp)


def dominant(samples: np.ndarray) -> tuple[float, float]:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return (float(np.argmax(spectrum) * 48000 / len(samples)),
            float(np.sqrt(np.mean(samples.astype(np.float64) ** 2))))


@pytest.mark.parametrize("srtp", [False, True])
@pytest.mark.parametrize("codec", list(CODECS))
def test_tone_arrives(codec: str, srtp: bool) -> None:
    link = Link(codec, srtp)
    link.run(1.5)
    frequency, level = dominant(link.capture.audio(50))
    assert frequency == pytest.approx(1000, abs=1)
    assert 0.8 * 11585 < level < 1.2 * 11585
    stats = link.b.stats()
    assert stats["lost"] == 0 and stats["srtp_failures"] == 0 and stats["srtp"] is srtp
    assert stats["packets_received"] == link.a.stats()["packets_sent"] - 1  # probation
    assert [d["codec"] for d in link.named("media.stream_started")] == [codec, codec]


def test_answer_renumbering() -> None:
    link = Link("opus")
    # A offered opus at 96; B answered with 111: A sends 111, B expects 111, and back
    link.a.update(media("b", "opus", payload_type=111, telephone_event_payload_type=110), link.now)
    link.b.update(media("a", "opus", local_payload_type=111,
                        local_telephone_event_payload_type=110), link.now)
    link.run(1.0)
    assert {parse_rtp(d).payload_type for w, d, _, r in link.sent[-20:] if w == "a" and not r} \
        == {111}
    assert dominant(link.capture.audio(25))[0] == pytest.approx(1000, abs=2)
    link.a.send_dtmf("9")
    link.run(0.5)
    assert [d["digit"] for d in link.named("media.stream_dtmf", "b")] == ["9"]


def test_dtmf_both_ways_once_each_with_duration() -> None:
    link = Link("PCMU", srtp=True)
    link.run(0.2)
    for digit in "12":
        link.a.send_dtmf(digit)
    link.b.send_dtmf("#")
    link.run(1.0)
    assert [(d["digit"], d["duration_ms"]) for d in link.named("media.stream_dtmf", "b")] == [
        ("1", 100), ("2", 100)]
    assert [d["digit"] for d in link.named("media.stream_dtmf", "a")] == ["#"]
    with pytest.raises(ValueError):
        link.a.send_dtmf("E")


def test_dtmf_without_its_end_is_reported_after_a_while() -> None:
    link = Link("PCMU")
    link.run(0.2)
    link.a.send_dtmf("5")
    original = link.a._transmit

    def no_end(data: bytes, to: tuple[Any, ...], rtcp: bool) -> None:
        packet = parse_rtp(data) if not rtcp else None
        if packet is not None and packet.payload_type == 101 and packet.payload[1] & 0x80:
            return  # the end packets are lost
        original(data, to, rtcp)

    link.a._transmit = no_end
    link.run(0.3)
    assert link.named("media.stream_dtmf") == []
    link.run(0.6)
    assert [(d["digit"], d["duration_ms"]) for d in link.named("media.stream_dtmf")] == [("5", 100)]


def test_hold_sends_nothing_but_rtcp() -> None:
    link = Link("PCMA")
    link.run(0.5)
    link.a.update(media("b", "PCMA", direction="recvonly"), link.now)
    before = link.rtp_sent("a")
    link.run(6.0)
    assert link.rtp_sent("a") == before
    assert any(who == "a" and rtcp for who, _, _, rtcp in link.sent)  # RTCP goes on
    with pytest.raises(StreamStateError):
        link.a.send_dtmf("1")
    link.a.update(media("b", "PCMA"), link.now)
    link.run(1.0)
    assert link.rtp_sent("a") > before + 40
    assert dominant(link.capture.audio(25))[0] == pytest.approx(1000, abs=2)
    first = next(parse_rtp(d) for w, d, _, r in link.sent[::-1] if w == "a" and not r)
    assert first.ssrc == link.a.session.ssrc  # type: ignore[union-attr]


def test_timeout_once_and_again_after_packets_resume() -> None:
    link = Link("PCMU", timeout=1)
    link.run(0.5)
    link.deliver = False
    link.run(2.5)
    assert [d["seconds"] for d in link.named("media.stream_timeout", "b")] == [1]
    link.deliver = True
    link.run(0.5)
    link.deliver = False
    link.run(1.5)
    assert len(link.named("media.stream_timeout", "b")) == 2


def test_no_timeout_while_not_receiving() -> None:
    link = Link("PCMU", timeout=1, direction="sendonly")
    link.deliver = False
    link.run(3)
    assert link.named("media.stream_timeout") == []


def test_symmetric_rtp_follows_the_source() -> None:
    link = Link("PCMU")
    link.run(0.3)
    session = link.b.session
    assert session is not None
    assert link.named("media.stream_rtp_changed", "a") == [
        {"stream_id": "a", "address": "10.0.0.2", "port": 6000}]
    # B's packets now come from another address (a NAT rebinding): without a new
    # offer/answer that is anybody's packets, dropped and counted.
    moved = ("10.9.9.9", 7000)
    link.deliver = False
    for _ in range(3):
        link.a.receive(session.send(bytes(160), 0, 160), moved, link.now, False)
    assert link.a.stats()["rtp_dropped_foreign"] == 3
    assert len(link.named("media.stream_rtp_changed", "a")) == 1
    link.run(0.1)
    assert [to for who, _, to, rtcp in link.sent if who == "a" and not rtcp][-1] == ADDRESS["b"]
    # A new offer/answer keeping the SDP address, where B's packets came from:
    # nothing to learn again.
    link.a.update(media("b", "PCMU"), link.now, relearn=True)
    for _ in range(2):
        link.a.receive(session.send(bytes(160), 0, 160), moved, link.now, False)
    assert len(link.named("media.stream_rtp_changed", "a")) == 1
    assert link.a.stats()["rtp_dropped_foreign"] == 5
    # an update with a new SDP address forgets what was learnt
    link.a.update(media("b", "PCMU", remote_port=6100, remote_rtcp_port=6101), link.now)
    link.run(0.04)
    assert [to for who, _, to, _ in link.sent if who == "a"][-1] == ("10.0.0.2", 6100)


def test_a_peer_behind_nat_is_learnt_in_the_window() -> None:
    # A's SDP for B names a private address nothing is delivered to; B's packets
    # come from 10.0.0.2:6000. A learns that address and sends there: B hears
    # A's tone only so.
    link = Link("PCMU", start=False)
    link.a.start(media("b", remote_address="192.168.1.2", remote_rtcp_address="192.168.1.2"),
                 link.now)
    link.b.start(media("a"), link.now)
    link.run(1.5)
    assert dominant(link.capture.audio(50))[0] == pytest.approx(1000, abs=1)
    assert link.named("media.stream_rtp_changed", "a") == [
        {"stream_id": "a", "address": "10.0.0.2", "port": 6000}]
    assert link.b.stats()["packets_received"] > 50
    # The NAT maps B anew: dropped until a new offer/answer (the same SDP) lets A
    # learn again, meanwhile still sending to the old mapping.
    b_session = link.b.session
    assert b_session is not None
    moved = ("10.9.9.9", 7000)
    link.deliver = False
    link.a.receive(b_session.send(bytes(160), 0, 160), moved, link.now, False)
    assert link.a.stats()["rtp_dropped_foreign"] == 1
    link.a.update(media("b", remote_address="192.168.1.2", remote_rtcp_address="192.168.1.2"),
                  link.now, relearn=True)
    link.run(0.04)
    assert [to for who, _, to, rtcp in link.sent if who == "a" and not rtcp][-1] == ADDRESS["b"]
    for _ in range(2):
        link.a.receive(b_session.send(bytes(160), 0, 160), moved, link.now, False)
    assert link.named("media.stream_rtp_changed", "a")[-1] == {
        "stream_id": "a", "address": "10.9.9.9", "port": 7000}
    link.run(0.04)
    assert [to for who, _, to, rtcp in link.sent if who == "a" and not rtcp][-1] == moved


def test_rtp_bleed_an_injected_stream_is_dropped_and_counted() -> None:
    link = Link("PCMU")
    link.run(0.5)
    intruder = ("10.6.6.6", 5000)
    received = link.b.stats()["packets_received"]
    # A stream of loud noise from elsewhere, in sequence, a new SSRC and A's SSRC,
    # interleaved with A's packets and in bursts between them.
    a_session = link.a.session
    assert a_session is not None
    for n in range(100):
        for ssrc in (0xBAD, a_session.ssrc):
            packet = RTPPacket(0, 1000 + n, 160 * n, ssrc, bytes(160)).serialize()
            link.b.receive(packet, intruder, link.now, False)
        if n % 2:
            link.run(0.02)
    frequency, level = dominant(link.capture.audio(25))
    assert frequency == pytest.approx(1000, abs=1) and level > 0.8 * 11585
    stats = link.b.stats()
    assert stats["rtp_dropped_foreign"] == 200
    assert stats["dropped"]["foreign-source"] == 200
    assert stats["packets_received"] >= received + 45
    assert link.named("media.stream_rtp_changed", "b") == [
        {"stream_id": "b", "address": "10.0.0.1", "port": 4000}]
    assert [to for who, _, to, rtcp in link.sent if who == "b" and not rtcp][-1] == ADDRESS["a"]


@pytest.mark.parametrize("rtcp_mux", [False, True])
def test_plaintext_rtcp_under_srtp_is_dropped(rtcp_mux: bool) -> None:
    link = Link("PCMU", srtp=True, rtcp_mux=rtcp_mux)
    link.run(6)  # RTCP both ways: B learnt A's RTCP address
    b_session, a_session = link.b.session, link.a.session
    assert b_session is not None and a_session is not None
    reception = b_session.reception
    assert reception is not None and reception.ssrc == a_session.ssrc
    rtcp_from = link.b.session.remote_rtcp_address_received
    assert rtcp_from == ((ADDRESS["a"][0], ADDRESS["a"][1] + (0 if rtcp_mux else 1)))
    before = link.b.stats()
    # An 8-byte RR and a BYE naming A's SSRC, in plaintext, from A's own RTCP
    # address and from another port of its host.
    rr = serialize_compound([ReceiverReport(0xBAD, ())])
    bye = serialize_compound([ReceiverReport(0xBAD, ()), Bye((a_session.ssrc,), None)])
    lone_bye = bye[8:]
    assert len(rr) == len(lone_bye) == 8
    port = ADDRESS["a"][1] if rtcp_mux else ADDRESS["a"][1] + 1
    for source in ((ADDRESS["a"][0], port), (ADDRESS["a"][0], 9999)):
        for data in (rr, bye, lone_bye):
            link.b.receive(data, source, link.now, not rtcp_mux)
    stats = link.b.stats()
    assert stats["srtcp_failures"] == before["srtcp_failures"] + 6
    assert stats["dropped"]["srtcp"] == stats["srtcp_failures"]
    assert stats["rtcp_received"] == before["rtcp_received"]
    assert b_session.reception is reception  # not reset by the BYE
    assert b_session.remote_rtcp_address_received == rtcp_from
    received = stats["packets_received"]
    link.run(0.5)
    assert link.b.stats()["packets_received"] >= received + 20
    assert link.b.stats()["lost"] == 0


def test_under_srtp_only_authenticated_packets_are_learnt() -> None:
    link = Link("PCMU", srtp=True, start=False)
    intruder = ("10.6.6.6", 5000)
    link.b.start(media("a", srtp=link.b_keys), link.now)
    # Before A sends anything, plaintext RTP in sequence from elsewhere: all SRTP failures.
    for n in range(10):
        link.b.receive(RTPPacket(0, 100 + n, 160 * n, 0xBAD, bytes(160)).serialize(),
                       intruder, link.now, False)
    assert link.b.stats()["srtp_failures"] == 10
    assert link.b.session is not None and link.b.session.remote_address_received is None
    link.a.start(media("b", srtp=link.a_keys), link.now)
    link.run(1.5)
    assert dominant(link.capture.audio(50))[0] == pytest.approx(1000, abs=1)
    assert link.named("media.stream_rtp_changed", "b") == [
        {"stream_id": "b", "address": "10.0.0.1", "port": 4000}]


def test_rtcp_reports_give_a_round_trip_time_and_bye_at_the_end() -> None:
    link = Link("PCMU", srtp=True)
    link.run(12)
    assert link.a.stats()["rtcp_received"] >= 1 and link.a.stats()["rtt_ms"] is not None
    final = link.a.end(link.now)
    assert final["packets_sent"] > 500
    last = link.sent[-1]
    assert last[0] == "a" and last[3]
    with pytest.raises(StreamStateError):
        link.a.update(media("b"), link.now)


def test_rtcp_mux() -> None:
    link = Link("G722", rtcp_mux=True)
    link.run(8)
    assert all(to[1] % 2 == 0 for _, _, to, _ in link.sent)
    stats = link.b.stats()
    assert stats["rtcp_received"] >= 1 and "rtcp-malformed" not in stats["dropped"]


def test_codec_change_in_an_update() -> None:
    link = Link("PCMU")
    link.run(0.5)
    link.a.update(media("b", "G722"), link.now)
    link.b.update(media("a", "G722"), link.now)
    link.run(1.0)
    assert dominant(link.capture.audio(25))[0] == pytest.approx(1000, abs=2)
    assert link.b.stats()["codec"] == "G722"


def test_new_srtp_keys_in_an_update() -> None:
    link = Link("PCMU", srtp=True)
    link.run(0.3)
    ka, kb = os.urandom(30), os.urandom(30)
    suite = "AES_CM_128_HMAC_SHA1_32"
    link.a.update(media("b", srtp={"suite": suite, "tag": 2, "local_key": ka, "remote_key": kb}),
                  link.now)
    link.b.update(media("a", srtp={"suite": suite, "tag": 2, "local_key": kb, "remote_key": ka}),
                  link.now)
    received = link.b.stats()["packets_received"]
    link.run(0.5)
    assert link.b.stats()["packets_received"] > received + 20
    assert link.b.stats()["srtp_failures"] == 0


def test_mute_sends_silence() -> None:
    link = Link("PCMU")
    link.a.set_mute(True)
    link.run(0.6)
    assert not link.capture.audio(10).any()
    assert link.rtp_sent("a") >= 29  # still sending (comfort for NATs and timeouts)


def test_stats_events_at_most_once_a_second_and_only_on_change() -> None:
    link = Link("PCMU", direction="inactive")
    link.run(0.5)
    link.run(3)
    stats = link.named("media.stream_stats", "a")
    # inactive: nothing changes but the RTCP counters, at most one per second
    assert len(stats) <= 4
    assert all(s["packets_sent"] == 0 for s in stats)


def test_start_and_update_errors() -> None:
    stream = Stream("x", lambda *a: None, lambda *a: None)
    with pytest.raises(StreamStateError):
        stream.update(media("b"), 0)
    with pytest.raises(StreamStateError):
        stream.send_dtmf("1")
    with pytest.raises(ParameterError):
        stream.start(media("b", payload_type=101), 0)  # codec and telephone-event share 101
    assert stream.session is None  # nothing applied
    stream.start(media("b"), 0)
    with pytest.raises(StreamStateError):
        stream.start(media("b"), 0)
    stream.end(0)
    with pytest.raises(StreamStateError):
        stream.start(media("b"), 0)


def test_a_stream_nobody_hears_is_not_decoded() -> None:
    link = Link("opus")
    link.mixer.disconnect("b", "capture")
    link.run(1.0)
    assert link.b.errors == {} and link.b._fifo == bytearray()
    assert link.b.stats()["packets_received"] > 40


@settings(max_examples=100)
@given(st.lists(st.binary(max_size=40), max_size=10), st.booleans())
@example([b"\x80\xc9\x00\x01" + bytes(4)], False)  # an 8-byte RR
@example([b"\x80\xc9\x00\x01" + bytes(4)], True)
def test_under_srtp_no_plaintext_datagram_counts(datagrams: list[bytes], rtcp_mux: bool) -> None:
    # Anything not protected, from the peer's own addresses, changes nothing but
    # the failure counters: no RTCP taken, reception kept, no address moved.
    link = Link("PCMU", srtp=True, rtcp_mux=rtcp_mux)
    link.run(0.2)
    session = link.b.session
    assert session is not None and session.reception is not None
    reception, before = session.reception, link.b.stats()
    rtcp_from, rtp_from = session.remote_rtcp_address_received, session.remote_address_received
    for data in datagrams:
        for rtcp_socket in (False, True):
            host, port = ADDRESS["a"]
            link.b.receive(data, (host, port + rtcp_socket), link.now, rtcp_socket)
    after = link.b.stats()
    assert after["rtcp_received"] == before["rtcp_received"]
    assert after["packets_received"] == before["packets_received"]
    assert session.reception is reception
    assert (session.remote_rtcp_address_received, session.remote_address_received) == (
        rtcp_from, rtp_from)


@settings(max_examples=300)
@given(st.lists(st.binary(max_size=80), max_size=20), st.booleans(), st.booleans())
def test_any_datagram_is_dropped_or_played(datagrams: list[bytes], srtp: bool, rtcp: bool) -> None:
    link = Link("G722", srtp=srtp, rtcp_mux=rtcp)
    link.run(0.1)
    for data in datagrams:
        link.b.receive(data, ("10.6.6.6", 666), link.now, rtcp)
        link.b.receive(b"\x80\x09" + data, ("10.6.6.6", 666), link.now, False)
    link.run(0.2)
    assert link.b.failed is None
    assert link.b.stats()["packets_received"] >= 10


@pytest.mark.parametrize("ms", [10, 20, 30])
def test_packets_of_any_duration_play_as_whole_frames_in_order(ms: int) -> None:
    # 20 ms packets skip the FIFO that evens out other durations: both give the audio.
    link = Link()
    samples = (np.arange(12 * ms * 8) * 97 % 30000 - 15000).astype("<i2")
    chunks = [samples[i : i + ms * 8].tobytes() for i in range(0, len(samples), ms * 8)]
    payloads = [ulaw_encode(chunk) for chunk in chunks]
    for n, payload in enumerate(payloads):
        packet = RTPPacket(0, 100 + n, n * ms * 8, 0x1234, payload).serialize()
        link.b.receive(packet, ADDRESS["a"], link.now + n * ms / 1000, False)
    played = [link.b._next_pcm(True) for _ in range(len(samples) // 160 + 2)]
    audio = b"".join(pcm for pcm in played if pcm is not None)
    expected = b"".join(ulaw_decode(payload) for payload in payloads[1:])  # 1st: probation
    assert audio[: len(expected)] == expected
    assert len(audio) >= len(expected) and set(audio[len(expected) :]) <= {0}
    assert link.b.stats()["concealed"] == 0


def test_skipped_ticks_send_nothing_and_drop_their_frames() -> None:
    link = Link("opus")
    link.run(1.0)
    assert link.b.jitter is not None
    for _ in range(3):  # three more of a's packets wait in b's buffer
        link.a.prepare(link.now)
        link.a.push(link.tone.pull(True))
    depth = link.b.jitter.depth
    assert depth >= 3
    sent = link.rtp_sent("a")
    last = next(parse_rtp(d) for w, d, _, r in link.sent[::-1] if w == "a" and not r)
    link.a.skip(5)
    link.b.skip(2)
    assert link.rtp_sent("a") == sent  # nothing sent, nothing decoded for skipped ticks
    # b dropped the frames due in the skipped ticks rather than play them late
    assert link.b.jitter.depth == depth - 2
    link.run(0.02)
    after = next(parse_rtp(d) for w, d, _, r in link.sent[::-1] if w == "a" and not r)
    # the peer sees a gap of five frames in media time (it conceals), no lost packet
    assert after.sequence_number == (last.sequence_number + 1) % 65536
    assert after.timestamp == (last.timestamp + 6 * 960) % (1 << 32)
    assert after.marker  # a new talkspurt: the peer may adapt its playout
    assert (link.a.stats()["skipped"], link.b.stats()["skipped"]) == (5, 2)
    link.run(1.0)
    assert dominant(link.capture.audio(25))[0] == pytest.approx(1000, abs=2)
