"""RTP statistics (RFC 3550 appendix A.1, A.3, A.8 and section 6.4).

`ReceptionStatistics` follows one remote source: sequence validation with
probation, wrap-around and restart detection (A.1), loss (A.3) and
interarrival jitter (A.8). The caller gives arrival times already converted
to the stream's RTP timestamp units, so this module knows no clock rate.
`SendingStatistics` counts what we send. `round_trip_time` reads a report
block about us (6.4.1). NTP times are derived from the caller's `now`
(seconds since the Unix epoch), so round trips need only that clock to be
steady between our SR and the peer's answer.
"""

from __future__ import annotations

from collections.abc import Sequence

from .rtcp import ReceiverReport, ReportBlock, SenderInfo, SenderReport

__all__ = [
    "MAX_DROPOUT",
    "MAX_MISORDER",
    "MIN_SEQUENTIAL",
    "ReceptionStatistics",
    "SendingStatistics",
    "make_report",
    "ntp_compact",
    "ntp_timestamp",
    "round_trip_time",
]

RTP_SEQ_MOD = 1 << 16
MAX_DROPOUT = 3000
MAX_MISORDER = 100
MIN_SEQUENTIAL = 2

# Seconds from 1900-01-01 (NTP era 0) to 1970-01-01.
NTP_UNIX_OFFSET = 2_208_988_800


def ntp_timestamp(now: float) -> int:
    """The 64-bit NTP timestamp of a Unix time."""
    return round((now + NTP_UNIX_OFFSET) * (1 << 32)) & 0xFFFFFFFFFFFFFFFF


def ntp_compact(ntp: int) -> int:
    """The middle 32 bits of an NTP timestamp (the LSR and RTT unit, 1/65536 s)."""
    return (ntp >> 16) & 0xFFFFFFFF


def round_trip_time(block: ReportBlock, now: float) -> float | None:
    """Seconds between our SR and the report `block` about it, received at `now`.

    None when the peer has seen no SR of ours (LSR 0) or the result would be
    negative (a report that does not fit our own clock).
    """
    if block.lsr == 0:
        return None
    delta = (ntp_compact(ntp_timestamp(now)) - block.lsr - block.dlsr) & 0xFFFFFFFF
    if delta & 0x80000000:
        return None
    return delta / 65536


