"""RTPSession: sending, validation and drops, SSRC switching, symmetric RTP, DTMF, RTCP."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipsimple_services.media.rtp.dtmf import DTMFDigit, TelephoneEvent
from sipsimple_services.media.rtp.packet import RTPPacket, parse_rtp
from sipsimple_services.media.rtp.rtcp import (
    Bye,
    ReceiverReport,
    ReportBlock,
    SenderReport,
    SourceDescription,
    parse_compound,
    serialize_compound,
)
from sipsimple_services.media.rtp.session import (
    AudioPacket,
    ByeReceived,
    Dropped,
    DropReason,
    PayloadFormat,
    ReportReceived,
    RTPSession,
    SenderReportReceived,
    SSRCChanged,
)

FORMATS = [
    PayloadFormat(0, "PCMU", 8000),
    PayloadFormat(9, "G722", 8000),
    PayloadFormat(101, "telephone-event", 8000),
]
PEER = ("192.0.2.7", 4000)
T0 = 1_800_000_000.0


def session(seed: int = 1, **kwargs: int) -> RTPSession:
    return RTPSession(FORMATS, rng=random.Random(seed), **kwargs)


def rtp(ssrc: int, seq: int, pt: int = 0, payload: bytes = b"\xff" * 160, ts: int = 0) -> bytes:
    return RTPPacket(pt, seq % 65536, ts % (1 << 32), ssrc, payload).serialize()


def started(receiver: RTPSession, ssrc: int = 0x1234, first: int = 100) -> int:
    """Bring `receiver` past the first-source probation; returns the next sequence number."""
    assert receiver.receive(rtp(ssrc, first), T0, PEER) == [Dropped(DropReason.PROBATION)]
    events = receiver.receive(rtp(ssrc, first + 1, ts=160), T0 + 0.02, PEER)
    assert events[0] == SSRCChanged(None, ssrc) and isinstance(events[1], AudioPacket)
    return first + 2


def test_sending_numbers_packets_from_random_starts() -> None:
    a = session(seed=5)
    b = session(seed=6)
    assert (a.ssrc, a.sequence_number, a.timestamp) != (b.ssrc, b.sequence_number, b.timestamp)
    again = session(seed=5)
    assert (a.ssrc, a.sequence_number, a.timestamp, a.cname) == (
        again.ssrc,
        again.sequence_number,
        again.timestamp,
        again.cname,
    )
    seq, ts = a.sequence_number, a.timestamp
    first = parse_rtp(a.send(b"x" * 160, 0, 160, marker=True))
    second = parse_rtp(a.send(b"y" * 80, 9, 160))
    assert (first.sequence_number, first.timestamp, first.marker) == (seq, ts, True)
    assert second.sequence_number == (seq + 1) % 65536
    assert second.timestamp == (ts + 160) % (1 << 32)
    assert first.ssrc == second.ssrc == a.ssrc and second.payload_type == 9
    assert (a.sending.packets, a.sending.octets) == (2, 240)
    with pytest.raises(ValueError):
        a.send(b"", 8, 160)  # PCMA was not negotiated
    assert session(ssrc=42).ssrc == 42


def test_sequence_and_timestamp_wrap() -> None:
    a = session()
    a.sequence_number = 65535
    a.timestamp = (1 << 32) - 100
    a.send(b"", 0, 160)
    assert (a.sequence_number, a.timestamp) == (0, 60)


def test_drops_are_counted_and_reported() -> None:
    b = session()
    started(b)
    cases = [
        (b"\x80\x00\x00", DropReason.SHORT),
        (b"\x40" + rtp(0x1234, 5)[1:], DropReason.VERSION),
        (b"\x8f" + rtp(0x1234, 5)[1:20], DropReason.MALFORMED),  # 15 CSRCs announced
        (rtp(0x1234, 102, pt=8), DropReason.PAYLOAD_TYPE),
        (rtp(b.ssrc, 102), DropReason.OWN_SSRC),
        (rtp(0x1234, 102, pt=101, payload=b"\x01"), DropReason.DTMF),
    ]
    for data, reason in cases:
        assert b.receive(data, T0, PEER)[-1] == Dropped(reason)
    assert b.receive(b"\x80\xc8\x00\x00", T0, PEER) == [Dropped(DropReason.RTCP)]
    assert {reason: b.dropped[reason] for reason in b.dropped} == {
        DropReason.PROBATION: 1,
        DropReason.SHORT: 1,
        DropReason.VERSION: 1,
        DropReason.MALFORMED: 1,
        DropReason.PAYLOAD_TYPE: 1,
        DropReason.OWN_SSRC: 1,
        DropReason.DTMF: 1,
        DropReason.RTCP: 1,
    }
    # The stream goes on.
    assert isinstance(b.receive(rtp(0x1234, 103), T0, PEER)[0], AudioPacket)


def test_audio_packet_event() -> None:
    b = session()
    seq = started(b)
    [event] = b.receive(
        RTPPacket(9, seq, 320, 0x1234, b"g722", marker=True).serialize(), T0 + 0.04, PEER
    )
    assert event == AudioPacket(9, "G722", 8000, seq, 320, b"g722", True, 0x1234)
    assert b.packets_received == 2


def test_another_ssrc_from_the_peer_needs_a_sequential_burst_to_take_over() -> None:
    # A peer that restarts with a new SSRC (from its latched address) is followed.
    b = session(ssrc_switch_packets=3)
    seq = started(b)
    # Two in sequence, then the current SSRC speaks: the count starts over.
    for n in range(2):
        assert b.receive(rtp(0xBAD, 500 + n), T0, PEER) == [Dropped(DropReason.FOREIGN_SSRC)]
    assert isinstance(b.receive(rtp(0x1234, seq), T0, PEER)[0], AudioPacket)
    assert b.receive(rtp(0xBAD, 502), T0, PEER) == [Dropped(DropReason.FOREIGN_SSRC)]
    # Out of sequence does not count either.
    assert b.receive(rtp(0xBAD, 510), T0, PEER) == [Dropped(DropReason.FOREIGN_SSRC)]
    assert b.remote_ssrc == 0x1234
    # Three in sequence with nothing from the current source in between: switch.
    assert b.receive(rtp(0xBAD, 511), T0, PEER) == [Dropped(DropReason.FOREIGN_SSRC)]
    events = b.receive(rtp(0xBAD, 512), T0, PEER)
    assert events[0] == SSRCChanged(0x1234, 0xBAD) and isinstance(events[1], AudioPacket)
    assert b.remote_ssrc == 0xBAD and b.remote_address_received == PEER
    assert b.dropped[DropReason.FOREIGN_SSRC] == 5
    # Now the old SSRC is the foreign one.
    assert b.receive(rtp(0x1234, seq + 1), T0, PEER) == [Dropped(DropReason.FOREIGN_SSRC)]


def test_symmetric_rtp_follows_valid_packets_only() -> None:
    b = session()
    assert b.remote_address_received is None
    elsewhere = ("203.0.113.5", 5000)
    b.receive(rtp(0x1234, 100, pt=96), T0, elsewhere)  # unknown payload type
    b.receive(rtp(0x1234, 101, pt=96), T0, elsewhere)
    b.receive(b"garbage", T0, elsewhere)
    assert b.remote_address_received is None
    started(b)
    assert b.remote_address_received == PEER


INTRUDER = ("198.51.100.1", 9999)


def learnt(receiver: RTPSession, now: float = T0, source: tuple[str, int] = PEER,
           ssrc: int = 0x1234, first: int = 100) -> int:
    """`receiver` learns `source` from two consecutive packets; the next sequence number."""
    assert receiver.receive(rtp(ssrc, first), now, source) == [Dropped(DropReason.PROBATION)]
    events = receiver.receive(rtp(ssrc, first + 1, ts=160), now + 0.02, source)
    assert isinstance(events[-1], AudioPacket), events
    assert receiver.remote_address_received == source
    return first + 2


def test_rtp_bleed_another_address_never_takes_a_learnt_stream_over() -> None:
    b = session()
    b.learn(T0, PEER)
    seq = learnt(b)
    # The old rule's two ways in: a burst with a new SSRC, and the current SSRC
    # with the next sequence number; from another address neither counts now.
    for n in range(10):
        assert b.receive(rtp(0xBAD, 500 + n), T0 + 0.1, INTRUDER) == [
            Dropped(DropReason.FOREIGN_SOURCE)]
    assert b.receive(rtp(0x1234, seq), T0 + 0.1, INTRUDER) == [Dropped(DropReason.FOREIGN_SOURCE)]
    assert b.remote_ssrc == 0x1234 and b.remote_address_received == PEER
    assert b.dropped[DropReason.FOREIGN_SOURCE] == 11
    # The peer keeps the stream: its next packet (the same number) still plays.
    assert isinstance(b.receive(rtp(0x1234, seq), T0 + 0.12, PEER)[0], AudioPacket)
    assert b.packets_received == 2


def test_learning_needs_consecutive_packets_from_one_source() -> None:
    b = session()
    b.learn(T0, PEER)
    # Out of sequence, another SSRC, another address: no run completes.
    assert b.receive(rtp(0x1234, 100), T0, PEER) == [Dropped(DropReason.PROBATION)]
    assert b.receive(rtp(0x1234, 102), T0, PEER) == [Dropped(DropReason.PROBATION)]
    assert b.receive(rtp(0x5678, 103), T0, PEER) == [Dropped(DropReason.PROBATION)]
    assert b.receive(rtp(0x5678, 104), T0, INTRUDER) == [Dropped(DropReason.PROBATION)]
    assert b.remote_address_received is None and b.remote_ssrc is None
    # Each source's run is its own: an interleaved stranger does not break the peer's.
    assert b.receive(rtp(0x9999, 7), T0, INTRUDER) == [Dropped(DropReason.PROBATION)]
    events = b.receive(rtp(0x5678, 104), T0, PEER)
    assert events[0] == SSRCChanged(None, 0x5678) and isinstance(events[1], AudioPacket)
    assert b.remote_address_received == PEER
    assert b.receive(rtp(0x9999, 8), T0, INTRUDER) == [Dropped(DropReason.FOREIGN_SOURCE)]


def test_a_nat_address_is_learnt_only_in_the_window() -> None:
    nat = ("203.0.113.5", 31000)
    b = session()
    b.learn(T0, PEER)  # the SDP says PEER; the peer's NAT sends from elsewhere
    learnt(b, T0 + 4.9, nat)
    assert b.remote_address_received == nat
    late = session()
    late.learn(T0, PEER)
    for n in range(5):
        assert late.receive(rtp(0x1234, 100 + n), T0 + 5.0, nat) == [
            Dropped(DropReason.FOREIGN_SOURCE)]
    assert late.remote_address_received is None
    # The SDP address itself may still be learnt after the window (a late starter).
    learnt(late, T0 + 20, PEER, first=300)


def test_relearn_only_after_a_new_offer_answer() -> None:
    nat = ("203.0.113.5", 31000)
    moved = ("203.0.113.5", 42000)
    b = session()
    b.learn(T0, PEER)
    seq = learnt(b, T0, nat)
    # The NAT rebinds: the peer's packets from the new port are foreign...
    assert b.receive(rtp(0x1234, seq), T0 + 10, moved) == [Dropped(DropReason.FOREIGN_SOURCE)]
    assert b.remote_address_received == nat
    # ... until a new offer/answer opens the window again. Keeping the SDP
    # address, the old source is still heard and sent to until another is learnt.
    b.learn(T0 + 20, PEER, keep_previous=True)
    assert b.remote_address_received == nat
    assert isinstance(b.receive(rtp(0x1234, seq + 1), T0 + 20, nat)[0], AudioPacket)
    assert b.receive(rtp(0x1234, seq + 2), T0 + 20.02, moved) == [Dropped(DropReason.PROBATION)]
    assert isinstance(b.receive(rtp(0x1234, seq + 3), T0 + 20.04, moved)[0], AudioPacket)
    assert b.remote_address_received == moved
    assert b.receive(rtp(0x1234, seq + 4), T0 + 20.06, nat) == [Dropped(DropReason.FOREIGN_SOURCE)]
    # A new SDP address forgets the old one at once.
    b.learn(T0 + 30, ("192.0.2.99", 5000))
    assert b.remote_address_received is None
    assert b.receive(rtp(0x1234, seq + 5), T0 + 30, moved) == [Dropped(DropReason.PROBATION)]


def test_rtcp_only_from_the_latched_source() -> None:
    report = serialize_compound([ReceiverReport(0x1234, ()),
                                 SourceDescription.with_cname(0x1234, "peer")])
    bye = serialize_compound([ReceiverReport(0x1234, ()), Bye((0x1234,), None)])
    rtcp_port = (PEER[0], PEER[1] + 1)
    b = session()
    # Nothing latched and no SDP address known: no RTCP is taken.
    assert b.receive_rtcp(report, T0, rtcp_port) == [Dropped(DropReason.RTCP_FOREIGN_SOURCE)]
    b.learn(T0, PEER, expected_rtcp=rtcp_port)
    # Before any RTP (a stream on hold) only from the SDP's RTCP address (RTP's if muxed).
    assert b.receive_rtcp(report, T0, (PEER[0], 7777)) == [
        Dropped(DropReason.RTCP_FOREIGN_SOURCE)]
    assert b.receive(report, T0, rtcp_port) == [Dropped(DropReason.RTCP_FOREIGN_SOURCE)]
    assert b.receive_rtcp(report, T0, rtcp_port) == []
    learnt(b)
    # Not the latched host, or (muxed) not its address: dropped, nothing moves.
    assert b.receive_rtcp(bye, T0 + 1, INTRUDER) == [Dropped(DropReason.RTCP_FOREIGN_SOURCE)]
    assert b.receive(bye, T0 + 1, rtcp_port) == [Dropped(DropReason.RTCP_FOREIGN_SOURCE)]
    assert b.receive_rtcp(bye, T0 + 1, (PEER[0], 7777)) == [
        Dropped(DropReason.RTCP_FOREIGN_SOURCE)]
    assert b.remote_ssrc == 0x1234 and b.remote_rtcp_address_received == rtcp_port
    assert b.dropped[DropReason.RTCP_FOREIGN_SOURCE] == 6
    # A peer behind a NAT: RTCP from its latched host, the first port it comes from.
    nat = ("203.0.113.5", 31000)
    c = session()
    c.learn(T0, PEER, expected_rtcp=rtcp_port)
    learnt(c, T0, nat)
    assert c.receive_rtcp(report, T0 + 1, rtcp_port) == [Dropped(DropReason.RTCP_FOREIGN_SOURCE)]
    assert c.receive_rtcp(report, T0 + 1, (nat[0], 31001)) == []
    assert c.remote_rtcp_address_received == (nat[0], 31001)
    assert c.receive_rtcp(report, T0 + 2, (nat[0], 7777)) == [
        Dropped(DropReason.RTCP_FOREIGN_SOURCE)]
    assert c.remote_rtcp_address_received == (nat[0], 31001)
    # Its NAT maps it anew and an offer/answer lets the new mapping be learnt:
    # RTCP is learnt again from the new mapping's host.
    moved = ("203.0.113.77", 1000)
    c.learn(T0 + 10, PEER, keep_previous=True, expected_rtcp=rtcp_port)
    assert c.receive_rtcp(report, T0 + 10, (nat[0], 31001)) == []  # the old one meanwhile
    learnt(c, T0 + 10, moved, first=200)
    assert c.remote_rtcp_address_received is None
    assert c.receive_rtcp(report, T0 + 11, (nat[0], 31001)) == [
        Dropped(DropReason.RTCP_FOREIGN_SOURCE)]
    assert c.receive_rtcp(report, T0 + 11, (moved[0], 1001)) == []
    assert c.remote_rtcp_address_received == (moved[0], 1001)


def test_sequence_jump_waits_for_confirmation() -> None:
    b = session()
    seq = started(b)
    assert b.receive(rtp(0x1234, seq + 10_000), T0, PEER) == [Dropped(DropReason.SEQUENCE)]
    assert isinstance(b.receive(rtp(0x1234, seq + 10_001), T0, PEER)[0], AudioPacket)


def test_dtmf_round_trip() -> None:
    a, b = session(seed=1), session(seed=2)
    a.send(b"\xff" * 160, 0, 160)
    a.send(b"\xff" * 160, 0, 160)  # b's probation
    for data in (a.send(b"\xff" * 160, 0, 160), a.send(b"\xff" * 160, 0, 160)):
        b.receive(data, T0, PEER)
    digits = []
    for digit in "1#1":
        plan = a.dtmf_packets(digit, 0.1)
        assert len({p.timestamp for p in plan}) == 1
        for packet in plan:
            parsed = parse_rtp(a.send_dtmf(packet))
            assert parsed.payload_type == 101 and parsed.timestamp == packet.timestamp
            assert parsed.marker == packet.marker
            digits += [
                e for e in b.receive(parsed.serialize(), T0, PEER) if isinstance(e, DTMFDigit)
            ]
    # The same digit twice in a row is two events: the timestamp moved on.
    assert [d.digit for d in digits] == ["1", "#", "1"]
    assert len({d.timestamp for d in digits}) == 3
    with pytest.raises(ValueError):
        a.dtmf_packets("E")
    without = RTPSession([PayloadFormat(0, "PCMU", 8000)], rng=random.Random(1))
    with pytest.raises(ValueError, match="telephone-event"):
        without.dtmf_packets("1")


def test_dtmf_event_payload_in_the_packet() -> None:
    a = session()
    plan = a.dtmf_packets("9", 0.05)
    assert TelephoneEvent.parse(plan[0].payload).event == 9
    assert plan[-1].end and TelephoneEvent.parse(plan[-1].payload).end


def test_rtcp_schedule_is_randomised_around_the_interval() -> None:
    a = session()
    assert not a.rtcp_due(100.0)
    first = a.next_rtcp_time
    assert first is not None and 101.25 <= first <= 103.75
    assert a.rtcp_due(first)
    a.make_rtcp(first)
    following = a.next_rtcp_time
    assert following is not None and first + 2.5 <= following <= first + 7.5
    gaps = set()
    for _ in range(20):
        now = a.next_rtcp_time
        assert now is not None
        a.make_rtcp(now)
        following = a.next_rtcp_time
        assert following is not None and now + 2.5 <= following <= now + 7.5
        gaps.add(round(following - now, 3))
    assert len(gaps) > 1


def test_reports_loss_jitter_and_round_trip_time() -> None:
    a, b = session(seed=1), session(seed=2)
    # a sends 50 packets every 20 ms; 5 are lost on the way.
    for n in range(50):
        data = a.send(b"\xff" * 160, 0, 160, now=T0 + n * 0.02)
        if n not in (10, 11, 20, 30, 40):
            b.receive(data, T0 + n * 0.02 + 0.01, PEER)
    # a's SR at T0+1; b gets it 30 ms later and answers 200 ms after that.
    sr = a.make_rtcp(T0 + 1.0)
    first = parse_compound(sr)
    assert isinstance(first[0], SenderReport) and first[0].sender_info.packet_count == 50
    assert isinstance(first[1], SourceDescription) and first[1].chunks[0].cname == a.cname
    events = b.receive_rtcp(sr, T0 + 1.03, ("192.0.2.7", 4001))
    assert events == [SenderReportReceived(a.ssrc, first[0].sender_info)]
    assert b.remote_rtcp_address_received == ("192.0.2.7", 4001)
    rr = b.make_rtcp(T0 + 1.23)
    report = parse_compound(rr)[0]
    assert isinstance(report, ReceiverReport)  # b sent nothing
    [block] = report.reports
    assert block.ssrc == a.ssrc and block.cumulative_lost == 5 and block.fraction_lost == 26
    assert block.jitter == 0  # constant network delay
    [event] = a.receive_rtcp(rr, T0 + 1.26)
    assert isinstance(event, ReportReceived) and event.reporter == b.ssrc
    # 1.26 s after the SR, less the 0.2 s b held it: 60 ms.
    assert event.round_trip_time is not None and abs(event.round_trip_time - 0.06) < 0.001
    assert a.round_trip_time == event.round_trip_time


def test_rtcp_mux_on_the_rtp_port() -> None:
    a, b = session(seed=1), session(seed=2)
    for _ in range(2):  # b learns a's address
        b.receive(a.send(b"\xff" * 160, 0, 160, now=T0), T0, PEER)
    [event] = b.receive(a.make_rtcp(T0), T0, PEER)
    assert isinstance(event, SenderReportReceived) and event.ssrc == a.ssrc
    assert b.dropped == {DropReason.PROBATION: 1} and b.packets_received == 1


def test_bye() -> None:
    a, b = session(seed=1), session(seed=2)
    for _ in range(3):
        b.receive(a.send(b"\xff" * 160, 0, 160), T0, PEER)
    assert b.remote_ssrc == a.ssrc
    data = a.bye(T0, "hangup")
    packets = parse_compound(data)
    assert isinstance(packets[-1], Bye) and packets[-1].sources == (a.ssrc,)
    events = b.receive_rtcp(data, T0)
    assert events[-1] == ByeReceived((a.ssrc,), "hangup")
    assert b.remote_ssrc is None


def test_set_formats_after_a_reinvite() -> None:
    b = session()
    seq = started(b)
    b.set_formats([PayloadFormat(8, "PCMA", 8000)])
    assert b.receive(rtp(0x1234, seq), T0, PEER) == [Dropped(DropReason.PAYLOAD_TYPE)]
    assert isinstance(b.receive(rtp(0x1234, seq + 1, pt=8), T0, PEER)[0], AudioPacket)
    with pytest.raises(ValueError):
        b.set_formats([PayloadFormat(101, "telephone-event", 8000)])



def test_send_formats_are_the_peers_numbers() -> None:
    # An answer may renumber: we send with the peer's numbers, receive with ours.
    ours = [PayloadFormat(96, "opus", 48000), PayloadFormat(101, "telephone-event", 48000)]
    theirs = [PayloadFormat(111, "opus", 48000), PayloadFormat(100, "telephone-event", 48000)]
    a = RTPSession(ours, rng=random.Random(3), send_formats=theirs)
    assert parse_rtp(a.send(b"x", 111, 960)).payload_type == 111
    with pytest.raises(ValueError):
        a.send(b"x", 96, 960)
    plan = a.dtmf_packets("5")
    assert parse_rtp(a.send_dtmf(plan[0])).payload_type == 100
    assert a.receive(rtp(0x55, 1, pt=111), T0, PEER) == [Dropped(DropReason.PAYLOAD_TYPE)]


EVENT_TYPES = (
    AudioPacket,
    DTMFDigit,
    SSRCChanged,
    Dropped,
    ReportReceived,
    SenderReportReceived,
    ByeReceived,
)


@given(st.lists(st.binary(max_size=200), max_size=20))
def test_arbitrary_datagrams_never_raise(datagrams: list[bytes]) -> None:
    b = session()
    for n, data in enumerate(datagrams):
        for event in b.receive(data, T0 + n * 0.02, PEER):
            assert isinstance(event, EVENT_TYPES)


@given(
    st.lists(
        st.tuples(
            st.sampled_from([0, 9, 101, 96, 72]),
            st.integers(0, 65535),
            st.sampled_from([0x1234, 0x5678]),
            st.binary(max_size=8),
            st.integers(0, 3),
        ),
        max_size=40,
    )
)
def test_plausible_packets_never_raise(packets: list[tuple[int, int, int, bytes, int]]) -> None:
    """Well-formed headers with hostile contents: every outcome is an event."""
    b = session()
    for n, (pt, seq, ssrc, payload, pad) in enumerate(packets):
        data = RTPPacket(pt, seq, n * 160, ssrc, payload, padding=pad).serialize()
        events = b.receive(data, T0 + n * 0.02, PEER)
        assert all(isinstance(e, EVENT_TYPES) for e in events)
    total = b.packets_received + sum(b.dropped.values())
    assert total >= len(packets)


@given(
    st.lists(
        st.tuples(st.integers(0, 0xFFFFFFFF), st.integers(0, 0xFFFFFFFF), st.booleans()),
        max_size=5,
    ),
    st.floats(0, 4e9, allow_nan=False),
)
def test_hostile_reports_about_us_never_raise(
    blocks: list[tuple[int, int, bool]], now: float
) -> None:
    """Report blocks about our SSRC with any LSR/DLSR: an RTT is None or not negative."""
    a = session()
    reports = tuple(
        ReportBlock(a.ssrc if ours else 7, 0, 0, 0, 0, lsr, dlsr) for lsr, dlsr, ours in blocks
    )
    data = serialize_compound([ReceiverReport(99, reports), Bye((99,), None)])
    events = a.receive_rtcp(data, now)  # from a source already checked
    assert events[-1] == ByeReceived((99,), None)
    received = [e for e in events if isinstance(e, ReportReceived)]
    assert len(received) == sum(ours for _, _, ours in blocks)
    assert all(e.round_trip_time is None or e.round_trip_time >= 0 for e in received)


@given(
    marker=st.booleans(),
    payload=st.binary(max_size=200),
    samples=st.integers(0, 2000),
    seed=st.integers(0, 1000),
)
def test_sent_packets_are_what_the_packet_value_serialises(
    marker: bool, payload: bytes, samples: int, seed: int
) -> None:
    # The session writes the header itself (a hot path): it must be RTPPacket's bytes.
    sender = session(seed=seed)
    sequence, timestamp = sender.sequence_number, sender.timestamp
    data = sender.send(payload, 0, samples, marker=marker)
    assert data == RTPPacket(0, sequence, timestamp, sender.ssrc, payload, marker).serialize()
    assert parse_rtp(data) == RTPPacket(0, sequence, timestamp, sender.ssrc, payload, marker)


@given(
    csrc=st.lists(st.integers(0, 0xFFFFFFFF), max_size=3),
    padding=st.sampled_from([0, 1, 4]),
    marker=st.booleans(),
    payload=st.binary(min_size=1, max_size=200),
)
def test_packets_with_csrc_or_padding_give_the_same_audio_as_plain_ones(
    csrc: list[int], padding: int, marker: bool, payload: bytes
) -> None:
    # Plain headers are read on a fast path, the others by parse_rtp: same events.
    events = []
    for extra in ({}, {"csrc": tuple(csrc), "padding": padding}):
        receiver = session()
        seq = started(receiver)
        packet = RTPPacket(0, seq, 320, 0x1234, payload, marker, **extra)  # type: ignore[arg-type]
        events.append(receiver.receive(packet.serialize(), T0 + 0.04, PEER))
    assert events[0] == events[1]
    assert events[0] == [AudioPacket(0, "PCMU", 8000, seq, 320, payload, marker, 0x1234)]


def test_pin_sends_to_and_takes_only_from_the_address_ice_chose() -> None:
    receiver = session()
    receiver.learn(T0, ("192.0.2.99", 5000))  # the SDP's default candidate
    receiver.pin(T0, PEER, ("192.0.2.7", 4001))
    assert receiver.remote_address_received == PEER
    assert receiver.remote_rtcp_address_received == ("192.0.2.7", 4001)
    assert receiver.receive(rtp(1, 5), T0, ("192.0.2.99", 5000)) == [
        Dropped(DropReason.FOREIGN_SOURCE)
    ]
    started(receiver, 0x1234, 100)  # from the pinned address: only the SSRC probation
