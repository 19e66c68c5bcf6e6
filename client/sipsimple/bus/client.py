"""The facade's side of the bus.

`BusClient` connects to every service. Synchronous calls use a DEALER socket
per calling thread, so a call is one send and one receive with no thread
hand-off (`call_many` pipelines several: all sent, then all received);
asynchronous calls, heartbeats and events go through one background thread
("sipsimple-bus"), which also posts service events to the NotificationCenter.
zmq reconnects by itself after a service restarts; the heartbeat notices the
new instance and posts ``ServiceDidRestart`` so that components can rebuild
what the old instance held.
"""

from __future__ import annotations

import contextlib
import datetime
import itertools
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import zmq

from sipsimple.bus import endpoints
from sipsimple.bus.auth import Credentials
from sipsimple.bus.schema import (
    HEARTBEAT_INTERVAL,
    MAX_MESSAGE_SIZE,
    QUEUE_LIMIT,
    BusProtocolError,
    Reply,
    Request,
    decode_events,
    decode_reply,
    encode_request,
)
from sipsimple.notification import NotificationCenter, NotificationData

__all__ = [
    "BusClient",
    "BusError",
    "BusFuture",
    "ServiceError",
    "ServiceUnavailable",
    "get_bus",
]

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 10.0
UNAVAILABLE_AFTER = 3 * HEARTBEAT_INTERVAL  # silence before a service counts as gone


class BusError(Exception):
    """Base of every error the bus raises."""


class ServiceUnavailable(BusError):
    """The service did not answer in time (not running, restarting or stuck)."""

    def __init__(self, service: str, method: str, timeout: float) -> None:
        super().__init__(
            f"service {service!r} did not answer {method!r} within {timeout:g} s "
            f"(is it running? see `sipsimple services status`)"
        )
        self.service = service
        self.method = method


class ServiceError(BusError):
    """The service answered with an error reply."""

    def __init__(self, service: str, method: str, code: str, message: str) -> None:
        super().__init__(f"{service}.{method}: {message} [{code}]")
        self.service = service
        self.method = method
        self.code = code
        self.message = message


class BusFuture:
    """The eventual result of an asynchronous call; callbacks run on the bus thread."""

    def __init__(self, service: str, method: str) -> None:
        self.service = service
        self.method = method
        self._done = threading.Event()
        self._result: Any = None
        self._exception: BaseException | None = None
        self._callbacks: list[Callable[[BusFuture], None]] = []
        self._lock = threading.Lock()

    def done(self) -> bool:
        return self._done.is_set()

    def result(self, timeout: float | None = None) -> Any:
        if not self._done.wait(timeout):
            raise TimeoutError(f"{self.service}.{self.method} still pending after {timeout} s")
        if self._exception is not None:
            raise self._exception
        return self._result

    def exception(self, timeout: float | None = None) -> BaseException | None:
        if not self._done.wait(timeout):
            raise TimeoutError(f"{self.service}.{self.method} still pending after {timeout} s")
        return self._exception

    def add_done_callback(self, callback: Callable[[BusFuture], None]) -> None:
        with self._lock:
            if not self._done.is_set():
                self._callbacks.append(callback)
                return
        callback(self)

    def _set(self, result: Any = None, exception: BaseException | None = None) -> None:
        with self._lock:
            if self._done.is_set():
                return
            self._result, self._exception = result, exception
            self._done.set()
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            try:
                callback(self)
            except Exception:
                log.exception("callback of %s.%s failed", self.service, self.method)


class _ThreadSockets(dict[str, zmq.Socket]):
    """One thread's DEALER sockets; closed when the thread ends (thread-locals
    are cleared in the ending thread), so short-lived worker threads leak no
    file descriptors."""

    def __del__(self) -> None:
        for socket in self.values():
            if not socket.closed:
                socket.close(linger=0)


@dataclass
class ServiceState:
    available: bool = False
    instance: str | None = None
    last_seen: float = 0.0
    # What the service said of its load in its last heartbeat reply (media workers).
    load: dict[str, Any] | None = None


