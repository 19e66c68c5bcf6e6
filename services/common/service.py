"""Service base: the bus server side of every service process.

A service binds a ROUTER command socket and a PUB event socket, answers the
common methods (ping, heartbeat, goodbye, resources), runs each request in its own
greenlet, tracks which client owns which object and releases the objects of a
client whose heartbeat stops. Whatever arrives on the command socket, the
service answers with an error reply or drops it with a log line and keeps
serving.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import gevent
import gevent.socket
import zmq
from gevent.event import Event as GEvent

from sipsimple import __version__
from sipsimple.bus import auth, endpoints
from sipsimple.bus.schema import (
    CLIENT_TIMEOUT,
    HARD_MESSAGE_LIMIT,
    MAX_EVENT_BATCH,
    QUEUE_LIMIT,
    BusProtocolError,
    ErrorCode,
    Event,
    Method,
    Reply,
    Request,
    decode_request,
    encode_event,
    encode_events,
    encode_reply,
    error_reply,
    method_for,
    request_id_of,
)
from sipsimple_services.common import memtrace
from sipsimple_services.common.resources import process_resources
from sipsimple_services.common.zap import bind_zap, serve_zap

log = logging.getLogger("sipsimple.service")


class ServiceError(Exception):
    """Raised by a handler to send an error reply with a stable code."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class _Client:
    last_seen: float
    objects: dict[str, Callable[[], None]] = field(default_factory=dict)


