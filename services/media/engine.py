"""The media engine's I/O: sockets, the frame clock, mixers, ports and devices.

Sockets are plain non-blocking UDP sockets watched by the gevent loop
(an io watcher whose callback drains the socket), so a datagram costs no
greenlet switch. One clock greenlet ticks every 20 ms on an absolute
schedule (a late tick does not delay the next ones); each tick every
stream does its housekeeping (DTMF, RTCP, timeout, statistics) and then
every mixer runs one frame. A stream that raises is failed and silenced;
the others go on.

The clock shares the process with the bus and the sockets, so it never
runs long without letting the hub poll: it yields before every tick, and
within a tick after every `TICK_SLICE` of work. Ticks it cannot make in
time (overload, a stall) are skipped whole and counted, never run in a
burst: a skipped tick costs the streams no codec work (see `Stream.skip`).
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import logging
import random
import resource
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gevent

from sipsimple_services.media.devices import (
    NULL,
    DeviceChoice,
    DevicePort,
    available_devices,
    resolve,
)
from sipsimple_services.media.ice_link import IceLink, TurnServer
from sipsimple_services.media.mixer import FRAME_DURATION, Mixer, MixerError, Port
from sipsimple_services.media.ports import make_port
from sipsimple_services.media.stream import Address, Stream

__all__ = ["MIXERS", "Engine", "EngineError", "NotFound", "PortRangeExhausted"]

log = logging.getLogger("sipsimple.media")

MIXERS = ("voice", "alert")
# RTP on even ports, RTCP on the next: 8192 pairs, below Linux's ephemeral ports
# (32768-60999), where the kernel's own choices would collide with ours.
DEFAULT_PORT_RANGE = (16384, 32767)
DEFAULT_TIMEOUT = 30
MAX_DATAGRAM = 2048
DRAIN_LIMIT = 64  # datagrams per wake-up of one socket: a flood cannot starve the others
LATE_AFTER = FRAME_DURATION / 2  # a tick this late counts as late
# Work the clock does before it lets the hub poll (the bus, heartbeats, RTP
# receiving): bounds their wait at any load, for about 2 us per yield.
TICK_SLICE = 0.002
DEVICE_CHECK_TICKS = 50  # once a second

Publish = Callable[[str, dict[str, Any]], None]


class EngineError(Exception):
    """A request the engine cannot carry out (the message says why)."""


class NotFound(EngineError):
    pass


class PortRangeExhausted(EngineError):
    pass


@dataclass
class _StreamHandle:
    mixer_id: str
    address: str
    rtp: socket.socket
    rtcp: socket.socket
    stream: Stream = field(init=False)  # made with the handle's `transmit`
    watchers: list[Any] = field(default_factory=list)
    closed: bool = False
    ice: IceLink | None = None
    # what ice_gather was given (STUN servers, TURN server, relay_only): a rebind gathers again
    ice_servers: tuple[list[Address], TurnServer | None, bool] | None = None

    def transmit(self, data: bytes, to: Address, on_rtcp: bool) -> None:
        """The stream's `transmit`: one datagram from its RTP or RTCP socket, or the
        way ICE selected (another remote address, or through the TURN relay)."""
        if self.closed:
            return
        if self.ice is not None and self.ice.send_media(data, on_rtcp, to, time.time()):
            return
        self.send(1 if on_rtcp else 0, data, to)

    def send(self, index: int, data: bytes, to: Address) -> None:
        """One datagram from the RTP (0) or RTCP (1) socket."""
        if self.closed:
            return
        try:
            (self.rtcp if index else self.rtp).sendto(data, to)
        except OSError:  # full buffer, unreachable, family mismatch: the packet is lost
            self.stream.errors["send"] += 1


@dataclass
class ClockStats:
    ticks: int = 0
    late: int = 0  # ticks that ran more than LATE_AFTER after their time
    resyncs: int = 0  # times the clock fell a whole frame or more behind and skipped
    skipped: int = 0  # ticks skipped (frames neither sent nor played)
    yields: int = 0  # times a tick let the hub poll halfway (it had run TICK_SLICE)
    busy: float = 0.0  # seconds spent in ticks (the work, not the waits between them)

    def to_bus(self) -> dict[str, Any]:
        return {
            "ticks": self.ticks, "late": self.late, "resyncs": self.resyncs,
            "skipped": self.skipped, "yields": self.yields, "busy": round(self.busy, 6),
        }


def _ip_endpoint(value: Any, what: str) -> tuple[str, int]:
    """[ip, port] from the bus: an IP address (the facade resolved names), never a name."""
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise ValueError(f"{what}: [address, port] pairs")
    host, port = value
    if not isinstance(host, str) or isinstance(port, bool) or not isinstance(port, int):
        raise ValueError(f"{what}: [address, port] pairs")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"{what}: {host!r} is not an IP address") from None
    if not 0 < port < 65536:
        raise ValueError(f"{what}: bad port {port}")
    return host, port


def raise_descriptor_limit() -> int:
    """Raise this process's descriptor limit to its hard limit; return the limit.

    Every stream holds two sockets, and the usual soft limit (1024) would stop
    the service near 500 streams, well inside the port range and the CPU.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        wanted = 1 << 20 if hard == resource.RLIM_INFINITY else hard
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def yield_to_hub() -> None:
    """Let the gevent loop poll once (sockets, the bus, timers), then resume.

    Not `gevent.sleep(0)`: that resumes from the loop's callback queue, before
    any polling, so a greenlet calling it in a loop still starves all I/O. A
    zero timer is only due after the next poll (about 2 us when nothing waits).
    """
    hub = gevent.get_hub()
    timer = hub.loop.timer(0.0)
    try:
        hub.wait(timer)
    finally:
        timer.close()