@dataclass
class _Pending:
    future: BusFuture
    deadline: float
    timeout: float


def _unwrap(service: str, method: str, reply: Reply) -> Any:
    if reply.error is not None:
        raise ServiceError(service, method, reply.error.code, reply.error.message)
    return reply.result


class BusClient:
    def __init__(
        self,
        services: Iterable[str] | None = None,
        request_timeout: float = DEFAULT_TIMEOUT,
        heartbeat_interval: float = HEARTBEAT_INTERVAL,
        post_notifications: bool = True,
    ) -> None:
        """`post_notifications=False` makes a silent client (a status probe):
        no events and no Service* notifications reach the NotificationCenter.
        `services` defaults to every service of the bus, media workers included."""
        self.services = tuple(endpoints.bus_services() if services is None else services)
        self.request_timeout = request_timeout
        self.heartbeat_interval = heartbeat_interval
        self.post_notifications = post_notifications
        # The id is proven to every service on connecting (sipsimple.bus.auth).
        self.credentials = Credentials.generate()
        self.client_id = self.credentials.client_id
        self.state = {name: ServiceState() for name in self.services}
        self._context = zmq.Context()
        self._ids = itertools.count(1)
        self._local = threading.local()
        self._outbox: queue.SimpleQueue[tuple[str, int, bytes, _Pending]] = queue.SimpleQueue()
        self._wake_endpoint = f"inproc://wake-{self.client_id}"
        self._wake_lock = threading.Lock()
        self._wake: zmq.Socket | None = None
        self._thread: threading.Thread | None = None
        self._running = False
        self._registered = False  # our key is in the runtime directory (TCP)

    # --- lifecycle -----------------------------------------------------------

    def start(self) -> None:
        if self._running:
            return
        # Unsafe or malformed endpoints are the caller's error, raised here.
        for service in self.services:
            endpoints.command_endpoint(service)
        self._registered = endpoints.is_tcp()
        if self._registered:
            self.credentials.register()
        self._running = True
        ready = threading.Event()
        self._thread = threading.Thread(
            target=self._loop, args=(ready,), name="sipsimple-bus", daemon=True
        )
        self._thread.start()
        ready.wait()

    def stop(self, goodbye: bool = True) -> None:
        if not self._running:
            return
        if goodbye:
            for service in self.services:
                if self.state[service].last_seen:  # we talked to it: it may hold our objects
                    with contextlib.suppress(BusError):
                        self.call(service, "goodbye", timeout=0.5)
        self._running = False
        self._wakeup()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5)
        self._context.destroy(linger=0)
        if self._registered:
            self.credentials.unregister()

    @property
    def running(self) -> bool:
        return self._running and self._thread is not None and self._thread.is_alive()

    # --- calls ---------------------------------------------------------------

    def call(self, service: str, method: str, timeout: float | None = None, **params: Any) -> Any:
        """Send a request and wait for its reply on this thread's own socket."""
        [outcome] = self._calls(service, [(method, params)], timeout)
        if isinstance(outcome, ServiceError):
            raise outcome
        return outcome

    def call_many(
        self,
        service: str,
        calls: Sequence[tuple[str, dict[str, Any]]],
        timeout: float | None = None,
    ) -> list[Any]:
        """Pipelined calls on this thread's socket: every request goes out at once and
        the service answers them in order, so they wait about one round trip, not one
        each (behind a busy service's work: the media clock's ticks). Returns each
        call's result, or the `ServiceError` it got (returned, not raised: the later
        calls ran all the same); raises ServiceUnavailable if a reply is missing."""
        return self._calls(service, list(calls), timeout)

    def _calls(
        self, service: str, calls: list[tuple[str, dict[str, Any]]], timeout: float | None
    ) -> list[Any]:
        self._check(service)
        timeout = self.request_timeout if timeout is None else timeout
        try:
            return self._exchange(service, calls, timeout)
        except zmq.ZMQError:
            if self._running:
                raise
            # stop() destroyed the sockets under this thread's call
            raise BusError(f"the bus client stopped during {service}.{calls[0][0]}") from None

    def _exchange(
        self, service: str, calls: list[tuple[str, dict[str, Any]]], timeout: float
    ) -> list[Any]:
        deadline = time.monotonic() + timeout
        socket = self._thread_socket(service)
        waiting: dict[int, int] = {}  # request id -> index in calls
        for index, (method, params) in enumerate(calls):
            request_id = next(self._ids)
            payload = self._encode(request_id, method, params)
            while True:
                try:
                    socket.send(payload, zmq.NOBLOCK)
                    break
                except zmq.Again:  # not connected yet (IMMEDIATE): wait for the service
                    remaining = deadline - time.monotonic()
                    if remaining <= 0 or not socket.poll(int(remaining * 1000) + 1, zmq.POLLOUT):
                        raise ServiceUnavailable(service, method, timeout) from None
            waiting[request_id] = index
        outcomes: list[Any] = [None] * len(calls)
        while waiting:
            try:
                data = socket.recv(zmq.NOBLOCK)
            except zmq.Again:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not socket.poll(int(remaining * 1000) + 1, zmq.POLLIN):
                    method = calls[min(waiting.values())][0]
                    raise ServiceUnavailable(service, method, timeout) from None
                continue
            try:
                reply = decode_reply(data)
            except BusProtocolError as exc:
                log.warning("dropped a bad reply from %s: %s", service, exc)
                continue
            if reply.id not in waiting:
                continue  # a late reply to a timed-out call
            index = waiting.pop(reply.id)
            self.state[service].last_seen = time.monotonic()
            try:
                outcomes[index] = _unwrap(service, calls[index][0], reply)
            except ServiceError as exc:
                outcomes[index] = exc
        return outcomes

    def call_async(
        self,
        service: str,
        method: str,
        params: dict[str, Any] | None = None,
        timeout: float | None = None,
    ) -> BusFuture:
        """Send a request from the bus thread; the future completes there."""
        self._check(service)
        timeout = self.request_timeout if timeout is None else timeout
        future = BusFuture(service, method)
        request_id = next(self._ids)
        payload = self._encode(request_id, method, params or {})
        pending = _Pending(future, time.monotonic() + timeout, timeout)
        self._outbox.put((service, request_id, payload, pending))
        self._wakeup()
        return future

    def ping(self, service: str, timeout: float = 2.0) -> dict[str, Any]:
        result: dict[str, Any] = self.call(service, "ping", timeout=timeout)
        return result

    def _check(self, service: str) -> None:
        if service not in self.services:
            raise ValueError(f"unknown service {service!r} (known: {', '.join(self.services)})")
        if not self._running:
            raise BusError("the bus client is not running")

    def _encode(self, request_id: int, method: str, params: dict[str, Any]) -> bytes:
        try:
            data = encode_request(Request(request_id, self.client_id, method, params))
        except (TypeError, ValueError, OverflowError) as exc:
            raise ValueError(
                f"cannot send {method!r}: parameters not serializable: {exc}"
            ) from None
        if len(data) > MAX_MESSAGE_SIZE:  # the service would drop it unanswered
            raise ValueError(f"cannot send {method!r}: {len(data)} bytes exceed the bus's "
                             f"limit of {MAX_MESSAGE_SIZE}")
        return data

    def _dealer(self, service: str) -> zmq.Socket:
        socket = self._context.socket(zmq.DEALER)
        socket.setsockopt(zmq.LINGER, 0)
        socket.setsockopt(zmq.IMMEDIATE, 1)  # never queue for a service that isn't there
        socket.setsockopt(zmq.RECONNECT_IVL, 100)
        socket.setsockopt(zmq.RECONNECT_IVL_MAX, 1000)
        endpoint = endpoints.command_endpoint(service)
        self.credentials.apply(socket, endpoint)
        socket.connect(endpoint)
        return socket

    def _thread_socket(self, service: str) -> zmq.Socket:
        sockets: _ThreadSockets | None = getattr(self._local, "sockets", None)
        if sockets is None:
            sockets = self._local.sockets = _ThreadSockets()
        socket = sockets.get(service)
        if socket is None:
            socket = sockets[service] = self._dealer(service)
        return socket

    def _wakeup(self) -> None:
        with self._wake_lock:
            if self._wake is None:
                self._wake = self._context.socket(zmq.PUSH)
                self._wake.connect(self._wake_endpoint)
            with contextlib.suppress(zmq.Again):  # a wake-up is already queued
                self._wake.send(b"", zmq.NOBLOCK)

    # --- the bus thread ------------------------------------------------------

    def _loop(self, ready: threading.Event) -> None:
        wake = self._context.socket(zmq.PULL)
        wake.bind(self._wake_endpoint)
        dealers = {service: self._dealer(service) for service in self.services}
        subscribers: dict[str, zmq.Socket] = {}
        for service in self.services:
            sub = self._context.socket(zmq.SUB)
            sub.setsockopt(zmq.LINGER, 0)
            sub.setsockopt(zmq.RECONNECT_IVL, 100)
            sub.setsockopt(zmq.RECONNECT_IVL_MAX, 1000)
            sub.setsockopt(zmq.RCVHWM, QUEUE_LIMIT)
            sub.setsockopt(zmq.SUBSCRIBE, b"")
            endpoint = endpoints.event_endpoint(service)
            self.credentials.apply(sub, endpoint, commands=False)
            sub.connect(endpoint)
            subscribers[service] = sub
        poller = zmq.Poller()
        poller.register(wake, zmq.POLLIN)
        owner = {}
        for service in self.services:
            poller.register(dealers[service], zmq.POLLIN)
            poller.register(subscribers[service], zmq.POLLIN)
            owner[dealers[service]] = ("reply", service)
            owner[subscribers[service]] = ("event", service)
        pending: dict[int, _Pending] = {}
        unsent: list[tuple[str, int, bytes]] = []  # waiting for a connection
        heartbeats: dict[int, str] = {}
        next_heartbeat = 0.0
        ready.set()
        try:
            while self._running:
                now = time.monotonic()
                if now >= next_heartbeat:
                    self._heartbeat(dealers, heartbeats, now)
                    # Until every service has answered once, ask often: its
                    # instance id is what later tells a restart apart.
                    known = all(state.instance for state in self.state.values())
                    next_heartbeat = now + (self.heartbeat_interval if known else 0.1)
                self._expire(pending, now)
                unsent = self._send(dealers, [u for u in unsent if u[1] in pending])
                wait = next_heartbeat - now
                if pending:
                    wait = min(wait, min(p.deadline for p in pending.values()) - now)
                if unsent:
                    wait = min(wait, 0.02)
                for socket, _ in poller.poll(max(0, int(wait * 1000)) + 1):
                    if socket is wake:
                        while wake.poll(0):
                            wake.recv()
                        unsent += self._drain_outbox(pending)
                        unsent = self._send(dealers, unsent)
                        continue
                    kind, service = owner[socket]
                    while socket.poll(0):
                        frames = socket.recv_multipart()
                        try:
                            if kind == "reply":
                                self._on_reply(service, frames, pending, heartbeats)
                            else:
                                self._on_event(service, frames)
                        except Exception:  # one bad message must not end the bus thread
                            log.exception("failed to handle a %s from %s", kind, service)
        except zmq.ContextTerminated:
            pass
        except Exception:
            log.exception("bus thread crashed")
        finally:
            for p in pending.values():
                p.future._set(exception=BusError("the bus client stopped"))

    def _drain_outbox(self, pending: dict[int, _Pending]) -> list[tuple[str, int, bytes]]:
        drained: list[tuple[str, int, bytes]] = []
        while True:
            try:
                service, request_id, payload, item = self._outbox.get_nowait()
            except queue.Empty:
                return drained
            pending[request_id] = item
            drained.append((service, request_id, payload))

    @staticmethod
    def _send(
        dealers: dict[str, zmq.Socket], requests: list[tuple[str, int, bytes]]
    ) -> list[tuple[str, int, bytes]]:
        """Send what can be sent; return the rest (their service is not connected)."""
        left = []
        for service, request_id, payload in requests:
            try:
                dealers[service].send(payload, zmq.NOBLOCK)
            except zmq.Again:
                left.append((service, request_id, payload))
        return left

    def _expire(self, pending: dict[int, _Pending], now: float) -> None:
        for request_id, item in list(pending.items()):
            if now >= item.deadline:
                del pending[request_id]
                item.future._set(
                    exception=ServiceUnavailable(
                        item.future.service, item.future.method, item.timeout
                    )
                )

    def _heartbeat(
        self, dealers: dict[str, zmq.Socket], heartbeats: dict[int, str], now: float
    ) -> None:
        for service, dealer in dealers.items():
            state = self.state[service]
            if state.available and now - state.last_seen > UNAVAILABLE_AFTER:
                state.available = False
                log.warning("service %s stopped answering", service)
                self._post("ServiceDidDisconnect", service=service, instance=state.instance)
            request_id = next(self._ids)
            heartbeats[request_id] = service
            try:
                dealer.send(self._encode(request_id, "heartbeat", {}), zmq.NOBLOCK)
            except zmq.Again:
                heartbeats.pop(request_id)
        if len(heartbeats) > 64 * len(dealers):  # replies that will never come
            for request_id in sorted(heartbeats)[: len(heartbeats) // 2]:
                heartbeats.pop(request_id)

    def _on_reply(
        self,
        service: str,
        frames: list[bytes],
        pending: dict[int, _Pending],
        heartbeats: dict[int, str],
    ) -> None:
        if len(frames) != 1:
            log.warning("dropped a reply of %d frames from %s", len(frames), service)
            return
        try:
            reply = decode_reply(frames[0])
        except BusProtocolError as exc:
            log.warning("dropped a bad reply from %s: %s", service, exc)
            return
        state = self.state[service]
        state.last_seen = time.monotonic()
        if heartbeats.pop(reply.id, None) is not None:
            result = reply.result if isinstance(reply.result, dict) else {}
            instance = result.get("instance")
            load = result.get("load")
            state.load = load if isinstance(load, dict) else None
            previous, was_available = state.instance, state.available
            state.instance, state.available = instance, True
            if previous is not None and instance != previous:
                log.warning("service %s restarted", service)
                self._post(
                    "ServiceDidRestart",
                    service=service,
                    instance=instance,
                    previous_instance=previous,
                )
            elif not was_available:
                self._post("ServiceDidConnect", service=service, instance=instance)
            return
        item = pending.pop(reply.id, None)
        if item is None:
            return
        try:
            item.future._set(result=_unwrap(service, item.future.method, reply))
        except ServiceError as exc:
            item.future._set(exception=exc)

    def _on_event(self, service: str, frames: list[bytes]) -> None:
        if not self.post_notifications:
            return
        try:
            events = decode_events(frames)
        except BusProtocolError as exc:
            log.warning("dropped a bad event message from %s: %s", service, exc)
            return
        center = NotificationCenter()
        for event in events:  # a batch: what one input to the service caused, in order
            if isinstance(event, BusProtocolError):
                log.warning("dropped a bad event from %s: %s", service, event)
                continue
            data = dict(event.data)
            data.update(
                sender_id=event.sender,
                service=service,
                timestamp=datetime.datetime.fromtimestamp(event.timestamp),
            )
            center.post_notification(event.name, sender=self, data=NotificationData(**data))

    def _post(self, name: str, **data: Any) -> None:
        if not self.post_notifications:
            return
        NotificationCenter().post_notification(name, sender=self, data=NotificationData(**data))


_bus: BusClient | None = None
_bus_lock = threading.Lock()


def get_bus() -> BusClient:
    """The process-wide bus client, started on first use."""
    global _bus
    with _bus_lock:
        if _bus is None or not _bus.running:
            _bus = BusClient()
            _bus.start()
        return _bus


def reset_bus() -> None:
    """Stop the process-wide client (the next get_bus() makes a new one)."""
    global _bus
    with _bus_lock:
        if _bus is not None:
            _bus.stop()
        _bus = None
    # What the facade remembers of the media workers was about that client's objects.
    from sipsimple import media_workers

    media_workers.reset()
