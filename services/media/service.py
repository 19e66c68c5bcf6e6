"""The media service on the bus: the `media` methods of the schema over the engine.

Streams and ports belong to the client that made them and are ended when it
goes away (goodbye or no heartbeat). No handler blocks: the engine's work is
non-blocking socket calls and small computations, so every request runs in
the receive loop.

The RTP port range and timeout are the stored configuration's ``rtp.port_range``
and ``rtp.timeout`` (read at start and whenever the file changes), unless a
client's `configure` overrides them while it is connected
(`sipsimple_services.common.stored` has the rule).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

from sipsimple import directories
from sipsimple.bus import endpoints
from sipsimple.bus.schema import ErrorCode
from sipsimple.configuration.datatypes import NonNegativeInteger, PortRange
from sipsimple_services.common.service import Service, ServiceError
from sipsimple_services.common.stored import FileWatch, Layers, StoredConfig, watch
from sipsimple_services.media.codecs import CodecError
from sipsimple_services.media.engine import (
    DEFAULT_PORT_RANGE,
    DEFAULT_TIMEOUT,
    Engine,
    EngineError,
    NotFound,
)
from sipsimple_services.media.parameters import ParameterError
from sipsimple_services.media.paths import (
    DIRECTORIES_ENV,
    OutsideDirectoriesError,
    from_environment,
    media_directories,
)
from sipsimple_services.media.ports import PortParameterError
from sipsimple_services.media.probe_methods import NatProbeMethods
from sipsimple_services.media.stream import StreamStateError
from sipsimple_services.media.wav import WavError

__all__ = ["MediaService"]

log = logging.getLogger("sipsimple.media")

DEFAULT_MIXER = "voice"
STORED = StoredConfig({
    "port_range": ("rtp.port_range", PortRange),
    "rtp_timeout": ("rtp.timeout", NonNegativeInteger),
})


def _stored(path: Any) -> dict[str, Any] | None:
    """The stored values as `configure` takes them (port_range a [start, end] list)."""
    values = STORED.read(path)
    if values is not None and "port_range" in values:
        values["port_range"] = [values["port_range"].start, values["port_range"].end]
    if values is not None and "rtp_timeout" in values:
        values["rtp_timeout"] = int(values["rtp_timeout"])
    return values


@contextmanager
def _service_errors() -> Iterator[None]:
    """The engine's expected errors, raised as the ServiceError the client is told."""
    try:
        yield
    except _EXPECTED as exc:
        raise _fail(exc) from None


def _fail(exc: Exception) -> ServiceError:
    if isinstance(exc, NotFound):
        return ServiceError(ErrorCode.NOT_FOUND, str(exc))
    if isinstance(exc, ParameterError | PortParameterError | ValueError):
        return ServiceError(ErrorCode.INVALID_PARAMS, str(exc))
    return ServiceError(ErrorCode.FAILED, str(exc))


_EXPECTED = (
    EngineError,
    ParameterError,
    PortParameterError,
    StreamStateError,
    WavError,
    CodecError,
    ValueError,
)


