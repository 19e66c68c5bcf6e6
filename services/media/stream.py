"""One RTP audio stream between its sockets and its mixer port.

No sockets and no clock here: the engine feeds datagrams to `receive`
with the time, calls `prepare(now)` before each mixer tick, and gives a
`transmit(data, address, rtcp_socket)` callable that writes to the stream's
sockets; events for the bus go through `publish(name, data)`.

Receiving: SRTP unprotect (failures counted; with SRTP every RTCP packet
goes through SRTCP, whatever its length) -> `RTPSession.receive` (checks,
the source latch and drops counted there) -> jitter buffer; each tick the mixer
pulls one 20 ms frame: decoded (or concealed), resampled to the mixer's
rate, and only when some port listens (a stream heard by nobody, e.g.
only by the null device, is not decoded). Sending: each tick the mix for
the stream is resampled, encoded, numbered by the session, protected and
sent to the source the session latched (symmetric RTP, learnt at the
start and after each new offer/answer only), or to the SDP address until
one is learnt. While the direction does not let us
send (hold) the timestamp moves on and nothing is sent but RTCP.
"""

from __future__ import annotations

import contextlib
import random
from collections import Counter, deque
from collections.abc import Callable
from typing import Any

import numpy as np

from sipsimple_services.media.codecs import Codec, CodecError, Resampler, create_codec
from sipsimple_services.media.mixer import SAMPLE_RATE, AudioFrame, Port
from sipsimple_services.media.parameters import ParameterError, StreamParameters
from sipsimple_services.media.rtp.dtmf import (
    DTMFDigit,
    DTMFPacket,
    DTMFParseError,
    TelephoneEvent,
    digit_to_event,
)
from sipsimple_services.media.rtp.jitter import Empty, Frame, JitterBuffer, Lost
from sipsimple_services.media.rtp.latch import same_address
from sipsimple_services.media.rtp.packet import (
    RTP_VERSION,
    RTPParseError,
    looks_like_rtcp,
    parse_rtp,
)
from sipsimple_services.media.rtp.session import (
    AudioPacket,
    DropReason,
    PayloadFormat,
    RTPSession,
    SSRCChanged,
)
from sipsimple_services.media.srtp import SRTPContext, SRTPError

__all__ = ["DTMF_DURATION", "Stream", "StreamStateError"]

Address = tuple[Any, ...]
Transmit = Callable[[bytes, Address, bool], None]
Publish = Callable[[str, dict[str, Any]], None]

DTMF_DURATION = 0.1  # seconds per digit we send
DTMF_REPORT_AFTER = 0.5  # a received event with no end seen is reported after this silence
STATS_INTERVAL = 1.0  # media.stream_stats at most this often
MAX_PULLS = 6  # jitter buffer reads per tick when the peer's packets are shorter than 20 ms


def _transmit_nothing(data: bytes, to: Address, on_rtcp: bool) -> None:
    """The `transmit` of an ended stream."""


class StreamStateError(Exception):
    """An operation the stream cannot do in its state (not started, no telephone-event)."""


