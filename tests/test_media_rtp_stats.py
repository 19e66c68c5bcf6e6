"""RFC 3550 statistics: A.1 sequence validation, A.3 loss, A.8 jitter, 6.4.1 RTT."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sipsimple_services.media.rtp.rtcp import ReceiverReport, ReportBlock, SenderReport
from sipsimple_services.media.rtp.stats import (
    MAX_DROPOUT,
    ReceptionStatistics,
    SendingStatistics,
    make_report,
    ntp_compact,
    ntp_timestamp,
    round_trip_time,
)


def feed(stats: ReceptionStatistics, sequences: list[int]) -> list[bool]:
    return [stats.update_sequence(seq % 65536) for seq in sequences]


def test_probation_then_counting() -> None:
    stats = ReceptionStatistics(1, 100)
    assert not stats.valid
    assert feed(stats, [100, 101, 102]) == [False, True, True]
    assert stats.valid and stats.received == 2 and stats.expected == 2 and stats.lost == 0


def test_probation_restarts_on_a_gap() -> None:
    stats = ReceptionStatistics(1, 100, min_sequential=3)
    assert feed(stats, [100, 101, 103, 104, 105]) == [False, False, False, False, True]
    assert stats.base_seq == 105


def test_wrap_around_counts_cycles() -> None:
    stats = ReceptionStatistics(1, 65534)
    feed(stats, [65534, 65535, 0, 1, 2])
    assert stats.cycles == 65536 and stats.max_seq == 2
    assert stats.extended_max == 65536 + 2
    assert stats.expected == 4 and stats.lost == 0
    assert stats.report_block(0.0).highest_sequence == (1 << 16) | 2


def test_loss_reordering_and_duplicates() -> None:
    stats = ReceptionStatistics(7, 10)
    assert feed(stats, [10, 11]) == [False, True]
    # 14 and 15 lost; 12 late; 16 duplicated: all count as received.
    assert all(feed(stats, [13, 12, 16, 16, 17]))
    assert stats.expected == 17 - 11 + 1
    assert stats.received == 6
    assert stats.lost == 1
    block = stats.report_block(0.0)
    assert block.cumulative_lost == 1
    assert block.fraction_lost == (1 << 8) // 7
    # Duplicates can make the interval's loss negative: fraction is then 0.
    feed(stats, [18, 18, 18])
    block = stats.report_block(0.0)
    assert block.fraction_lost == 0 and block.cumulative_lost == -1


def test_fraction_lost_per_interval() -> None:
    stats = ReceptionStatistics(7, 0)
    feed(stats, [0, *range(1, 101)])
    assert stats.report_block(1.0).fraction_lost == 0
    # Every other packet of the next 100 lost.
    feed(stats, list(range(102, 301, 2)))
    assert stats.report_block(2.0).fraction_lost == 128  # 100 of 200
    assert stats.lost == 100


def test_large_jump_needs_two_sequential_packets() -> None:
    stats = ReceptionStatistics(1, 10)
    feed(stats, [10, 11, 12])
    far = 12 + MAX_DROPOUT + 10
    assert feed(stats, [far]) == [False]
    assert feed(stats, [13]) == [True]  # the stream goes on: the jump was noise
    assert feed(stats, [far + 100, far + 101, far + 102]) == [False, True, True]
    assert stats.base_seq == far + 101 and stats.received == 2


def test_misordered_within_limit_is_counted() -> None:
    stats = ReceptionStatistics(1, 1000)
    feed(stats, [1000, 1001, 1002])
    assert feed(stats, [950]) == [True]
    assert stats.max_seq == 1002


def test_jitter_constant_delay_is_zero_and_variation_is_measured() -> None:
    stats = ReceptionStatistics(1, 0)
    for i in range(50):
        stats.update_jitter(1000 + 160 * i, 5000.0 + 160 * i)
    assert stats.jitter == 0
    # Alternating +-40 units of delay: |D| = 80 each time; J converges to 80.
    for i in range(50, 400):
        stats.update_jitter(1000 + 160 * i, 5000.0 + 160 * i + (40 if i % 2 else -40))
    assert 79 < stats.jitter <= 80
    assert stats.report_block(0.0).jitter == 79


def test_jitter_across_timestamp_wrap() -> None:
    stats = ReceptionStatistics(1, 0)
    base = (1 << 32) - 320
    for i in range(6):
        stats.update_jitter((base + 160 * i) % (1 << 32), 1e6 + 160 * i)
    assert stats.jitter == 0


def test_round_trip_time() -> None:
    # We send an SR at t0; the peer gets it at t1 and reports at t2; back at t3.
    t0, t1, t2, t3 = 1_700_000_000.0, 1_700_000_000.05, 1_700_000_001.05, 1_700_000_001.2
    lsr = ntp_compact(ntp_timestamp(t0))
    peer = ReceptionStatistics(0xAB, 0)
    peer.sender_report_received(ntp_timestamp(t0), t1)
    block = peer.report_block(t2)
    assert block.lsr == lsr and block.dlsr == 65536
    rtt = round_trip_time(block, t3)
    assert rtt is not None and abs(rtt - 0.2) < 0.001
    assert round_trip_time(ReportBlock(1, 0, 0, 0, 0, 0, 0), t3) is None
    # A report claiming a delay longer than the time that passed is nonsense.
    assert round_trip_time(ReportBlock(1, 0, 0, 0, 0, lsr, 65536 * 10), t3) is None


def test_ntp_conversion() -> None:
    # The Unix epoch is 2208988800 s after the NTP epoch; half a second is 0x80000000.
    assert ntp_timestamp(0.5) == (2_208_988_800 << 32) | 0x80000000
    assert ntp_compact(ntp_timestamp(0.5)) == ((2_208_988_800 & 0xFFFF) << 16) | 0x8000


def test_sender_report_or_receiver_report() -> None:
    sending = SendingStatistics(8000)
    source = ReceptionStatistics(5, 0)
    feed(source, [0, 1, 2])
    report = make_report(9, 10.0, sending, [source])
    assert isinstance(report, ReceiverReport) and report.reports[0].ssrc == 5
    sending.sent(1000, 160, now=10.0)
    sending.sent(1160, 160, now=10.02)
    report = make_report(9, 10.52, sending, [source])
    assert isinstance(report, SenderReport)
    info = report.sender_info
    assert (info.packet_count, info.octet_count) == (2, 320)
    # 0.5 s after the last packet's timestamp 1160 at 8 kHz.
    assert info.rtp_timestamp == 1160 + 4000
    assert info.ntp_timestamp == ntp_timestamp(10.52)
    # Nothing sent since: back to RR; a source on probation gets no block.
    assert isinstance(make_report(9, 11.0, sending, [ReceptionStatistics(6, 0)]), ReceiverReport)
    assert make_report(9, 11.0, sending, [ReceptionStatistics(6, 0)]).reports == ()


@given(
    st.integers(0, 65535),
    st.lists(st.tuples(st.booleans(), st.integers(0, 3)), min_size=1, max_size=300),
)
def test_loss_accounting_matches_what_was_dropped(start: int, plan: list[tuple[bool, int]]) -> None:
    """Sequential sending with random drops and duplicates: A.3 loss equals drops minus dups."""
    stats = ReceptionStatistics(1, start)
    feed(stats, [start, start + 1])
    seq = start + 1
    dropped = duplicates = 0
    last_delivered = seq
    for keep, copies in plan:
        seq += 1
        if not keep:
            dropped += 1
            continue
        # Losses inside the run only: trailing drops are not yet known as lost.
        stats.update_sequence(seq % 65536)
        duplicates += copies
        for _ in range(copies):
            stats.update_sequence(seq % 65536)
        last_delivered = seq
    trailing = seq - last_delivered
    # Counting starts at the second packet (the first is on probation).
    assert stats.extended_max == ((start + 1) % 65536) + (last_delivered - start - 1)
    assert stats.lost == dropped - trailing - duplicates


def test_telephone_events_count_but_do_not_anchor_the_sr_clock() -> None:
    sending = SendingStatistics(8000)
    sending.sent(8000, 160, now=1.0)
    sending.count(4)  # an event packet repeating an older timestamp
    info = sending.sender_info(2.0)
    assert (info.packet_count, info.octet_count, info.rtp_timestamp) == (2, 164, 16000)
    # A packet sent without a time: the SR repeats its timestamp, nothing to extrapolate.
    sending.sent(9000, 160)
    assert sending.sender_info(5.0).rtp_timestamp == 9000
