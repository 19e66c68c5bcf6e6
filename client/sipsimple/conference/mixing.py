"""The room's audio: every participant hears all the others, not itself.

A `ConferenceBridge` is an `AudioBridge` whose ports can be muted one way:
a muted port still hears the others, but nobody hears it (RFC 4575 media
status ``recvonly`` from the focus's side). Connections are made in the
media service's mixer, pipelined (one round trip per change however many
participants there are).
"""

from __future__ import annotations

import threading

from sipsimple.audio import AudioError, AudioMixer, IAudioPort, media_calls, not_found

__all__ = ["ConferenceBridge"]


class ConferenceBridge:
    def __init__(self, mixer: AudioMixer) -> None:
        self.mixer = mixer
        self._ports: list[IAudioPort] = []
        self._muted: set[int] = set()  # id() of the muted ports
        self._lock = threading.RLock()

    def __contains__(self, port: object) -> bool:
        return any(p is port for p in self._ports)

    def __len__(self) -> int:
        return len(self._ports)

    def add(self, port: IAudioPort) -> None:
        with self._lock:
            if port in self:
                raise ValueError(f"{port!r} is already in the conference")
            if port.port_id is None:
                raise ValueError(f"{port!r} is not started")
            calls = []
            for other in self._ports:
                if id(port) not in self._muted:
                    calls.append(("connect_ports", port, other))
                if id(other) not in self._muted:
                    calls.append(("connect_ports", other, port))
            self._ports.append(port)
            self._run(calls)

    def remove(self, port: IAudioPort, unlink: bool = True) -> None:
        """Take `port` out; `unlink=False` for a port ending in the service (its links
        go with it)."""
        with self._lock:
            if port not in self:
                return
            self._ports = [p for p in self._ports if p is not port]
            muted = id(port) in self._muted
            self._muted.discard(id(port))
            if not unlink or port.port_id is None:
                return
            calls = []
            for other in self._ports:
                if not muted:
                    calls.append(("disconnect_ports", port, other))
                if id(other) not in self._muted:
                    calls.append(("disconnect_ports", other, port))
            self._run(calls)

    def set_muted(self, port: IAudioPort, muted: bool) -> None:
        """Whether the others hear `port` (it hears them either way)."""
        with self._lock:
            if port not in self or (id(port) in self._muted) == muted:
                return
            if muted:
                self._muted.add(id(port))
            else:
                self._muted.discard(id(port))
            method = "disconnect_ports" if muted else "connect_ports"
            self._run([(method, port, other) for other in self._ports if other is not port])

    def is_muted(self, port: IAudioPort) -> bool:
        return id(port) in self._muted

    @staticmethod
    def _run(calls: list[tuple[str, IAudioPort, IAudioPort]]) -> None:
        outcomes = media_calls([(method, {"source": source.port_id, "sink": sink.port_id})
                                for method, source, sink in calls])
        for outcome in outcomes:
            # a port that just went away (its call ended meanwhile) is no error
            if isinstance(outcome, AudioError) and not not_found(outcome):
                raise outcome
