"""A conference mixer of 20 ms frames: ports, one-way connections, one tick per frame.

Every port (an RTP stream, a player, a tone, a recorder, a device) may give
audio (`pull`) and take audio (`push`). A connection `source -> sink` makes
the sink hear the source; each tick, every sink gets the sum of its sources'
frames, clipped to 16 bits, so a bridge of three calls is six connections
and a file played into a call is one. Pure: no clock and no I/O; the engine
calls `tick` every 20 ms.

Frames are mono int16 numpy arrays of `FRAME_SAMPLES` at `SAMPLE_RATE`, or
None for silence (most ports are silent most of the time, and skipping
silence costs nothing). The mixer runs at 48 kHz because opus, the preferred
codec, and sound cards run at 48 kHz natively: the common call (opus to a
device) is then never resampled, and wideband audio loses nothing in the
mix. G.711 and G.722 streams pay one resampling each way, which they would
pay at 16 kHz as well (G.711).

A conference (every participant hears all the others) is N sinks of N-1
sources each: summed one by one that is N*(N-1) frame additions a tick
(4 ms a tick at 50 participants, 22 ms at 100: more than the frame). So a
sink with many sources is mixed as the sum of every frame of the tick minus
the frames it does not hear ("mix-minus"): the total is summed once, and a
conference participant costs one subtraction. Sums are exact in int32
before the one clipping, so both ways give the same samples.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import numpy.typing as npt

__all__ = [
    "FRAME_DURATION",
    "FRAME_SAMPLES",
    "SAMPLE_RATE",
    "AudioFrame",
    "Mixer",
    "MixerError",
    "Port",
    "mix",
]

SAMPLE_RATE = 48000
FRAME_DURATION = 0.02  # seconds
FRAME_SAMPLES = 960
# A sink with at least this many sources is mixed as the tick's total minus what it
# does not hear, when that is fewer frames than what it hears.
MIX_MINUS_SOURCES = 4

AudioFrame = npt.NDArray[np.int16]


class MixerError(ValueError):
    """An unknown port or a duplicate id."""


class Port:
    """A participant of the mixer. Subclasses override what they do."""

    # False: the port discards what it hears (e.g. a null device), so the
    # mixer neither sums its sources nor makes them produce audio for it.
    wants_input = True
    # False: with no source connected the port is not pushed at all (a recorder
    # then writes nothing, e.g. while its call is on hold), not pushed silence.
    pushed_unconnected = True

    def __init__(self, port_id: str) -> None:
        self.port_id = port_id

    def pull(self, needed: bool) -> AudioFrame | None:
        """This tick's audio, or None for silence. Called once per tick, whether
        or not anyone listens (`needed`), so that players and streams keep time."""
        return None

    def push(self, frame: AudioFrame | None) -> None:
        """What this port hears this tick (the sum of its sources, None if silent)."""

    def close(self) -> None:
        """The port leaves its mixer."""


def mix(frames: Iterable[AudioFrame | None]) -> AudioFrame | None:
    """The clipped sum of the frames; None if all are silent."""
    present = [frame for frame in frames if frame is not None]
    if not present:
        return None
    if len(present) == 1:
        return present[0]
    total = np.sum(np.stack(present).astype(np.int32), axis=0)
    return np.clip(total, -32768, 32767).astype(np.int16)


class Mixer:
    def __init__(self, mixer_id: str) -> None:
        self.mixer_id = mixer_id
        self.ports: dict[str, Port] = {}
        self._sources: dict[str, list[str]] = {}  # sink -> its sources, in connection order
        self._source_sets: dict[str, set[str]] = {}  # the same as sets (mix-minus)
        self._listening: set[str] | None = None  # sources some sink wants (None: recompute)
        self.frame_index = 0
        # (port_id, exception) of ports that raised during a tick: the port is
        # treated as silent and the other ports go on; the owner drains this.
        self.errors: list[tuple[str, Exception]] = []

    def add(self, port: Port) -> None:
        if port.port_id in self.ports:
            raise MixerError(f"port {port.port_id!r} exists already")
        self.ports[port.port_id] = port
        self._sources[port.port_id] = []
        self._source_sets[port.port_id] = set()
        self._listening = None

    def remove(self, port_id: str) -> Port:
        """Take a port out with all its connections (it is not closed)."""
        port = self._port(port_id)
        del self.ports[port_id]
        del self._sources[port_id]
        del self._source_sets[port_id]
        for sink, sources in self._sources.items():
            if port_id in self._source_sets[sink]:
                sources.remove(port_id)
                self._source_sets[sink].discard(port_id)
        self._listening = None
        return port

    def connect(self, source: str, sink: str) -> None:
        self._port(source)
        self._port(sink)
        if source not in self._source_sets[sink]:
            self._sources[sink].append(source)
            self._source_sets[sink].add(source)
            self._listening = None

    def disconnect(self, source: str, sink: str) -> None:
        self._port(source)
        sink = self._port(sink).port_id
        if source in self._source_sets[sink]:
            self._sources[sink].remove(source)
            self._source_sets[sink].discard(source)
            self._listening = None

    def sources(self, sink: str) -> list[str]:
        return list(self._sources[self._port(sink).port_id])

    def sinks(self, source: str) -> list[str]:
        self._port(source)
        return [sink for sink, sources in self._sources.items() if source in sources]

    def _port(self, port_id: str) -> Port:
        try:
            return self.ports[port_id]
        except KeyError:
            raise MixerError(f"no port {port_id!r} in mixer {self.mixer_id!r}") from None

    def tick(self, pause: Callable[[], None] | None = None) -> dict[str, AudioFrame | None]:
        """One frame: every port pulls once, then every sink is pushed its mix.

        `pause`, when given, is called before each port's pull and push: the
        engine's chance to let other work run within a long tick. Ports may be
        removed (or added) during a pause: a removed port is neither pulled nor
        pushed any more and is silent to its sinks; an added one waits for the
        next tick.

        Returns what each port that wants input heard (for tests and meters).
        """
        listening = self._listening
        if listening is None:
            listening = self._listening = {
                source
                for sink, sources in self._sources.items()
                if self.ports[sink].wants_input
                for source in sources
            }
        ports = list(self.ports.items())
        produced: dict[str, AudioFrame | None] = {}
        for port_id, port in ports:
            if pause is not None:
                pause()
                if port_id not in self.ports:
                    continue
            try:
                produced[port_id] = port.pull(port_id in listening)
            except Exception as exc:
                produced[port_id] = None
                self.errors.append((port_id, exc))
        heard: dict[str, AudioFrame | None] = {}
        totals = _Totals(produced)
        for port_id, port in ports:
            if port.wants_input:
                if pause is not None:
                    pause()
                sources = self._sources.get(port_id)
                if sources is None:  # removed during a pause
                    continue
                # No source or one (most ports): what `mix` gives, without its work.
                if not sources:
                    if not port.pushed_unconnected:
                        continue
                    frame = None
                elif len(sources) == 1:
                    frame = produced.get(sources[0])
                elif len(sources) >= MIX_MINUS_SOURCES:
                    frame = totals.mix(sources, self._source_sets[port_id])
                else:
                    frame = mix([produced.get(source) for source in sources])
                heard[port_id] = frame
                try:
                    port.push(frame)
                except Exception as exc:
                    self.errors.append((port_id, exc))
        self.frame_index += 1
        return heard


class _Totals:
    """One tick's frames, summed once for the sinks with many sources (mix-minus)."""

    def __init__(self, produced: dict[str, AudioFrame | None]) -> None:
        self.produced = produced
        self._present: dict[str, AudioFrame] | None = None
        self._keys: set[str] = set()
        self._total: npt.NDArray[np.int32] | None = None

    def mix(self, sources: list[str], source_set: set[str]) -> AudioFrame | None:
        """What a sink hearing `sources` hears: the same as `mix` of their frames."""
        present = self._present
        if present is None:
            present = self._present = {
                port_id: frame for port_id, frame in self.produced.items() if frame is not None}
            self._keys = set(present)
        unheard = self._keys - source_set
        heard = len(present) - len(unheard)
        if heard <= 1 or len(unheard) >= heard:  # few heard: summing them is cheaper
            return mix([self.produced.get(source) for source in sources])
        total = self._total
        if total is None:
            total = self._total = np.sum(np.stack(list(present.values())).astype(np.int32),
                                         axis=0)
        result = total
        for port_id in unheard:
            result = result - present[port_id]
        return np.clip(result, -32768, 32767).astype(np.int16)