class ReceptionStatistics:
    """What we know of one remote source, for our reception reports."""

    def __init__(self, ssrc: int, sequence: int, min_sequential: int = MIN_SEQUENTIAL) -> None:
        self.ssrc = ssrc
        self._init_sequence(sequence)
        # A.1: a new source is on probation until min_sequential packets in a row.
        self.max_seq = (sequence - 1) % RTP_SEQ_MOD
        self.probation = min_sequential
        self._min_sequential = min_sequential
        self._transit: float | None = None
        self.jitter = 0.0  # timestamp units, A.8
        self._last_sr: int = 0
        self._last_sr_arrival = 0.0

    def _init_sequence(self, sequence: int) -> None:
        self.base_seq = sequence
        self.max_seq = sequence
        self.bad_seq = RTP_SEQ_MOD + 1  # a value no sequence number equals
        self.cycles = 0  # wraps seen, times 65536
        self.received = 0
        self.expected_prior = 0
        self.received_prior = 0

    @property
    def valid(self) -> bool:
        return self.probation == 0

    def update_sequence(self, sequence: int) -> bool:
        """A.1 update_seq: whether the packet counts (False in probation or on a jump)."""
        udelta = (sequence - self.max_seq) % RTP_SEQ_MOD
        if self.probation:
            if sequence == (self.max_seq + 1) % RTP_SEQ_MOD:
                self.probation -= 1
                self.max_seq = sequence
                if self.probation == 0:
                    self._init_sequence(sequence)
                    self.received += 1
                    return True
            else:
                self.probation = self._min_sequential - 1
                self.max_seq = sequence
            return False
        if udelta < MAX_DROPOUT:
            if sequence < self.max_seq:
                self.cycles += RTP_SEQ_MOD
            self.max_seq = sequence
        elif udelta <= RTP_SEQ_MOD - MAX_MISORDER:
            if sequence != self.bad_seq:
                # A very large jump: believe it only if the next packet follows it.
                self.bad_seq = (sequence + 1) % RTP_SEQ_MOD
                return False
            # Two sequential packets: the sender restarted without telling us.
            self._init_sequence(sequence)
            self._transit = None
        # else: a duplicate or reordered packet, counted as received.
        self.received += 1
        return True

    def update_jitter(self, timestamp: int, arrival: float) -> None:
        """A.8, with `arrival` in the same units as the RTP timestamp."""
        transit = arrival - timestamp
        if self._transit is not None:
            # Wrap-safe difference: timestamps are modulo 2**32.
            d = (transit - self._transit + (1 << 31)) % (1 << 32) - (1 << 31)
            self.jitter += (abs(d) - self.jitter) / 16
        self._transit = transit

    def sender_report_received(self, ntp: int, now: float) -> None:
        """Remember the source's last SR for the LSR/DLSR of our next report."""
        self._last_sr = ntp_compact(ntp)
        self._last_sr_arrival = now

    @property
    def extended_max(self) -> int:
        return self.cycles + self.max_seq

    @property
    def expected(self) -> int:
        return self.extended_max - self.base_seq + 1

    @property
    def lost(self) -> int:
        """A.3 cumulative loss, clamped to the 24-bit signed field."""
        return max(-(1 << 23), min((1 << 23) - 1, self.expected - self.received))

    def report_block(self, now: float) -> ReportBlock:
        """A reception report for this source; starts a new interval for fraction lost."""
        expected_interval = self.expected - self.expected_prior
        received_interval = self.received - self.received_prior
        self.expected_prior = self.expected
        self.received_prior = self.received
        lost_interval = expected_interval - received_interval
        if expected_interval <= 0 or lost_interval <= 0:
            fraction = 0
        else:
            fraction = min(255, (lost_interval << 8) // expected_interval)
        dlsr = 0
        if self._last_sr:
            dlsr = max(0, min(0xFFFFFFFF, int((now - self._last_sr_arrival) * 65536)))
        return ReportBlock(
            ssrc=self.ssrc,
            fraction_lost=fraction,
            cumulative_lost=self.lost,
            highest_sequence=self.extended_max & 0xFFFFFFFF,
            jitter=min(0xFFFFFFFF, int(self.jitter)),
            lsr=self._last_sr,
            dlsr=dlsr,
        )


class SendingStatistics:
    """Our own sending: counts for the SR and the RTP time of our wallclock."""

    def __init__(self, clock_rate: int) -> None:
        self.clock_rate = clock_rate
        self.packets = 0
        self.octets = 0  # payload octets, as the SR counts them
        self._last_timestamp: int | None = None
        self._last_time: float | None = None
        self.sent_since_report = False

    def sent(self, timestamp: int, payload_size: int, now: float | None = None) -> None:
        """A media packet: counted, and its timestamp anchors the SR's RTP time."""
        self.count(payload_size)
        self._last_timestamp = timestamp
        self._last_time = now  # without it, the SR can only repeat the last timestamp

    def count(self, payload_size: int) -> None:
        """A packet whose timestamp is not the sampling instant (a telephone event)."""
        self.packets += 1
        self.octets += payload_size
        self.sent_since_report = True

    def sender_info(self, now: float) -> SenderInfo:
        """The SR's sender info: NTP `now` and the RTP timestamp of the same instant."""
        rtp = self._last_timestamp or 0
        if self._last_time is not None:
            rtp += round((now - self._last_time) * self.clock_rate)
        return SenderInfo(
            ntp_timestamp=ntp_timestamp(now),
            rtp_timestamp=rtp & 0xFFFFFFFF,
            packet_count=self.packets & 0xFFFFFFFF,
            octet_count=self.octets & 0xFFFFFFFF,
        )


def make_report(
    ssrc: int,
    now: float,
    sending: SendingStatistics | None,
    sources: Sequence[ReceptionStatistics],
) -> SenderReport | ReceiverReport:
    """An SR when we sent since the last report, else an RR, with a block per valid source."""
    blocks = tuple(source.report_block(now) for source in sources[:31] if source.valid)
    if sending is not None and sending.sent_since_report:
        sending.sent_since_report = False
        return SenderReport(ssrc, sending.sender_info(now), blocks)
    return ReceiverReport(ssrc, blocks)
