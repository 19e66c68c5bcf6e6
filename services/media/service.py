"""The media service on the bus: the `media` methods of the schema over the engine.

Streams and ports belong to the client that made them and are ended when it
goes away (goodbye or no heartbeat). No handler blocks: the engine's work is
non-blocking socket calls and small computations, so every request runs in
the receive loop.

The RTP port range and timeout are the stored configuration's ``rtp.port_range``
and ``rtp.timeout`` (read at start and whenever the file changes), unless a
client's `configure` overrides them while it is connected
(`sipsimple_services.common.stored` has the rule).

The service runs as one or more workers (`SIPSIMPLE_MEDIA_WORKER`, 0 by
default), each a whole engine on bus endpoints of its own ("media", "media-1",
...; `sipsimple.bus.endpoints`). The sound devices belong to the first: the
others refuse `set_devices` and keep the null device. Every worker says how
loaded it is in its heartbeat and ping replies, for the facade's placement and
for `sipsimple status`.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

import gevent

from sipsimple import directories
from sipsimple.bus import endpoints
from sipsimple.bus.schema import METHODS, ErrorCode, Method
from sipsimple.configuration.datatypes import NonNegativeInteger, PortRange
from sipsimple_services.common.service import Service, ServiceError
from sipsimple_services.common.stored import FileWatch, Layers, StoredConfig, watch
from sipsimple_services.media import object_ids
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

__all__ = ["MediaService", "worker_class"]

log = logging.getLogger("sipsimple.media")

DEFAULT_MIXER = "voice"
LOAD_INTERVAL = 1.0  # seconds between samples of a worker's load
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


def worker_class(environ: dict[str, str] | None = None) -> type[MediaService]:
    """The service class of the worker `SIPSIMPLE_MEDIA_WORKER` names (0: MediaService)."""
    value = (os.environ if environ is None else environ).get(endpoints.MEDIA_WORKER_ENV, "0")
    try:
        index = int(value)
        name = endpoints.media_worker_name(index)
    except (ValueError, endpoints.BusConfigurationError):
        raise ValueError(
            f"{endpoints.MEDIA_WORKER_ENV}={value!r}: a worker number, 0 to "
            f"{endpoints.MAX_MEDIA_WORKERS - 1}") from None
    if index == 0:
        return MediaService
    return type(f"MediaWorker{index}", (MediaService,), {"name": name, "worker": index})


class MediaService(Service, NatProbeMethods):
    name = "media"
    blocking_methods: ClassVar[frozenset[str]] = frozenset({"nat_probe"})  # seconds of STUN
    methods: ClassVar[dict[str, Method] | None] = METHODS["media"]  # every worker's table
    worker: ClassVar[int] = 0

    def __init__(self) -> None:
        super().__init__()
        self.load: dict[str, float] = {"busy": 0.0, "cpu": 0.0}
        self._sampler: Any = None
        self.engine = Engine(self._publish_event)
        self.owner: dict[str, str] = {}  # object id -> client
        self.cancelled = object_ids.Cancelled()  # ended before made: never made
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
        self._sampler = gevent.spawn(self._sample_load)

    def on_stop(self) -> None:
        for greenlet in (self._watcher, self._sampler):
            if greenlet is not None:
                greenlet.kill(block=False)
        self.engine.stop()

    def counts(self) -> dict[str, int]:
        return {"streams": len(self.engine.streams), "ports": len(self.engine.ports),
                "owned": len(self.owner)}

    # -- load (for placement and status) -----------------------------------------------

    def _sample_load(self) -> None:
        """The share of the last second spent in the clock's ticks (`busy`) and the
        process's CPU use (`cpu`, receiving included), both 0 to 1 of a core."""
        wall, busy, cpu = time.monotonic(), self.engine.clock.busy, time.process_time()
        while True:
            gevent.sleep(LOAD_INTERVAL)
            now, busy_now, cpu_now = time.monotonic(), self.engine.clock.busy, time.process_time()
            elapsed = max(now - wall, 1e-6)
            self.load = {"busy": round((busy_now - busy) / elapsed, 3),
                         "cpu": round((cpu_now - cpu) / elapsed, 3)}
            wall, busy, cpu = now, busy_now, cpu_now

    def _load(self, client: str | None = None) -> dict[str, Any]:
        load: dict[str, Any] = {"index": self.worker, "streams": len(self.engine.streams),
                                "ports": len(self.engine.ports), **self.load}
        if client is not None:  # the asking client's own streams, which it counts itself
            load["yours"] = sum(1 for stream_id in self.engine.streams
                                if self.owner.get(stream_id) == client)
        return load

    def rpc_ping(self, client: str) -> dict[str, Any]:
        return {**super().rpc_ping(client), "load": self._load()}

    def rpc_heartbeat(self, client: str) -> dict[str, Any]:
        return {**super().rpc_heartbeat(client), "load": self._load(client)}

    # -- streams -----------------------------------------------------------------

    def rpc_create_stream(
        self, client: str, address: str, mixer_id: str | None = None,
        stream_id: str | None = None,
    ) -> dict[str, Any]:
        """A stream, named `stream_id` if the client chose it (`object_ids`). The reply
        names this instance: the facade tells the objects of the instance before a
        restart from those of the one after."""
        if stream_id is not None and self._made_already(
                client, stream_id, object_ids.check_stream_id, self.engine.streams):
            return {**self.engine.stream_reply(stream_id), "instance": self.instance}
        with _service_errors():
            result = self.engine.create_stream(address, mixer_id or DEFAULT_MIXER, stream_id)
        made = result["stream_id"]
        self.owner[made] = client
        self.own(client, made, lambda: self._release_stream(made))
        return {**result, "instance": self.instance}

    def _made_already(self, client: str, object_id: str, check: Any,
                      existing: dict[str, Any]) -> bool:
        """A create naming `object_id`: whether this client made it already (the same
        request again); refused if the id is malformed, was ended before it was
        made, or is another client's."""
        try:
            check(object_id)
        except ValueError as exc:
            raise ServiceError(ErrorCode.INVALID_PARAMS, str(exc)) from None
        if object_id in self.cancelled:
            raise ServiceError(ErrorCode.NOT_FOUND,
                               f"{object_id!r} was ended before it was made")
        if object_id not in existing:
            return False
        if self.owner.get(object_id) != client:
            raise ServiceError(ErrorCode.FORBIDDEN, f"{object_id!r} is another client's")
        return True

    def rpc_owned(self, client: str) -> dict[str, list[str]]:
        """The streams and ports this client made here (the facade ends those it does
        not know of after a restart)."""
        mine = [object_id for object_id, owner in self.owner.items() if owner == client]
        return {"streams": [i for i in mine if i in self.engine.streams],
                "ports": [i for i in mine if i in self.engine.ports]}

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
        if stream_id not in self.engine.streams and object_ids.is_stream_id(stream_id):
            self.cancelled.add(stream_id)  # its create may still come: refused then
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
        self, client: str, kind: str, params: dict[str, Any], mixer_id: str | None = None,
        port_id: str | None = None,
    ) -> dict[str, Any]:
        """A port, named `port_id` if the client chose it (as `rpc_create_stream`)."""
        if port_id is not None and self._made_already(
                client, port_id, lambda i: object_ids.check_port_id(i, kind),
                self.engine.ports):
            return {"port_id": port_id, "instance": self.instance}
        if kind in ("player", "recorder") and isinstance(params.get("filename"), str):
            try:
                params = {**params, "filename": self.directories.confine(params["filename"])}
            except OutsideDirectoriesError as exc:
                raise ServiceError(ErrorCode.FORBIDDEN, str(exc)) from None
        with _service_errors():
            made = self.engine.create_port(kind, params, mixer_id or DEFAULT_MIXER, port_id)
        self.owner[made] = client
        self.own(client, made, lambda: self._release_port(made))
        return {"port_id": made, "instance": self.instance}

    def _release_port(self, port_id: str) -> None:
        self.owner.pop(port_id, None)
        if port_id in self.engine.ports:
            self.engine.destroy_port(port_id)

    def rpc_destroy_port(self, client: str, port_id: str) -> None:
        if port_id not in self.engine.ports and object_ids.is_port_id(port_id):
            self.cancelled.add(port_id)  # its create may still come: refused then
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
        if self.worker != 0:  # one process opens the sound card: the first worker
            raise ServiceError(ErrorCode.FAILED,
                               f"{self.name}: the sound devices are the first media worker's "
                               f"({endpoints.media_worker_name(0)})")
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
        result = self.engine.configure(values.get("port_range", list(DEFAULT_PORT_RANGE)),
                                       values.get("rtp_timeout", DEFAULT_TIMEOUT))
        self._spread_ports()
        return result

    def _spread_ports(self) -> None:
        """Workers share the port range: each starts looking in its own share of it
        (at a random place there), so that they do not all try the ports the first
        one holds (the range stays every worker's: a port in use is skipped)."""
        workers = os.environ.get(endpoints.MEDIA_WORKERS_ENV, "")
        count = int(workers) if workers.isdigit() and int(workers) > 0 else 1
        start, end = self.engine.port_range
        share = (end - start) // max(count, self.worker + 1)
        first = start + self.worker * share
        self.engine.start_looking_in(first, first + share)

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