class MediaService(Service, NatProbeMethods):
    name = "media"
    blocking_methods: ClassVar[frozenset[str]] = frozenset({"nat_probe"})  # seconds of STUN

    def __init__(self) -> None:
        super().__init__()
        self.engine = Engine(self._publish_event)
        self.owner: dict[str, str] = {}  # object id -> client
        self.config_watch = FileWatch(directories.config_file())  # before the first read
        self.layers = Layers({}, _stored(self.config_watch.path) or {})
        self._watcher: Any = None
        self._apply_layers("start")
        self.directories = media_directories(
            [endpoints.state_dir(), *from_environment(os.environ.get(DIRECTORIES_ENV))]
        )

    def _publish_event(self, name: str, data: dict[str, Any]) -> None:
        self.publish(name, self.name, data)

    def on_start(self) -> None:
        self.engine.start()
        self._watcher = watch(self.config_watch, self._stored_changed)

    def on_stop(self) -> None:
        if self._watcher is not None:
            self._watcher.kill(block=False)
        self.engine.stop()

    def counts(self) -> dict[str, int]:
        return {"streams": len(self.engine.streams), "ports": len(self.engine.ports),
                "owned": len(self.owner)}

    # -- streams -----------------------------------------------------------------

    def rpc_create_stream(
        self, client: str, address: str, mixer_id: str | None = None
    ) -> dict[str, Any]:
        with _service_errors():
            result = self.engine.create_stream(address, mixer_id or DEFAULT_MIXER)
        stream_id = result["stream_id"]
        self.owner[stream_id] = client
        self.own(client, stream_id, lambda: self._release_stream(stream_id))
        return result

    def _release_stream(self, stream_id: str) -> None:
        self.owner.pop(stream_id, None)
        if stream_id in self.engine.streams:
            self.engine.end_stream(stream_id)

    def rpc_rebind_stream(self, client: str, stream_id: str, address: str) -> dict[str, Any]:
        with _service_errors():
            return self.engine.rebind_stream(stream_id, address)

    def rpc_start_stream(self, client: str, stream_id: str, media: dict[str, Any]) -> None:
        with _service_errors():
            self.engine.stream(stream_id).start(media, time.time())

    def rpc_update_stream(
        self, client: str, stream_id: str, media: dict[str, Any], relearn: bool = False
    ) -> None:
        with _service_errors():
            self.engine.stream(stream_id).update(media, time.time(), relearn)

    def rpc_end_stream(self, client: str, stream_id: str) -> dict[str, Any]:
        with _service_errors():
            stats = self.engine.end_stream(stream_id)
        owner = self.owner.pop(stream_id, None)
        if owner is not None:
            self.disown(owner, stream_id)
        return stats

    def rpc_send_dtmf(self, client: str, stream_id: str, digit: str) -> None:
        with _service_errors():
            self.engine.stream(stream_id).send_dtmf(digit)

    def rpc_stream_stats(self, client: str, stream_id: str) -> dict[str, Any]:
        with _service_errors():
            stats = self.engine.stream(stream_id).stats()
        stats["clock"] = self.engine.clock.to_bus()
        return stats

    def rpc_set_mute(self, client: str, stream_id: str, muted: bool) -> None:
        with _service_errors():
            self.engine.stream(stream_id).set_mute(muted)

    # -- ICE (docs/nat.md) -----------------------------------------------------------

    def rpc_ice_gather(
        self,
        client: str,
        stream_id: str,
        stun_servers: list[Any] | None = None,
        turn_server: dict[str, Any] | None = None,
        relay_only: bool = False,
    ) -> None:
        with _service_errors():
            self.engine.ice_gather(stream_id, stun_servers or [], turn_server, relay_only)

    def rpc_ice_start(
        self,
        client: str,
        stream_id: str,
        controlling: bool,
        ufrag: str,
        pwd: str,
        candidates: list[Any],
        rtcp_mux: bool = True,
    ) -> None:
        with _service_errors():
            self.engine.ice_start(stream_id, controlling, ufrag, pwd, candidates, rtcp_mux)

    def rpc_ice_plain(self, client: str, stream_id: str) -> None:
        with _service_errors():
            self.engine.ice_plain(stream_id)

    def rpc_ice_restart(self, client: str, stream_id: str) -> dict[str, Any]:
        with _service_errors():
            return self.engine.ice_restart(stream_id)

    # -- ports ---------------------------------------------------------------------

    def rpc_create_port(
        self, client: str, kind: str, params: dict[str, Any], mixer_id: str | None = None
    ) -> dict[str, Any]:
        if kind in ("player", "recorder") and isinstance(params.get("filename"), str):
            try:
                params = {**params, "filename": self.directories.confine(params["filename"])}
            except OutsideDirectoriesError as exc:
                raise ServiceError(ErrorCode.FORBIDDEN, str(exc)) from None
        with _service_errors():
            port_id = self.engine.create_port(kind, params, mixer_id or DEFAULT_MIXER)
        self.owner[port_id] = client
        self.own(client, port_id, lambda: self._release_port(port_id))
        return {"port_id": port_id}

    def _release_port(self, port_id: str) -> None:
        self.owner.pop(port_id, None)
        if port_id in self.engine.ports:
            self.engine.destroy_port(port_id)

    def rpc_destroy_port(self, client: str, port_id: str) -> None:
        with _service_errors():
            self.engine.destroy_port(port_id)
        owner = self.owner.pop(port_id, None)
        if owner is not None:
            self.disown(owner, port_id)

    def rpc_connect_ports(self, client: str, source: str, sink: str) -> None:
        with _service_errors():
            self.engine.connect(source, sink, True)

    def rpc_disconnect_ports(self, client: str, source: str, sink: str) -> None:
        with _service_errors():
            self.engine.connect(source, sink, False)

    # -- devices and settings -------------------------------------------------------

    def rpc_list_devices(self, client: str) -> dict[str, Any]:
        return self.engine.list_devices()

    def rpc_set_devices(
        self,
        client: str,
        input_device: str | None,
        output_device: str | None,
        alert_device: str | None = None,
    ) -> dict[str, str]:
        return self.engine.set_devices(input_device, output_device, alert_device)

    def rpc_configure(
        self, client: str, port_range: list[Any] | None = None, rtp_timeout: int | None = None,
        directories: list[Any] | None = None,
    ) -> dict[str, Any]:
        # The client's values hold until it goes away or the stored value changes.
        changes = {name: value for name, value in
                   (("port_range", port_range), ("rtp_timeout", rtp_timeout)) if value is not None}
        with _service_errors():
            if directories is not None:
                self.directories.configure(directories)
            result = self._configure(self.layers.values(changes))
        result["directories"] = [str(path) for path in self.directories.allowed()]
        if changes:
            self.layers.override(client, changes)
            self.own(client, "settings", lambda: self._overrides_gone(client))
        return result

    def _configure(self, values: dict[str, Any]) -> dict[str, Any]:
        return self.engine.configure(values.get("port_range", list(DEFAULT_PORT_RANGE)),
                                     values.get("rtp_timeout", DEFAULT_TIMEOUT))

    def _apply_layers(self, why: str) -> None:
        try:
            self._configure(self.layers.values())
        except ValueError as exc:
            log.error("keeping the RTP settings after %s: %s", why, exc)

    def _stored_changed(self) -> None:
        stored = _stored(self.config_watch.path)
        if stored is not None and self.layers.set_stored(stored):
            self._apply_layers(f"a change of {self.config_watch.path}")

    def _overrides_gone(self, client: str) -> None:
        if self.layers.drop_client(client):
            self._apply_layers(f"client {client} went away")