class Engine:
    def __init__(self, publish: Publish) -> None:
        self._publish = publish
        self.port_range = DEFAULT_PORT_RANGE
        self.timeout = DEFAULT_TIMEOUT
        self._rng = random.SystemRandom()
        self._next_port = 0
        self.start_looking_in(*DEFAULT_PORT_RANGE)
        self.mixers = {mixer_id: Mixer(mixer_id) for mixer_id in MIXERS}
        self.devices = {
            mixer_id: DevicePort(f"{mixer_id}-device", DeviceChoice(NULL, NULL))
            for mixer_id in MIXERS
        }
        for mixer_id, device in self.devices.items():
            self.mixers[mixer_id].add(device)
        self.device_choice = {"input": NULL, "output": NULL, "alert": NULL}
        self.streams: dict[str, _StreamHandle] = {}
        self.ports: dict[str, tuple[str, Port]] = {}  # players, tones, recorders
        self._done_reported: set[str] = set()
        self.clock = ClockStats()
        self._slice_began = 0.0
        self._clock: gevent.Greenlet | None = None

    # -- lifecycle ---------------------------------------------------------------

    def start(self) -> None:
        raise_descriptor_limit()
        self._clock = gevent.spawn(self._run_clock)

    def stop(self) -> None:
        for stream_id in list(self.streams):
            with contextlib.suppress(EngineError):
                self.end_stream(stream_id)
        for port_id in list(self.ports):
            with contextlib.suppress(EngineError):
                self.destroy_port(port_id)
        for device in self.devices.values():
            device.close()
        if self._clock is not None:
            self._clock.kill()

    # -- configuration -----------------------------------------------------------

    def start_looking_in(self, start: int, end: int) -> None:
        """The next allocation starts at a random place in start-end, not at its start
        (docs/media.md, "Decisions": old peers may still send to the first ports)."""
        self._next_port = self._rng.randrange(start, max(start + 1, end))

    def configure(self, port_range: list[Any] | None, timeout: int | None) -> dict[str, Any]:
        if port_range is not None:
            if (
                len(port_range) != 2
                or not all(isinstance(p, int) and not isinstance(p, bool) for p in port_range)
                or not 1 <= port_range[0] < port_range[1] <= 65535
            ):
                raise ValueError("port_range must be [start, end] with 1 <= start < end <= 65535")
            self.port_range = (port_range[0], port_range[1])
            self.start_looking_in(*self.port_range)
        if timeout is not None:
            if timeout < 0:
                raise ValueError("timeout must not be negative")
            self.timeout = timeout
            for handle in self.streams.values():
                handle.stream.timeout = timeout
        return {"port_range": list(self.port_range), "rtp_timeout": self.timeout}

    # -- streams -----------------------------------------------------------------

    def create_stream(self, address: str, mixer_id: str,
                      stream_id: str | None = None) -> dict[str, Any]:
        """A stream named `stream_id` (the caller's choice, checked by the service),
        else a fresh id."""
        mixer = self._mixer(mixer_id)
        rtp, rtcp = self._bind_pair(address)
        stream_id = stream_id or uuid.uuid4().hex
        handle = _StreamHandle(mixer_id, address, rtp, rtcp)
        stream = handle.stream = Stream(
            stream_id, handle.transmit, self._publish, rng=self._rng, timeout=self.timeout
        )
        self._watch(handle)
        mixer.add(stream)
        self.streams[stream_id] = handle
        return self.stream_reply(stream_id)

    def stream_reply(self, stream_id: str) -> dict[str, Any]:
        """What `create_stream` answered for the stream (asked again: the same)."""
        handle = self._handle(stream_id)
        return {
            "stream_id": stream_id,
            "address": handle.address,
            "rtp_port": handle.rtp.getsockname()[1],
            "rtcp_port": handle.rtcp.getsockname()[1],
        }

    def _watch(self, handle: _StreamHandle) -> None:
        loop = gevent.get_hub().loop
        for sock, on_rtcp in ((handle.rtp, False), (handle.rtcp, True)):
            watcher = loop.io(sock.fileno(), 1)
            watcher.start(self._readable, handle, sock, on_rtcp)
            handle.watchers.append(watcher)

    @staticmethod
    def _unwatch(handle: _StreamHandle) -> None:
        for watcher in handle.watchers:
            watcher.stop()
            with contextlib.suppress(Exception):
                watcher.close()
        handle.watchers = []
        handle.rtp.close()
        handle.rtcp.close()

    def rebind_stream(self, stream_id: str, address: str) -> dict[str, Any]:
        """Move a stream to new sockets on `address` (the host's address changed).

        The stream (codecs, SRTP, jitter buffer, mixer links, its latch) stays;
        its sockets are replaced. A stream with ICE gets a new ICE link on the
        new sockets that gathers again with the same servers (new host and
        server-reflexive candidates, a new TURN allocation: the old one belongs
        to the old 5-tuple) and new credentials: `media.ice_gathered` follows,
        and the facade offers the restart (docs/nat.md). Until the new checks
        select a pair the peer may not take what we send, as after any restart.
        """
        handle = self._handle(stream_id)
        rtp, rtcp = self._bind_pair(address)  # before anything changes: an error leaves it be
        now = time.time()
        if handle.ice is not None:
            handle.ice.close(now)  # releases the TURN allocations (from the old sockets)
        self._unwatch(handle)
        handle.rtp, handle.rtcp, handle.address = rtp, rtcp, address
        self._watch(handle)
        if handle.ice is not None:
            handle.ice = handle.stream.ice = None
            assert handle.ice_servers is not None
            self._gather(handle, *handle.ice_servers)
        return {
            "stream_id": stream_id,
            "address": address,
            "rtp_port": rtp.getsockname()[1],
            "rtcp_port": rtcp.getsockname()[1],
            "ice": handle.ice is not None,
        }

    def stream(self, stream_id: str) -> Stream:
        return self._handle(stream_id).stream

    def end_stream(self, stream_id: str) -> dict[str, Any]:
        handle = self.streams.pop(stream_id, None)
        if handle is None:
            raise NotFound(f"no stream {stream_id!r}")
        stats = handle.stream.end(time.time())
        if handle.ice is not None:
            handle.ice.close(time.time())  # releases TURN allocations: sent before closing
            handle.ice = handle.stream.ice = None  # it holds both: no cycle left either
        handle.closed = True
        self._unwatch(handle)  # the watchers hold the handle: no cycle left for the collector
        with contextlib.suppress(MixerError):
            self.mixers[handle.mixer_id].remove(stream_id)
        self._publish("media.stream_ended", {"stream_id": stream_id, "stats": stats})
        return stats

    def _handle(self, stream_id: str) -> _StreamHandle:
        try:
            return self.streams[stream_id]
        except KeyError:
            raise NotFound(f"no stream {stream_id!r}") from None

    def _bind_pair(self, address: str) -> tuple[socket.socket, socket.socket]:
        try:
            # An IP address, never a name: binding would resolve it, blocking.
            version = ipaddress.ip_address(address).version
        except ValueError:
            raise ValueError(f"not an IP address: {address!r}") from None
        family = socket.AF_INET6 if version == 6 else socket.AF_INET
        start, end = self.port_range
        first = start + (start % 2)  # RTP on even ports (RFC 3550 11)
        candidates = list(range(first, end, 2))  # the RTCP port (+1) must be in range too
        if not candidates:
            raise PortRangeExhausted(
                f"no even port with room for RTCP in {start}-{end}: set rtp.port_range wider"
            )
        offset = max(0, (self._next_port - first) // 2) % len(candidates)
        for index in range(len(candidates)):
            port = candidates[(offset + index) % len(candidates)]
            try:
                rtp = self._bind(family, address, port)
            except OSError as exc:
                self._check_bind_error(exc, address)
                continue
            try:
                rtcp = self._bind(family, address, port + 1)
            except OSError as exc:
                rtp.close()
                self._check_bind_error(exc, address)
                continue
            self._next_port = port + 2
            return rtp, rtcp
        raise PortRangeExhausted(
            f"no free pair of ports in {start}-{end} on {address}: all {len(candidates)} "
            f"pairs of rtp.port_range are in use; set it wider"
        )

    @staticmethod
    def _check_bind_error(exc: OSError, address: str) -> None:
        """Raise for what another port would not fix; return for a port in use."""
        if exc.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT, errno.EINVAL):
            raise EngineError(f"cannot bind {address}: {exc.strerror}") from None
        if exc.errno in (errno.EMFILE, errno.ENFILE):
            limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
            raise EngineError(
                f"cannot open another socket: {exc.strerror} (the media service may open "
                f"{limit}; each stream takes two)"
            ) from None

    @staticmethod
    def _bind(family: int, address: str, port: int) -> socket.socket:
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            sock.bind((address, port))
        except OSError:
            sock.close()
            raise
        return sock

    def _readable(self, handle: _StreamHandle, sock: socket.socket, on_rtcp: bool) -> None:
        # Runs in the hub: must not block, must not raise.
        stream = handle.stream
        for _ in range(DRAIN_LIMIT):
            try:
                data, source = sock.recvfrom(MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # e.g. ICMP port unreachable reported on a later read
                continue
            try:
                if data and (data[0] < 4 or 64 <= data[0] < 80):
                    # RFC 7983: STUN (ICE checks, STUN and TURN answers) or TURN ChannelData
                    self._stun_received(handle, data, source, on_rtcp)
                else:
                    stream.receive(data, source, time.time(), on_rtcp)
            except Exception as exc:
                log.exception("stream %s: receive failed", stream.stream_id)
                stream.fail(f"receive: {type(exc).__name__}: {exc}")
                return

    @staticmethod
    def _stun_received(handle: _StreamHandle, data: bytes, source: Address, on_rtcp: bool) -> None:
        if handle.ice is None:
            handle.stream.stun_dropped["no-ice"] += 1
            return
        now = time.time()
        for payload, peer in handle.ice.handle_datagram(1 if on_rtcp else 0, data, source, now):
            handle.stream.receive(payload, peer, now, on_rtcp)  # media through the relay

    # -- ICE (services/media/ice_link.py) ------------------------------------------

    def ice_gather(
        self,
        stream_id: str,
        stun_servers: list[Any],
        turn_server: dict[str, Any] | None,
        relay_only: bool,
    ) -> None:
        handle = self._handle(stream_id)
        if handle.ice is not None:
            raise EngineError("ICE candidates were gathered for this stream already")
        servers = [_ip_endpoint(server, "stun_servers") for server in stun_servers]
        turn = None
        if turn_server is not None:
            host, port = _ip_endpoint(
                [turn_server.get("host"), turn_server.get("port")], "turn_server"
            )
            username, password = turn_server.get("username"), turn_server.get("password")
            if not isinstance(username, str) or not isinstance(password, str):
                raise ValueError("turn_server needs a username and a password (strings)")
            turn = TurnServer(host, port, username, password)
        self._gather(handle, servers, turn, relay_only)

    def _gather(
        self,
        handle: _StreamHandle,
        servers: list[Address],
        turn: TurnServer | None,
        relay_only: bool,
    ) -> None:
        stream = handle.stream

        def selected(rtp: Address, rtcp: Address | None, now: float) -> None:
            stream.ice_selected(rtp, rtcp, now)

        link = IceLink(
            stream.stream_id,
            [handle.rtp.getsockname()[:2], handle.rtcp.getsockname()[:2]],
            handle.send,
            self._publish,
            selected,
            rng=self._rng,
        )
        link.gather(time.time(), servers, turn, relay_only)
        handle.ice = stream.ice = link
        handle.ice_servers = (servers, turn, relay_only)

    def _ice(self, stream_id: str) -> IceLink:
        link = self._handle(stream_id).ice
        if link is None:
            raise EngineError("no ICE on this stream (ice_gather first)")
        return link

    def ice_start(
        self,
        stream_id: str,
        controlling: bool,
        ufrag: str,
        pwd: str,
        candidates: list[Any],
        rtcp_mux: bool,
    ) -> None:
        if not all(isinstance(c, str) for c in candidates):
            raise ValueError("candidates are a=candidate values (strings)")
        self._ice(stream_id).start(
            time.time(), controlling=controlling, ufrag=ufrag, pwd=pwd,
            candidates=candidates, rtcp_mux=rtcp_mux,
        )

    def ice_plain(self, stream_id: str) -> None:
        self._ice(stream_id).plain(time.time())

    def ice_restart(self, stream_id: str) -> dict[str, Any]:
        return self._ice(stream_id).restart(time.time())

    # -- ports -------------------------------------------------------------------

    def create_port(self, kind: str, params: dict[str, Any], mixer_id: str,
                    port_id: str | None = None) -> str:
        mixer = self._mixer(mixer_id)
        port_id = port_id or f"{kind}-{uuid.uuid4().hex[:16]}"
        port = make_port(port_id, kind, params)
        mixer.add(port)
        self.ports[port_id] = (mixer_id, port)
        return port_id

    def destroy_port(self, port_id: str) -> None:
        entry = self.ports.pop(port_id, None)
        if entry is None:
            raise NotFound(f"no port {port_id!r} (streams end with end_stream)")
        mixer_id, port = entry
        with contextlib.suppress(MixerError):
            self.mixers[mixer_id].remove(port_id)
        self._done_reported.discard(port_id)
        port.close()

    def _port_mixer(self, port_id: str) -> str:
        if port_id in self.ports:
            return self.ports[port_id][0]
        if port_id in self.streams:
            return self.streams[port_id].mixer_id
        for mixer_id, device in self.devices.items():
            if device.port_id == port_id:
                return mixer_id
        raise NotFound(f"no port {port_id!r}")

    def connect(self, source: str, sink: str, connected: bool) -> None:
        mixer_id = self._port_mixer(source)
        if self._port_mixer(sink) != mixer_id:
            raise EngineError("the ports belong to different mixers")
        mixer = self.mixers[mixer_id]
        try:
            if connected:
                mixer.connect(source, sink)
            else:
                mixer.disconnect(source, sink)
        except MixerError as exc:
            raise EngineError(str(exc)) from None

    def _mixer(self, mixer_id: str) -> Mixer:
        try:
            return self.mixers[mixer_id]
        except KeyError:
            raise NotFound(f"no mixer {mixer_id!r} (voice or alert)") from None

    # -- devices -------------------------------------------------------------------

    def list_devices(self) -> dict[str, Any]:
        devices = available_devices()
        devices["current"] = dict(self.device_choice)
        return devices

    def set_devices(
        self, input_device: str | None, output_device: str | None, alert_device: str | None
    ) -> dict[str, str]:
        devices = available_devices()
        wanted = {
            "input": resolve(input_device, "input", devices),
            "output": resolve(output_device, "output", devices),
            "alert": resolve(alert_device, "output", devices),
        }
        voice = self.devices["voice"].use(DeviceChoice(wanted["input"], wanted["output"]))
        alert = self.devices["alert"].use(DeviceChoice(NULL, wanted["alert"]))
        chosen = {"input": voice.input, "output": voice.output, "alert": alert.output}
        requested = {"input": input_device, "output": output_device, "alert": alert_device}
        fell_back = any(
            chosen[kind] == NULL and requested[kind] not in (None, NULL, "system_default")
            for kind in chosen
        )
        if chosen != self.device_choice or fell_back:
            self._publish("media.devices_changed", dict(chosen))
        self.device_choice = chosen
        return dict(chosen)

    # -- the clock -----------------------------------------------------------------

    def _run_clock(self) -> None:
        start = time.monotonic()
        frame = 0
        while True:
            frame += 1
            due = start + frame * FRAME_DURATION
            now = time.monotonic()
            if now - due >= FRAME_DURATION:
                # Overloaded or stalled: skip the ticks whose time is past as a
                # whole (counted; the streams drop their frames without codec work)
                # rather than run them back to back, which would only make the
                # next ones late too and keep the bus waiting.
                missed = int((now - due) / FRAME_DURATION)
                frame += missed
                due += missed * FRAME_DURATION
                self.clock.resyncs += 1
                self.clock.skipped += missed
                self.skip(missed)
            if due > now:
                gevent.sleep(due - now)
            else:
                yield_to_hub()  # on time or not, the bus and the sockets get their turn
            self.clock.ticks += 1
            if time.monotonic() - due > LATE_AFTER:
                self.clock.late += 1
            try:
                self.tick(time.time())
            except Exception:  # never lose the clock
                log.exception("media tick failed")

    def _pause(self) -> None:
        """Between two streams' work in a tick: yield if this slice ran TICK_SLICE."""
        now = time.monotonic()
        if now - self._slice_began >= TICK_SLICE:
            self.clock.busy += now - self._slice_began
            self.clock.yields += 1
            yield_to_hub()
            self._slice_began = time.monotonic()

    def skip(self, frames: int) -> None:
        """`frames` ticks the clock could not make: every stream drops their frames."""
        for handle in list(self.streams.values()):
            stream = handle.stream
            try:
                stream.skip(frames)
            except Exception as exc:
                log.exception("stream %s failed", stream.stream_id)
                stream.fail(f"{type(exc).__name__}: {exc}")

    def check_devices(self) -> None:
        """A device whose stream stopped (unplugged) falls back to null, once."""
        if all(device.healthy for device in self.devices.values()):
            return
        voice, alert = self.devices["voice"], self.devices["alert"]
        if not voice.healthy:
            log.warning("audio device %s stopped; using null", voice.choice)
            voice.use(DeviceChoice(NULL, NULL))
        if not alert.healthy:
            log.warning("alert device %s stopped; using null", alert.choice)
            alert.use(DeviceChoice(NULL, NULL))
        self.device_choice = {
            "input": voice.choice.input, "output": voice.choice.output,
            "alert": alert.choice.output,
        }
        self._publish("media.devices_changed", dict(self.device_choice))

    def tick(self, now: float) -> None:
        """One frame. It may yield halfway (`_pause`), so a request may end a stream
        or a port meanwhile: the mixer and the streams expect that."""
        self._slice_began = time.monotonic()
        try:
            self._tick(now)
        finally:
            self.clock.busy += time.monotonic() - self._slice_began

    def _tick(self, now: float) -> None:
        if self.clock.ticks % DEVICE_CHECK_TICKS == 0:
            self.check_devices()
        for handle in list(self.streams.values()):
            if handle.closed:
                continue
            self._pause()
            stream = handle.stream
            try:
                if handle.ice is not None:
                    handle.ice.poll(now)  # ICE checks, STUN and TURN timers on the media clock
                stream.prepare(now)
            except Exception as exc:
                log.exception("stream %s failed", stream.stream_id)
                stream.fail(f"{type(exc).__name__}: {exc}")
        for mixer in self.mixers.values():
            mixer.tick(self._pause)
            for port_id, error in mixer.errors:
                failed = self.streams.get(port_id)
                log.error("port %s failed: %s: %s", port_id, type(error).__name__, error)
                if failed is not None:
                    failed.stream.fail(f"{type(error).__name__}: {error}")
                elif port_id in self.ports:
                    # A recorder that cannot write, say: it leaves the mix (it stays
                    # known until destroy_port) and the mixer goes on.
                    with contextlib.suppress(MixerError):
                        mixer.remove(port_id)
                    self._port_done(port_id)
            mixer.errors.clear()
        for port_id, (_, port) in list(self.ports.items()):
            if getattr(port, "done", False) and port_id not in self._done_reported:
                self._port_done(port_id)

    def _port_done(self, port_id: str) -> None:
        if port_id not in self._done_reported:
            self._done_reported.add(port_id)
            self._publish("media.port_done", {"port_id": port_id})
