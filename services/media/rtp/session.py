"""One RTP stream, sans-IO: what to send, what was received, when to report.

The I/O layer calls `learn` at the answer and after each new offer/answer,
calls `send` for each outgoing frame and writes the bytes to
`remote_address_received` (the latched source: symmetric RTP) or, until one
is learned, the address from the SDP; it feeds every datagram to `receive`
(RTCP too when multiplexed: it is recognised) and acts on the events.

Incoming packets are checked in order: parseable RTP version 2, a negotiated
payload type, not our own SSRC, the source address (`latch.SourceLatch`:
learned once from consecutive packets, then fixed until the next `learn`),
then the SSRC rule. The first source is adopted with its address; another
SSRC from that address replaces it only after `ssrc_switch_packets` packets
in sequence from it with no packet from the current source in between, so
that a peer that restarts with a new SSRC is followed within a few packets.
RTCP is taken only from the latched source's host (its address with
rtcp-mux).
"""

from __future__ import annotations

import base64
import random
import struct
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from .dtmf import DTMFDigit, DTMFPacket, DTMFParseError, DTMFReceiver, DTMFSender
from .latch import SourceLatch, Verdict, same_address
from .packet import (
    RTP_HEADER_SIZE,
    RTP_VERSION,
    RTPPacket,
    RTPParseError,
    looks_like_rtcp,
    parse_rtp,
)
from .rtcp import (
    Bye,
    ReceiverReport,
    ReportBlock,
    RTCPPacket,
    RTCPParseError,
    SenderInfo,
    SenderReport,
    SourceDescription,
    parse_compound,
    serialize_compound,
)
from .stats import (
    MIN_SEQUENTIAL,
    ReceptionStatistics,
    SendingStatistics,
    make_report,
    round_trip_time,
)

__all__ = [
    "AudioPacket",
    "ByeReceived",
    "DTMFDigit",
    "DropReason",
    "Dropped",
    "PayloadFormat",
    "RTPSession",
    "ReportReceived",
    "SSRCChanged",
    "SenderReportReceived",
    "SessionEvent",
]

Address = tuple[Any, ...]

_PLAIN_HEADER = struct.Struct("!BBHII")
_PLAIN_FIRST = RTP_VERSION << 6  # version 2; no padding, extension or CSRC


@dataclass(frozen=True)
class PayloadFormat:
    """A negotiated payload type (an SDP rtpmap)."""

    payload_type: int
    encoding: str
    clock_rate: int

    def __post_init__(self) -> None:
        if not 0 <= self.payload_type <= 127:
            raise ValueError(f"payload type out of range: {self.payload_type}")
        if self.clock_rate <= 0:
            raise ValueError(f"clock rate must be positive: {self.clock_rate}")

    @property
    def is_telephone_event(self) -> bool:
        return self.encoding.lower() == "telephone-event"


class DropReason(StrEnum):
    SHORT = "short"
    VERSION = "version"
    MALFORMED = "malformed"
    PAYLOAD_TYPE = "payload-type"
    OWN_SSRC = "own-ssrc"  # our own packets looped back, or an SSRC collision
    PROBATION = "probation"  # a source not yet learned (a run of consecutive packets)
    FOREIGN_SOURCE = "foreign-source"  # from an address other than the latched one
    FOREIGN_SSRC = "foreign-ssrc"  # another SSRC from the latched address, not (yet) switched to
    SEQUENCE = "sequence"  # a sequence jump not yet confirmed by the next packet
    DTMF = "dtmf-malformed"
    RTCP = "rtcp-malformed"
    RTCP_FOREIGN_SOURCE = "rtcp-foreign-source"  # RTCP not from the latched RTP source


@dataclass(frozen=True)
class AudioPacket:
    payload_type: int
    encoding: str
    clock_rate: int
    sequence_number: int
    timestamp: int
    payload: bytes
    marker: bool
    ssrc: int


@dataclass(frozen=True)
class SSRCChanged:
    """Packets now come from `ssrc`: a playout buffer should start over."""

    previous: int | None
    ssrc: int


@dataclass(frozen=True)
class Dropped:
    reason: DropReason