class Service:
    name: ClassVar[str] = ""
    # The service's method table; None means METHODS[name] from the bus schema.
    methods: ClassVar[dict[str, Method] | None] = None
    # Handlers run in the receive loop itself (protocol cores are sans-IO, so a
    # handler does its work and returns); the methods listed here may wait on
    # the network or sleep, and get a greenlet of their own per request.
    blocking_methods: ClassVar[frozenset[str]] = frozenset()
    version: ClassVar[str] = __version__
    client_timeout: float = CLIENT_TIMEOUT

    def __init__(self) -> None:
        if not self.name:
            raise TypeError("a Service subclass must set `name`")
        self.instance = uuid.uuid4().hex
        self.started_at = time.monotonic()
        self.clients: dict[str, _Client] = {}
        self._context = zmq.Context()
        self._commands: Any = None
        self._events: Any = None
        self._zap: Any = None
        self._stopping = GEvent()
        self._loops: list[gevent.Greenlet] = []
        # When the command queue was last found empty: every client's messages
        # up to then were read, so its last_seen is true up to then.
        self._drained_at = time.monotonic()
        # Events held by `event_batch` (None: none open) and the greenlet holding them.
        self._batch: list[Event] | None = None
        self._batch_owner: Any = None
        self.client_timeout = float(os.environ.get("SIPSIMPLE_CLIENT_TIMEOUT", self.client_timeout))

    # --- hooks for subclasses ------------------------------------------------

    def on_start(self) -> None:
        """Called once the sockets are bound."""

    def on_stop(self) -> None:
        """Called on SIGTERM after every client's objects were released."""

    def blocks(self, method: str, params: dict[str, Any]) -> bool:
        """Whether a request may wait (on the network, a sleep): it then runs in a
        greenlet of its own (`blocking_methods`), else inline."""
        return method in self.blocking_methods

    def counts(self) -> dict[str, int]:
        """The objects the service holds (sessions, streams...), by kind, for ``resources``."""
        return {}

    # --- API for subclasses --------------------------------------------------

    def publish(self, name: str, sender: str, data: dict[str, Any]) -> None:
        event = Event(name=name, sender=sender, data=data, timestamp=time.time())
        if self._batch is not None:
            if gevent.getcurrent() is self._batch_owner:
                self._batch.append(event)
                if len(self._batch) >= MAX_EVENT_BATCH:
                    self._flush_events()
                return
            self._flush_events()  # another greenlet's event: the batch's went first
        self._events.send_multipart(encode_event(event))

    @contextlib.contextmanager
    def event_batch(self) -> Iterator[None]:
        """The events this greenlet publishes meanwhile go out as one bus message at the
        end (what one input caused: every message wakes zmq's I/O thread on both sides
        and the client's bus thread, which took a fifth of the signalling service's time
        in a call's setup). Order is kept: an event of another greenlet, or a reply
        (`_reply`), sends the batch first. Only for work that does not block: events
        wait for the end of the batch."""
        if self._batch is not None:  # inside a batch (this greenlet's joins it)
            yield
            return
        self._batch, self._batch_owner = [], gevent.getcurrent()
        try:
            yield
        finally:
            try:
                self._flush_events()
            finally:
                self._batch = self._batch_owner = None

    def _flush_events(self) -> None:
        batch = self._batch
        if batch:
            self._batch = []
            self._events.send_multipart(encode_events(batch))

    def own(self, client: str, key: str, release: Callable[[], None]) -> None:
        """Record that `client` owns object `key`; `release` ends it if the client goes away."""
        self._client(client).objects[key] = release

    def disown(self, client: str, key: str) -> None:
        state = self.clients.get(client)
        if state is not None:
            state.objects.pop(key, None)

    # --- common methods ------------------------------------------------------

    def rpc_ping(self, client: str) -> dict[str, Any]:
        return {
            "service": self.name,
            "version": self.version,
            "pid": os.getpid(),
            "uptime": time.monotonic() - self.started_at,
            "instance": self.instance,
            "clients": len(self.clients),
        }

    def rpc_resources(self, client: str) -> dict[str, Any]:
        """What the process holds: back to its idle values once its work is over."""
        owned = sum(len(state.objects) for state in self.clients.values())
        return {**process_resources(self._context), "clients": len(self.clients),
                "objects": {**self.counts(), "client_objects": owned}}

    def rpc_heartbeat(self, client: str) -> dict[str, Any]:
        return {"instance": self.instance}

    def rpc_goodbye(self, client: str) -> None:
        self._release(client, "said goodbye")

    # --- running -------------------------------------------------------------

    def bind(self) -> None:
        endpoints.runtime_dir()  # creates the private directory (0700)
        command_endpoint = endpoints.command_endpoint(self.name)
        event_endpoint = endpoints.event_endpoint(self.name)
        # Every connection is authenticated (see sipsimple.bus.auth): the ZAP
        # handler must be bound before the sockets that ask it.
        self._zap = bind_zap(self._context)
        self._commands = self._context.socket(zmq.ROUTER)
        auth.secure_server(self._commands, command_endpoint)
        # Above this size zmq drops the peer without reading the message in.
        self._commands.setsockopt(zmq.MAXMSGSIZE, HARD_MESSAGE_LIMIT)
        self._commands.setsockopt(zmq.LINGER, 0)
        self._commands.setsockopt(zmq.RCVHWM, QUEUE_LIMIT)
        self._commands.setsockopt(zmq.SNDHWM, QUEUE_LIMIT)
        self._commands.bind(command_endpoint)
        self._events = self._context.socket(zmq.PUB)
        auth.secure_server(self._events, event_endpoint, commands=False)
        self._events.setsockopt(zmq.LINGER, 0)
        # Bursts (many sessions ending at once) must not drop events.
        self._events.setsockopt(zmq.SNDHWM, QUEUE_LIMIT)
        self._events.bind(event_endpoint)
        for endpoint in (command_endpoint, event_endpoint):
            if endpoint.startswith("ipc://"):
                os.chmod(endpoint[len("ipc://") :], 0o600)

    def run(self) -> int:
        try:
            self.bind()
        except (endpoints.BusConfigurationError, endpoints.UnsafeDirectoryError) as exc:
            log.error("%s service cannot start: %s", self.name, exc)
            return 2
        gevent.signal_handler(signal.SIGTERM, self.stop)
        gevent.signal_handler(signal.SIGINT, self.stop)
        memtrace.install(self.name, endpoints.runtime_dir())  # off unless its variable is set
        self._loops = [
            gevent.spawn(serve_zap, self._zap, auth.keys_dir(), self.name),
            gevent.spawn(self._serve),
            gevent.spawn(self._reap),
        ]
        log.info("%s service %s started (pid %d)", self.name, self.version, os.getpid())
        self.on_start()
        self.publish("service.started", self.name, {"instance": self.instance})
        self._stopping.wait()
        log.info("%s service stopping", self.name)
        for client in list(self.clients):
            self._release(client, "service stopping")
        try:
            self.on_stop()
        except Exception:
            log.exception("%s: on_stop failed", self.name)
        gevent.killall(self._loops, timeout=2)
        self._flush_events()
        self._commands.close()
        self._events.close()
        self._zap.close()
        self._context.term()
        log.info("%s service stopped", self.name)
        return 0

    def stop(self) -> None:
        self._stopping.set()

    def _serve(self) -> None:
        # Plain zmq sockets, waited on through gevent: a ROUTER or PUB send never
        # blocks, and draining every queued command per wake-up costs far less
        # than zmq.green's per-call bookkeeping.
        commands = self._commands
        fd = commands.getsockopt(zmq.FD)
        handled = 0
        while True:
            handled += 1
            if handled % 64 == 0:
                gevent.sleep(0)  # a flood of commands must not starve other greenlets
            try:
                parts = commands.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                self._drained_at = time.monotonic()
                # zmq's FD is edge-triggered: check EVENTS before sleeping on it.
                if not commands.getsockopt(zmq.EVENTS) & zmq.POLLIN:
                    with contextlib.suppress(TimeoutError):
                        gevent.socket.wait_read(fd, timeout=1.0)
                continue
            try:
                # The client the connection proved to ZAP (sipsimple.bus.auth).
                try:
                    user: str | None = parts[-1].get("User-Id")
                except zmq.ZMQError:
                    user = None
                self._dispatch([part.bytes for part in parts], user)
            except Exception:  # never let one message take the loop down
                log.exception("%s: failed to handle a command", self.name)

    def _dispatch(self, frames: list[bytes], user: str | None) -> None:
        identity, rest = frames[0], frames[1:]
        # A REQ peer puts an empty delimiter before the payload; echo it back.
        envelope = [identity]
        if len(rest) == 2 and rest[0] == b"":
            envelope.append(b"")
            rest = rest[1:]
        if len(rest) != 1:
            log.warning("%s: dropped a command of %d frames", self.name, len(rest))
            self._commands.send_multipart(
                [*envelope, error_reply(-1, ErrorCode.BAD_MESSAGE, "expected one frame")]
            )
            return
        payload = rest[0]
        try:
            request = decode_request(payload)
            method = method_for(self.name, request.method, self.methods)
            params = method.validate(request.params)
        except BusProtocolError as exc:
            log.warning("%s: bad command: %s", self.name, exc.message)
            request_id = request_id_of(payload)
            self._commands.send_multipart(
                [
                    *envelope,
                    error_reply(-1 if request_id is None else request_id, exc.code, exc.message),
                ]
            )
            return
        if request.client != user:
            # Ownership follows the connection's proven id: no client can act
            # (say goodbye, end objects) as another by naming it in the body.
            log.warning("%s: refused %s naming client %s", self.name, request.method,
                        request.client)
            self._reply(
                envelope,
                request.id,
                error=(
                    ErrorCode.FORBIDDEN,
                    f"this connection speaks for client {user}, not {request.client}",
                ),
            )
            return
        self._client(request.client)
        handler = getattr(self, "rpc_" + request.method, None)
        if handler is None:
            self._reply(
                envelope,
                request.id,
                error=(
                    ErrorCode.UNKNOWN_METHOD,
                    f"{self.name}: method {request.method!r} is not implemented yet",
                ),
            )
            return
        if self.blocks(request.method, params):
            gevent.spawn(self._execute, envelope, request, handler, params)
        else:
            with self.event_batch():  # flushed by the reply, before it
                self._execute(envelope, request, handler, params)

    def _execute(
        self,
        envelope: list[bytes],
        request: Request,
        handler: Callable[..., Any],
        params: dict[str, Any],
    ) -> None:
        try:
            result = handler(request.client, **params)
        except ServiceError as exc:
            self._reply(envelope, request.id, error=(exc.code, exc.message))
        except Exception as exc:
            log.exception("%s: %s failed", self.name, request.method)
            self._reply(
                envelope, request.id, error=(ErrorCode.INTERNAL, f"{type(exc).__name__}: {exc}")
            )
        else:
            self._reply(envelope, request.id, result=result)

    def _reply(
        self,
        envelope: list[bytes],
        request_id: int,
        result: Any = None,
        error: tuple[ErrorCode, str] | None = None,
    ) -> None:
        if error is not None:
            payload = error_reply(request_id, *error)
        else:
            try:
                payload = encode_reply(Reply(id=request_id, result=result))
            except Exception as exc:  # a handler returned something msgpack can't carry
                log.exception("%s: unencodable result", self.name)
                payload = error_reply(request_id, ErrorCode.INTERNAL, f"unencodable result: {exc}")
        if self._batch:
            # what the request caused is published before its answer, as without a batch
            self._flush_events()
        self._commands.send_multipart([*envelope, payload])

    def _client(self, client: str) -> _Client:
        state = self.clients.get(client)
        if state is None:
            state = self.clients[client] = _Client(last_seen=time.monotonic())
        state.last_seen = time.monotonic()
        return state

    def _release(self, client: str, why: str) -> None:
        state = self.clients.pop(client, None)
        if state is None:
            return
        if state.objects:
            log.info(
                "%s: releasing %d object(s) of client %s (%s)",
                self.name,
                len(state.objects),
                client,
                why,
            )
        for key, release in state.objects.items():
            try:
                release()
            except Exception:
                log.exception("%s: releasing %s failed", self.name, key)
        self.publish(
            "service.client_expired",
            self.name,
            {"client": client, "objects": list(state.objects), "reason": why},
        )

    def _reap(self) -> None:
        while True:
            gevent.sleep(min(1.0, self.client_timeout / 3))
            # Silence is measured up to when the queue was last read to the end,
            # not up to now: a busy service may not have read a live client's
            # heartbeats yet, and that client is not gone.
            drained = self._drained_at
            for client, state in list(self.clients.items()):
                if drained - state.last_seen > self.client_timeout:
                    self._release(client, "heartbeat stopped")


def main(service_class: type[Service]) -> None:
    logging.basicConfig(
        level=os.environ.get("SIPSIMPLE_LOG_LEVEL", "INFO"),
        format=f"%(asctime)s {service_class.name}[%(process)d] %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    sys.exit(service_class().run())