class Stream(Port):
    def __init__(
        self,
        stream_id: str,
        transmit: Transmit,
        publish: Publish,
        *,
        rng: random.Random | None = None,
        timeout: float = 0,
    ) -> None:
        super().__init__(stream_id)
        self.stream_id = stream_id
        self._transmit = transmit
        self._publish = publish
        self._rng = rng or random.SystemRandom()
        self.timeout = timeout  # seconds without packets before media.stream_timeout; 0: never
        self.params: StreamParameters | None = None
        self.session: RTPSession | None = None
        self.codec: Codec | None = None
        self.jitter: JitterBuffer[bytes] | None = None
        self.srtp: SRTPContext | None = None
        self._in: Resampler | None = None
        self._out: Resampler | None = None
        self._fifo = bytearray()  # decoded PCM at the codec's rate, not yet played
        self._silence = b""
        self.ended = False
        self.failed: str | None = None
        self.muted = False
        self.now = 0.0
        # counters the session does not keep
        self.packets_sent = 0
        self.bytes_sent = 0
        self.bytes_received = 0
        self.rtcp_sent = 0
        self.rtcp_received = 0
        self.srtp_failures = 0  # SRTP and SRTCP packets that failed to unprotect
        self.srtcp_failures = 0  # the SRTCP ones
        self.skipped = 0  # frames neither sent nor played: the engine skipped their ticks
        self.errors: Counter[str] = Counter()  # decode, send
        # state
        self._last_received = 0.0
        self._timed_out = False
        self._talking = False  # a packet was sent last tick (the marker goes on the next start)
        self._out_primed = False
        self._dtmf_queue: deque[str] = deque()
        self._dtmf_plan: deque[DTMFPacket] = deque()
        self._dtmf_started = 0.0
        self._dtmf_heard: tuple[str, int, int, float] | None = None  # digit, ts, duration, seen
        self._reported_source: Address | None = None
        # ICE (services/media/ice_link.py): the selected pair's remote addresses, kept
        # across offer/answers; `ice` reports its state and drops in the statistics
        self._ice_remote: tuple[Address, Address | None] | None = None
        self.ice: Any = None
        self.stun_dropped: Counter[str] = Counter()  # STUN/TURN bytes on a stream without ICE
        self._next_stats = 0.0
        self._last_stats: dict[str, Any] | None = None

    # -- control ---------------------------------------------------------------

    @property
    def started(self) -> bool:
        return self.session is not None and not self.ended

    def start(self, media: dict[str, Any], now: float) -> None:
        if self.ended:
            raise StreamStateError("the stream has ended")
        if self.session is not None:
            raise StreamStateError("the stream was started already (use update_stream)")
        self.now = now
        self._configure(StreamParameters.from_dict(media), now)
        self._last_received = now
        self._next_stats = now + STATS_INTERVAL
        assert self.params is not None
        self._publish(
            "media.stream_started",
            {
                "stream_id": self.stream_id,
                "codec": self.params.codec,
                "srtp": self.srtp is not None,
            },
        )

    def update(self, media: dict[str, Any], now: float, relearn: bool = False) -> None:
        """New parameters; `relearn` after a new offer/answer (not a local hold)."""
        if not self.started:
            raise StreamStateError("the stream is not running")
        self.now = now
        self._configure(StreamParameters.from_dict(media), now, relearn)

    def _configure(self, params: StreamParameters, now: float, relearn: bool = False) -> None:
        old = self.params
        srtp = self.srtp
        if params.srtp is None:
            srtp = None
        elif old is None or old.srtp != params.srtp:
            try:
                srtp = SRTPContext(params.srtp.suite, params.srtp.local_key, params.srtp.remote_key)
            except SRTPError as exc:
                raise ParameterError(f"media: {exc}") from None
        formats = [PayloadFormat(params.local_payload_type, params.codec, params.clock_rate)]
        send_formats = [PayloadFormat(params.payload_type, params.codec, params.clock_rate)]
        if params.local_telephone_event_payload_type is not None:
            assert params.telephone_event_payload_type is not None
            assert params.telephone_event_clock_rate is not None
            for table, pt in (
                (formats, params.local_telephone_event_payload_type),
                (send_formats, params.telephone_event_payload_type),
            ):
                if pt == table[0].payload_type:
                    raise ParameterError("media: telephone-event and the codec share a number")
                table.append(
                    PayloadFormat(pt, "telephone-event", params.telephone_event_clock_rate)
                )
        # Everything is checked: apply.
        if self.session is None:
            self.session = RTPSession(formats, rng=self._rng, send_formats=send_formats)
        else:
            self.session.set_formats(formats, send_formats)
        if old is None or old.codec != params.codec:
            codec = create_codec(params.codec)
            jitter: JitterBuffer[bytes] = JitterBuffer(codec.clock_rate, codec.timestamp_increment)
            if self.jitter is not None:
                jitter.counters = self.jitter.counters
            self.codec, self.jitter = codec, jitter
            self._in = Resampler(codec.sample_rate, SAMPLE_RATE)
            self._out = Resampler(SAMPLE_RATE, codec.sample_rate)
            self._fifo.clear()
            self._silence = bytes(codec.frame_bytes)
        sdp_address = (params.remote_address, params.remote_port)
        sdp_rtcp = (params.remote_rtcp_address, params.remote_rtcp_port)
        if old is None or (old.remote_address, old.remote_port) != sdp_address:
            # The answer, or a new SDP address: what we learnt from the old one's
            # packets no longer holds.
            self.session.learn(now, sdp_address, expected_rtcp=sdp_rtcp)
            self._reported_source = None
        elif relearn and not same_address(self.session.remote_address_received, sdp_address):
            # An offer/answer that kept the SDP address of a peer behind a NAT: its
            # mapping may have changed; the old one is used until another is learnt.
            self.session.learn(now, sdp_address, keep_previous=True, expected_rtcp=sdp_rtcp)
        if self._ice_remote is not None:
            self.session.pin(now, *self._ice_remote)  # learning never undoes ICE's choice
        if params.receives and (old is None or not old.receives):
            self._last_received = now
            self._timed_out = False
        if not params.sends:
            self._dtmf_queue.clear()
            self._dtmf_plan.clear()  # a digit cut short by hold is not finished later
        self.srtp = srtp
        self.params = params

    def ice_selected(self, rtp: Address, rtcp: Address | None, now: float) -> None:
        """ICE selected a pair: RTP (and RTCP) only from and to there from now on."""
        self._ice_remote = (tuple(rtp[:2]), None if rtcp is None else tuple(rtcp[:2]))
        if self.session is not None:
            self.session.pin(now, *self._ice_remote)

    def set_mute(self, muted: bool) -> None:
        self.muted = muted

    def send_dtmf(self, digit: str) -> None:
        if not self.started:
            raise StreamStateError("the stream is not running")
        digit_to_event(digit)  # ValueError for anything but 0-9 * # A-D
        assert self.params is not None
        if self.params.telephone_event_payload_type is None:
            raise StreamStateError("no telephone-event was negotiated")
        if not self.params.sends:
            raise StreamStateError(f"cannot send while {self.params.direction}")
        self._dtmf_queue.append(digit)

    def end(self, now: float) -> dict[str, Any]:
        """Stop (an RTCP BYE if it ran) and return the final statistics."""
        if not self.ended and self.session is not None and self.failed is None:
            with contextlib.suppress(Exception):  # the stream ends anyway
                self._send_rtcp(self.session.bye(now))
        self.ended = True
        # Nothing is sent once ended. The engine's `transmit` is a method of the
        # handle that holds this stream: dropping it leaves no reference cycle, so
        # the stream and its codec, buffers and SRTP context are freed now rather
        # than at the next full garbage collection (bench/README.md, soak).
        self._transmit = _transmit_nothing
        return self.stats()

    def fail(self, reason: str) -> None:
        if self.failed is None and not self.ended:
            self.failed = reason
            self._publish("media.stream_failed", {"stream_id": self.stream_id, "reason": reason})

    # -- receiving -------------------------------------------------------------

    def receive(self, data: bytes, source: Address, now: float, rtcp_socket: bool) -> None:
        """One datagram from `source` on the RTP socket (or the RTCP one); never raises
        for any bytes."""
        session = self.session
        if session is None or self.ended or self.failed is not None:
            return
        params = self.params
        assert params is not None
        is_rtcp = rtcp_socket or (params.rtcp_mux and looks_like_rtcp(data))
        if self.srtp is not None:
            # Every RTCP packet goes through SRTCP, however short: a plaintext
            # 8-byte RR or BYE must not reach the session. RTP bytes that are no
            # RTP at all go to the session as they are, so they are counted by
            # what is wrong with them (the session drops them all) rather than as
            # SRTP failures.
            if is_rtcp:
                try:
                    data = self.srtp.unprotect_rtcp(data)
                except SRTPError:
                    self.srtp_failures += 1
                    self.srtcp_failures += 1
                    return
            elif len(data) >= 12 and data[0] >> 6 == RTP_VERSION:
                try:
                    data = self.srtp.unprotect(data)
                except SRTPError:
                    self.srtp_failures += 1
                    return
            elif looks_like_rtcp(data):
                # RTCP-shaped bytes on the RTP port without rtcp-mux: never plaintext.
                self.srtp_failures += 1
                self.srtcp_failures += 1
                return
        if is_rtcp:
            before = sum(session.dropped.values())
            # Keeps the round trip time itself; RTCP only from the latched source.
            session.receive_rtcp(data, now, source, muxed=not rtcp_socket)
            if sum(session.dropped.values()) == before:
                self.rtcp_received += 1
            return
        valid = session.packets_received
        events = session.receive(data, now, source)
        if session.packets_received == valid:
            return  # dropped (counted by the session)
        self.bytes_received += len(data)
        self._last_received = now
        self._timed_out = False
        jitter = self.jitter
        assert jitter is not None
        for event in events:
            if isinstance(event, AudioPacket):
                jitter.put(event.sequence_number, event.timestamp, event.payload, now)
            elif isinstance(event, SSRCChanged):
                jitter.reset()
                self._fifo.clear()
                if self._in is not None:
                    self._in.reset()
            elif isinstance(event, DTMFDigit):
                self._dtmf_report()  # a new event: the previous one is over
                self._dtmf_heard = (event.digit, event.timestamp, 0, now)
        if (
            self._dtmf_heard is not None
            and params.local_telephone_event_payload_type is not None
            and data[1] & 0x7F == params.local_telephone_event_payload_type
        ):
            self._dtmf_update(data, now)
        if session.remote_address_received != self._reported_source:
            self._reported_source = session.remote_address_received
            if self._reported_source is not None:
                self._publish(
                    "media.stream_rtp_changed",
                    {
                        "stream_id": self.stream_id,
                        "address": str(self._reported_source[0]),
                        "port": int(self._reported_source[1]),
                    },
                )

    def _dtmf_update(self, data: bytes, now: float) -> None:
        assert self._dtmf_heard is not None
        try:
            packet = parse_rtp(data)
            event = TelephoneEvent.parse(packet.payload)
        except (RTPParseError, DTMFParseError, ValueError):
            return
        digit, timestamp, duration, _ = self._dtmf_heard
        if packet.timestamp != timestamp:
            return  # a late packet of an earlier event
        self._dtmf_heard = (digit, timestamp, max(duration, event.duration), now)
        if event.end:
            self._dtmf_report()

    def _dtmf_report(self) -> None:
        if self._dtmf_heard is None or self.params is None:
            return
        digit, _, duration, _ = self._dtmf_heard
        self._dtmf_heard = None
        clock = self.params.telephone_event_clock_rate or 8000
        self._publish(
            "media.stream_dtmf",
            {"stream_id": self.stream_id, "digit": digit, "duration_ms": duration * 1000 // clock},
        )

    # -- the mixer's side ------------------------------------------------------

    def pull(self, needed: bool) -> AudioFrame | None:
        if not self.started or self.failed is not None:
            return None
        pcm = self._next_pcm(needed)
        if pcm is None or not needed:
            return None
        assert self._in is not None
        return self._in.resample(np.frombuffer(pcm, dtype=np.int16))

    def _next_pcm(self, needed: bool) -> bytes | None:
        codec, jitter = self.codec, self.jitter
        assert codec is not None and jitter is not None
        if not needed:
            # Keep the buffer's time; decode nothing (and conceal nothing) for nobody.
            jitter.get()
            self._fifo.clear()
            return None
        want = codec.frame_bytes
        pulls = MAX_PULLS
        if not self._fifo:
            pulls -= 1
            # The usual case, one whole frame per packet: no trip through the FIFO.
            item = jitter.get()
            if not isinstance(item, Frame):
                if not isinstance(item, Lost):
                    return None
                pcm = codec.conceal()
            else:
                try:
                    pcm = codec.decode(item.payload)
                except CodecError:
                    self.errors["decode"] += 1
                    pcm = codec.conceal()
            if len(pcm) == want:
                return pcm
            self._fifo += pcm  # shorter or longer packets: the FIFO evens them out
        for _ in range(pulls):
            if len(self._fifo) >= want:
                break
            item = jitter.get()
            if isinstance(item, Frame):
                try:
                    self._fifo += codec.decode(item.payload)
                except CodecError:
                    self.errors["decode"] += 1
                    self._fifo += codec.conceal()
            elif isinstance(item, Lost):
                self._fifo += codec.conceal()
            else:
                break
        if not self._fifo:
            return None
        if len(self._fifo) < want:
            self._fifo += bytes(want - len(self._fifo))
        pcm = bytes(self._fifo[:want])
        del self._fifo[:want]
        return pcm

    def push(self, frame: AudioFrame | None) -> None:
        if not self.started or self.failed is not None:
            return
        session, codec, params = self.session, self.codec, self.params
        assert session is not None and codec is not None and params is not None
        increment = codec.timestamp_increment
        if not params.sends or not params.remote_known or self._dtmf_plan:
            session.advance(increment)
            self._talking = False
            return
        if frame is None or self.muted:
            if self._out_primed:
                assert self._out is not None
                self._out.reset()
                self._out_primed = False
            pcm = self._silence
        else:
            assert self._out is not None
            pcm = self._out.resample(frame).tobytes()
            self._out_primed = True
        payload = codec.encode(pcm)
        packet = session.send(
            payload, params.payload_type, increment, marker=not self._talking, now=self.now
        )
        self._talking = True
        self._send_rtp(packet)

    def skip(self, frames: int) -> None:
        """`frames` ticks the engine's clock could not make (overload, a stall).

        No codec work: nothing is sent for them, the timestamp moves on (the
        peer sees a gap and conceals it; the next packet has the marker bit, a
        new talkspurt), and the frames due from the jitter buffer are dropped,
        so an overloaded engine does not build up delay. Counted in `skipped`.
        """
        if not self.started or self.failed is not None:
            return
        session, codec, jitter = self.session, self.codec, self.jitter
        assert session is not None and codec is not None and jitter is not None
        self.skipped += frames
        session.advance(codec.timestamp_increment * frames)
        self._talking = False
        for _ in range(frames):
            if isinstance(jitter.get(), Empty):
                break
        del self._fifo[: frames * codec.frame_bytes]

    # -- housekeeping, once per tick before the mixer ---------------------------

    def prepare(self, now: float) -> None:
        self.now = now
        session, params = self.session, self.params
        if session is None or params is None or self.ended or self.failed is not None:
            return
        if self._dtmf_plan or self._dtmf_queue:
            self._send_dtmf_due(now)
        if session.rtcp_due(now):
            self._send_rtcp(session.make_rtcp(now))
        if (
            self._dtmf_heard is not None
            and now - self._dtmf_heard[3] > DTMF_REPORT_AFTER
        ):
            self._dtmf_report()
        if (
            self.timeout > 0
            and params.receives
            and not self._timed_out
            and now - self._last_received >= self.timeout
        ):
            self._timed_out = True
            self._publish(
                "media.stream_timeout", {"stream_id": self.stream_id, "seconds": self.timeout}
            )
        if now >= self._next_stats:
            self._next_stats = now + STATS_INTERVAL
            stats = self.stats()
            if stats != self._last_stats:
                self._last_stats = stats
                self._publish("media.stream_stats", {"stream_id": self.stream_id, **stats})

    def _send_dtmf_due(self, now: float) -> None:
        session, params = self.session, self.params
        assert session is not None and params is not None
        if not self._dtmf_plan and self._dtmf_queue and params.sends and params.remote_known:
            digit = self._dtmf_queue.popleft()
            self._dtmf_plan = deque(session.dtmf_packets(digit, DTMF_DURATION))
            self._dtmf_started = now
        while self._dtmf_plan and self._dtmf_plan[0].offset <= now - self._dtmf_started + 0.005:
            self._send_rtp(session.send_dtmf(self._dtmf_plan.popleft()))

    # -- sending ---------------------------------------------------------------

    def _send_rtp(self, packet: bytes) -> None:
        session, params = self.session, self.params
        assert session is not None and params is not None
        if self.srtp is not None:
            packet = self.srtp.protect(packet)
        destination = session.remote_address_received or (params.remote_address, params.remote_port)
        self.packets_sent += 1
        self.bytes_sent += len(packet)
        self._transmit(packet, destination, False)

    def _send_rtcp(self, packet: bytes) -> None:
        session, params = self.session, self.params
        assert session is not None and params is not None
        if not params.remote_known:
            return
        if self.srtp is not None:
            packet = self.srtp.protect_rtcp(packet)
        if params.rtcp_mux:
            destination = session.remote_address_received or (
                params.remote_address,
                params.remote_port,
            )
        else:
            destination = session.remote_rtcp_address_received or (
                params.remote_rtcp_address,
                params.remote_rtcp_port,
            )
        self.rtcp_sent += 1
        self._transmit(packet, destination, not params.rtcp_mux)

    # -- statistics ------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        session, params, jitter = self.session, self.params, self.jitter
        reception = session.reception if session is not None else None
        clock = params.clock_rate if params is not None else 8000
        rtt = session.round_trip_time if session is not None else None
        dropped: dict[str, int] = {}
        if session is not None:
            dropped.update({str(reason): n for reason, n in session.dropped.items()})
        dropped.update(self.errors)
        if self.srtp_failures - self.srtcp_failures:
            dropped["srtp"] = self.srtp_failures - self.srtcp_failures
        if self.srtcp_failures:
            dropped["srtcp"] = self.srtcp_failures
        counters = jitter.counters if jitter is not None else None
        if counters is not None:
            for name in ("late", "duplicates", "discarded"):
                if getattr(counters, name):
                    dropped[name] = getattr(counters, name)
        return {
            "codec": params.codec if params is not None else None,
            "srtp": self.srtp is not None,
            "direction": params.direction if params is not None else None,
            "packets_sent": self.packets_sent,
            "bytes_sent": self.bytes_sent,
            "packets_received": session.packets_received if session is not None else 0,
            "bytes_received": self.bytes_received,
            "rtcp_sent": self.rtcp_sent,
            "rtcp_received": self.rtcp_received,
            "lost": reception.lost if reception is not None else 0,
            "late": counters.late if counters is not None else 0,
            "concealed": counters.lost if counters is not None else 0,
            "jitter_ms": round(reception.jitter * 1000 / clock, 3) if reception else 0.0,
            "rtt_ms": None if rtt is None else round(rtt * 1000, 3),
            "srtp_failures": self.srtp_failures,
            "skipped": self.skipped,
            "srtcp_failures": self.srtcp_failures,
            # RTP and RTCP from other sources than the latched one (RTP bleed)
            "rtp_dropped_foreign": (
                session.dropped[DropReason.FOREIGN_SOURCE] if session is not None else 0
            ),
            "rtcp_dropped_foreign": (
                session.dropped[DropReason.RTCP_FOREIGN_SOURCE] if session is not None else 0
            ),
            "dropped": dropped,
            # STUN and TURN datagrams dropped on the stream's sockets (bad integrity,
            # unknown attributes, truncated, floods, no ICE running), by reason
            "stun_dropped": dict(self.ice.dropped_counts() if self.ice is not None
                                 else self.stun_dropped),
            "ice": self.ice.describe() if self.ice is not None else None,
        }