@dataclass(frozen=True)
class ReportReceived:
    """A reception report about our stream, with the round trip it gives (seconds)."""

    reporter: int
    block: ReportBlock
    round_trip_time: float | None


@dataclass(frozen=True)
class SenderReportReceived:
    ssrc: int
    info: SenderInfo


@dataclass(frozen=True)
class ByeReceived:
    sources: tuple[int, ...]
    reason: str | None


SessionEvent = (
    AudioPacket
    | DTMFDigit
    | SSRCChanged
    | Dropped
    | ReportReceived
    | SenderReportReceived
    | ByeReceived
)


def _format_table(formats: Iterable[PayloadFormat]) -> dict[int, PayloadFormat]:
    table = {f.payload_type: f for f in formats}
    if all(f.is_telephone_event for f in table.values()):
        raise ValueError("at least one media payload type is needed")
    return table


class RTPSession:
    def __init__(
        self,
        formats: Iterable[PayloadFormat],
        *,
        rng: random.Random,
        send_formats: Iterable[PayloadFormat] | None = None,
        ssrc: int | None = None,
        cname: str | None = None,
        ssrc_switch_packets: int = 3,
        rtcp_interval: float = 5.0,
        dtmf_interval: float = 0.05,
        latch: SourceLatch | None = None,
    ) -> None:
        if ssrc_switch_packets < 1:
            raise ValueError("ssrc_switch_packets must be at least 1")
        self._rng = rng
        self.ssrc = rng.getrandbits(32) if ssrc is None else ssrc
        if not 0 <= self.ssrc <= 0xFFFFFFFF:
            raise ValueError(f"SSRC out of range: {self.ssrc}")
        # RFC 7022: a random CNAME per session, 96 bits in base64.
        self.cname = cname or base64.b64encode(rng.randbytes(12)).decode()
        self.sequence_number = rng.getrandbits(16)
        self.timestamp = rng.getrandbits(32)
        self.ssrc_switch_packets = ssrc_switch_packets
        self.rtcp_interval = rtcp_interval
        self.dtmf_interval = dtmf_interval
        self._formats = _format_table(formats)
        # What we send with: the peer's numbers, which an answer may change (RFC 3264 6.1).
        self._send_formats = self._formats if send_formats is None else _format_table(send_formats)
        self.sending = SendingStatistics(self.clock_rate)
        self.reception: ReceptionStatistics | None = None
        self._candidate: ReceptionStatistics | None = None
        self._dtmf_receiver = DTMFReceiver()
        self._last_dtmf: tuple[int, int] | None = None  # (timestamp, duration) of our last
        self.latch = latch or SourceLatch()
        self._expected_rtcp: Address | None = None  # the SDP's RTCP address
        self.remote_address_received: Address | None = None
        self.remote_rtcp_address_received: Address | None = None
        self.round_trip_time: float | None = None
        self.packets_received = 0  # valid packets delivered as events
        self.dropped: Counter[DropReason] = Counter()
        self._next_rtcp: float | None = None

    # -- configuration ---------------------------------------------------------

    def set_formats(
        self, formats: Iterable[PayloadFormat], send_formats: Iterable[PayloadFormat] | None = None
    ) -> None:
        """The negotiated payload types (again after a re-INVITE); `send_formats`
        are the peer's numbers when they differ from ours."""
        self._formats = _format_table(formats)
        self._send_formats = self._formats if send_formats is None else _format_table(send_formats)
        self.sending.clock_rate = self.clock_rate

    def learn(
        self,
        now: float,
        expected: Address | None,
        keep_previous: bool = False,
        expected_rtcp: Address | None = None,
    ) -> None:
        """Learn the peer's address again from `now` (the answer, a new offer/answer);
        `expected` and `expected_rtcp` are the SDP's RTP and RTCP addresses. With
        `keep_previous` (the SDP address did not change) the address latched so far is
        still used until another is learnt."""
        self.latch.open(now, expected, keep_previous)
        self._expected_rtcp = expected_rtcp
        if not keep_previous:
            self.remote_address_received = None
            self.remote_rtcp_address_received = None

    def pin(self, now: float, rtp: Address, rtcp: Address | None) -> None:
        """Take RTP (and RTCP) only from the addresses ICE selected, and send there."""
        self.latch.pin(now, rtp)
        self._expected_rtcp = rtcp
        self.remote_address_received = tuple(rtp[:2])
        self.remote_rtcp_address_received = None if rtcp is None else tuple(rtcp[:2])

    @property
    def formats(self) -> dict[int, PayloadFormat]:
        return dict(self._formats)

    @property
    def clock_rate(self) -> int:
        """The media clock: that of the first non-event payload type."""
        return next(f.clock_rate for f in self._formats.values() if not f.is_telephone_event)

    @property
    def remote_ssrc(self) -> int | None:
        return self.reception.ssrc if self.reception is not None else None

    # -- sending ---------------------------------------------------------------

    def send(
        self,
        payload: bytes,
        payload_type: int,
        samples: int,
        marker: bool = False,
        *,
        now: float | None = None,
    ) -> bytes:
        """The next packet carrying `payload`; the timestamp then advances by `samples`.

        `now` lets a later SR relate its RTP timestamp to the wallclock.
        """
        if payload_type not in self._send_formats:
            raise ValueError(f"payload type {payload_type} was not negotiated")
        packet = self._packet(payload_type, self.timestamp, payload, marker)
        self.sending.sent(self.timestamp, len(payload), now)
        self.advance(samples)
        return packet

    def advance(self, samples: int) -> None:
        """Let media time pass without sending (muted, on hold, silence suppressed)."""
        if samples < 0:
            raise ValueError("samples must not be negative")
        self.timestamp = (self.timestamp + samples) % (1 << 32)

    def dtmf_packets(self, digit: str, duration: float = 0.1) -> tuple[DTMFPacket, ...]:
        """The packets of one digit; pass each to `send_dtmf` at start + `offset`.

        Raises ValueError for a bad digit or duration, or without a negotiated
        telephone-event payload type.
        """
        event_format = self._telephone_event()
        sender = DTMFSender(event_format.clock_rate, self.dtmf_interval)
        plan = sender.packets(digit, duration)
        if self._last_dtmf is not None and self._last_dtmf[0] == self.timestamp:
            # No media was sent since the last digit: move on so the peer sees a new event.
            self.advance(self._last_dtmf[1])
        self._last_dtmf = (self.timestamp, round(duration * event_format.clock_rate))
        return tuple(replace(packet, timestamp=self.timestamp) for packet in plan)

    def send_dtmf(self, packet: DTMFPacket) -> bytes:
        event_format = self._telephone_event()
        data = self._packet(
            event_format.payload_type, packet.timestamp, packet.payload, packet.marker
        )
        self.sending.count(len(packet.payload))
        return data

    def _telephone_event(self) -> PayloadFormat:
        events = [f for f in self._send_formats.values() if f.is_telephone_event]
        if not events:
            raise ValueError("no telephone-event payload type was negotiated")
        # Prefer the one at the media clock rate (RFC 4733 2.1).
        return next((f for f in events if f.clock_rate == self.clock_rate), events[0])

    def _packet(self, payload_type: int, timestamp: int, payload: bytes, marker: bool) -> bytes:
        # The bytes RTPPacket(...).serialize() gives for a packet with no CSRC,
        # extension or padding, without building the value: this runs per packet.
        if payload_type > 127:
            raise ValueError(f"payload_type must be 0-127, not {payload_type}")
        try:
            header = _PLAIN_HEADER.pack(
                _PLAIN_FIRST,
                (0x80 if marker else 0) | payload_type,
                self.sequence_number,
                timestamp,
                self.ssrc,
            )
        except struct.error:  # out of range: the value's own check says which field
            RTPPacket(payload_type, self.sequence_number, timestamp, self.ssrc, payload, marker)
            raise
        self.sequence_number = (self.sequence_number + 1) % 65536
        return header + payload

    # -- receiving -------------------------------------------------------------

    def receive(self, data: bytes, now: float, source: Address) -> list[SessionEvent]:
        """Events for one datagram from `source`; never raises for any bytes."""
        if looks_like_rtcp(data):
            return self.receive_rtcp(data, now, source, muxed=True)
        if len(data) >= RTP_HEADER_SIZE and data[0] == _PLAIN_FIRST:
            # The common packet (no CSRC, extension or padding), read without
            # building an RTPPacket: the same fields parse_rtp would give.
            _, second, sequence, timestamp, ssrc = _PLAIN_HEADER.unpack_from(data)
            payload_type, marker = second & 0x7F, bool(second & 0x80)
            payload = bytes(data[RTP_HEADER_SIZE:])
        else:
            try:
                packet = parse_rtp(data)
            except RTPParseError:
                if len(data) < RTP_HEADER_SIZE:
                    return self._drop(DropReason.SHORT)
                if data[0] >> 6 != RTP_VERSION:
                    return self._drop(DropReason.VERSION)
                return self._drop(DropReason.MALFORMED)
            payload_type, marker, payload = packet.payload_type, packet.marker, packet.payload
            sequence, timestamp, ssrc = packet.sequence_number, packet.timestamp, packet.ssrc
        fmt = self._formats.get(payload_type)
        if fmt is None:
            return self._drop(DropReason.PAYLOAD_TYPE)
        if ssrc == self.ssrc:
            return self._drop(DropReason.OWN_SSRC)
        if not self.latch.opened:
            self.latch.open(now, None)  # nobody called learn: the window starts now
        verdict = self.latch.check(source, ssrc, sequence, now)
        if verdict is Verdict.FOREIGN:
            return self._drop(DropReason.FOREIGN_SOURCE)
        if verdict is Verdict.LEARNING:
            return self._drop(DropReason.PROBATION)
        events: list[SessionEvent] = []
        if verdict is Verdict.LEARNED:
            before, self.remote_address_received = self.remote_address_received, source
            rtcp = self.remote_rtcp_address_received
            if rtcp is not None and (
                rtcp[0] != source[0] or (before is not None and not same_address(before, source))
            ):
                # Not the new source's host, or the source moved (a NAT's new
                # mapping): its RTCP address is learnt again.
                self.remote_rtcp_address_received = None
            if self.reception is not None and ssrc == self.reception.ssrc:
                if not self.reception.update_sequence(sequence):
                    return self._drop(DropReason.SEQUENCE)
            else:
                # The run that taught the address is the source's probation too.
                previous = self.remote_ssrc
                self.reception = ReceptionStatistics(ssrc, sequence, 1)
                self.reception.update_sequence(sequence)
                self._candidate = None
                self._dtmf_receiver = DTMFReceiver()
                events.append(SSRCChanged(previous, ssrc))
        elif self.reception is None or ssrc != self.reception.ssrc:
            if not self._admit(ssrc, sequence):
                reason = DropReason.PROBATION if self.reception is None else DropReason.FOREIGN_SSRC
                return self._drop(reason)
            previous = self.remote_ssrc
            assert self._candidate is not None
            self.reception, self._candidate = self._candidate, None
            self._dtmf_receiver = DTMFReceiver()
            events.append(SSRCChanged(previous, ssrc))
        else:
            # "Consecutive" means with nothing from the current source in between.
            self._candidate = None
            if not self.reception.update_sequence(sequence):
                return self._drop(DropReason.SEQUENCE)
        self.packets_received += 1
        if fmt.is_telephone_event:
            # An event's packets share the start timestamp, which would read as jitter.
            try:
                digit = self._dtmf_receiver.receive(timestamp, payload)
            except DTMFParseError:
                return [*events, *self._drop(DropReason.DTMF)]
            if digit is not None:
                events.append(digit)
            return events
        self.reception.update_jitter(timestamp, now * fmt.clock_rate)
        events.append(
            AudioPacket(
                payload_type, fmt.encoding, fmt.clock_rate, sequence, timestamp, payload,
                marker, ssrc,
            )
        )
        return events

    def _admit(self, ssrc: int, sequence: int) -> bool:
        """Feed a packet from a source other than the current one to its probation."""
        if self._candidate is None or self._candidate.ssrc != ssrc:
            needed = MIN_SEQUENTIAL if self.reception is None else self.ssrc_switch_packets
            self._candidate = ReceptionStatistics(ssrc, sequence, needed)
        return self._candidate.update_sequence(sequence)

    def _drop(self, reason: DropReason) -> list[SessionEvent]:
        self.dropped[reason] += 1
        return [Dropped(reason)]

    # -- RTCP ------------------------------------------------------------------

    def rtcp_due(self, now: float) -> bool:
        """Whether to send a report now (the first call starts the schedule)."""
        if self._next_rtcp is None:
            # RFC 3550 6.2: the first report may go after half the interval.
            self._next_rtcp = now + self._randomised(self.rtcp_interval / 2)
        return now >= self._next_rtcp

    @property
    def next_rtcp_time(self) -> float | None:
        return self._next_rtcp

    def _randomised(self, interval: float) -> float:
        # RFC 3550 6.3.1 (simplified): spread over [0.5, 1.5] x the interval so
        # that the reports of many streams started together do not synchronise.
        return interval * self._rng.uniform(0.5, 1.5)

    def make_rtcp(self, now: float) -> bytes:
        """A compound report (SR or RR, then SDES CNAME); schedules the next."""
        self._next_rtcp = now + self._randomised(self.rtcp_interval)
        return serialize_compound(self._report(now))

    def bye(self, now: float, reason: str | None = None) -> bytes:
        """The last compound packet of this stream: a report, SDES and BYE."""
        return serialize_compound([*self._report(now), Bye((self.ssrc,), reason)])

    def _rtcp_source_ok(self, source: Address, muxed: bool) -> bool:
        """RTCP latches only to the latched RTP source: its address with rtcp-mux, its
        host otherwise (a NAT maps the RTCP port as it likes), and then to the first
        address it came from. Before any RTP (a stream on hold), only the SDP's."""
        latched = self.latch.address or self.latch.previous
        if latched is None:
            return same_address(source, self.latch.expected if muxed else self._expected_rtcp)
        if muxed:
            return same_address(source, latched)
        if self.remote_rtcp_address_received is not None:
            return same_address(source, self.remote_rtcp_address_received)
        return bool(source[0] == latched[0])

    def _report(self, now: float) -> list[RTCPPacket]:
        sources = [self.reception] if self.reception is not None else []
        report = make_report(self.ssrc, now, self.sending, sources)
        return [report, SourceDescription.with_cname(self.ssrc, self.cname)]

    def receive_rtcp(
        self, data: bytes, now: float, source: Address | None = None, *, muxed: bool = False
    ) -> list[SessionEvent]:
        """Events for one compound RTCP packet from `source` (on the RTP port if
        `muxed`); never raises for any bytes. Without a source (a caller that
        checked it) the packet is read but no address is learnt."""
        if source is not None and not self._rtcp_source_ok(source, muxed):
            return self._drop(DropReason.RTCP_FOREIGN_SOURCE)
        try:
            packets = parse_compound(data)
        except RTCPParseError:
            return self._drop(DropReason.RTCP)
        if source is not None and self.remote_rtcp_address_received is None:
            # The first valid one from the latched host: fixed like the RTP address.
            self.remote_rtcp_address_received = source
        events: list[SessionEvent] = []
        for packet in packets:
            if isinstance(packet, SenderReport):
                if self.reception is not None and packet.ssrc == self.reception.ssrc:
                    self.reception.sender_report_received(packet.sender_info.ntp_timestamp, now)
                events.append(SenderReportReceived(packet.ssrc, packet.sender_info))
            if isinstance(packet, SenderReport | ReceiverReport):
                for block in packet.reports:
                    if block.ssrc != self.ssrc:
                        continue
                    rtt = round_trip_time(block, now)
                    if rtt is not None:
                        self.round_trip_time = rtt
                    events.append(ReportReceived(packet.ssrc, block, rtt))
            elif isinstance(packet, Bye):
                if self.remote_ssrc is not None and self.remote_ssrc in packet.sources:
                    # The source is gone: a successor needs only the first-source probation.
                    self.reception = None
                    self._candidate = None
                events.append(ByeReceived(packet.sources, packet.reason))
        return events
