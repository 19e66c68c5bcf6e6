"""`SignallingEngine`: the I/O glue around the sans-IO transaction layer.

It owns a `TransportManager` (sockets), a `TransactionLayer` (RFC 3261 17)
and a `TimerWheel` (gevent timers), and carries out every effect:

- `Send` goes to the transport; a `TransportError` is fed back to the layer
  (`transport_error` for a request of ours, `destination_failed` otherwise),
  which turns it into a local 503 for the transaction user.
- `StartTimer`/`CancelTimer` arm and disarm real timers; their expiry calls
  `timer_fired`. ``now`` is always `time.monotonic()`.
- TU events go to whoever asked: a client transaction's listener (given to
  `send_request`), else the engine's `TUHandler` (the UA core, which hands
  what it does not handle itself to the dialog layer).

The engine also numbers server transactions (``server_id``: an opaque string
the bus can carry), reports each transaction's outcome once (`Completion`)
and, when a tracer is set, every message sent or received (`TraceRecord`).
Everything runs in greenlets of one thread: no locks.
"""

from __future__ import annotations

import ipaddress
import itertools
import logging
import socket
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from typing import Any, Protocol, cast

import gevent
import gevent.event

from sipsimple_services.signalling.glue.timer_wheel import TimerWheel
from sipsimple_services.signalling.sip.message.addresses import Destination
from sipsimple_services.signalling.sip.message.values import SIPMessage, SIPRequest, SIPResponse
from sipsimple_services.signalling.sip.transactions.effects import (
    CancelTimer,
    Effect,
    RequestReceived,
    ResponseReceived,
    Send,
    StartTimer,
    TransactionKey,
    TransactionTerminated,
    TransactionTimedOut,
    TransportFailed,
    TUEvent,
)
from sipsimple_services.signalling.sip.transactions.keys import (
    ClientKey,
    ServerKey,
    client_key_for_request,
)
from sipsimple_services.signalling.sip.transactions.layer import LayerLimits, TransactionLayer
from sipsimple_services.signalling.sip.transactions.timers import TimerConfig
from sipsimple_services.signalling.transport import (
    TransportAddress,
    TransportConfig,
    TransportError,
    TransportManager,
)

__all__ = [
    "ClientListener",
    "Completion",
    "Outcome",
    "SignallingEngine",
    "TUHandler",
    "TraceRecord",
]

log = logging.getLogger("sipsimple_services.signalling.glue.engine")

ClientListener = Callable[[TUEvent], None]


class TUHandler(Protocol):
    """The transaction user: gets every TU event no client listener took."""

    def handle(self, event: TUEvent, engine: SignallingEngine) -> None: ...


@dataclass(frozen=True)
class TraceRecord:
    direction: str  # "in" or "out"
    transport: str  # "UDP", "TCP", "TLS"
    source: str  # host:port ([v6]:port)
    destination: str
    data: bytes
    timestamp: float  # time.time()


@dataclass(frozen=True)
class Outcome:
    """The final response of a request we sent; ``local`` for our own 408/503."""

    response: SIPResponse
    local: bool
    error: str | None = None  # why, when local


@dataclass(frozen=True)
class Completion:
    """A transaction got its final response: ``originator`` "local" (ours) or "remote"."""

    originator: str
    method: str
    code: int
    reason: str
    call_id: str | None


def hostport(host: str, port: int | None) -> str:
    host = f"[{host}]" if ":" in host else host
    return host if port is None else f"{host}:{port}"


def _destination(address: TransportAddress) -> Destination:
    return Destination(address.host, address.port, address.transport)


def _is_client_key(key: TransactionKey) -> bool:
    # client keys are (branch, method); server keys start with "3261"/"2543"
    return len(key) == 2


class SignallingEngine:
    def __init__(
        self,
        config: TransportConfig,
        tu: TUHandler | None = None,
        *,
        timers: TimerConfig | None = None,
        limits: LayerLimits | None = None,
    ) -> None:
        self.config = config
        self.tu = tu
        self.layer = TransactionLayer(timers, limits)
        self.transport = self._make_transport(config)
        self.wheel = TimerWheel(self._timer_fired)
        self.tracer: Callable[[TraceRecord], None] | None = None
        self.on_completed: Callable[[Completion], None] | None = None
        # Around the handling of each input (a message, a timer, a transport failure):
        # the service sends the events it publishes meanwhile as one bus message.
        self.batch: Callable[[], AbstractContextManager[Any]] = nullcontext
        self._listeners: dict[ClientKey, ClientListener] = {}
        self._completed: set[TransactionKey] = set()
        self._server_ids: dict[str, ServerKey] = {}
        self._ids_by_key: dict[ServerKey, str] = {}
        self._ids = itertools.count(1)
        self._send_errors: dict[ClientKey, str] = {}

    # -- life cycle -----------------------------------------------------------

    def _make_transport(self, config: TransportConfig) -> TransportManager:
        return TransportManager(
            config, self._on_message, on_connection_closed=self._on_connection_closed,
            on_unreachable=self._on_unreachable,
        )

    def start(self) -> None:
        """Bind the configured transports (OSError when a port is taken)."""
        self.transport.start()

    def stop(self) -> None:
        self.wheel.cancel_all()
        self.transport.stop()

    def reconfigure(self, config: TransportConfig) -> None:
        """Rebind with `config`; on failure the previous transports are restored and it raises.

        A port of 0 keeps the port already bound for that transport (any free
        port is what 0 asks for), so that peers keep reaching us.
        """
        old = self.transport
        bound = old.ports
        config = _pinned(config, bound)
        old.stop()
        new = self._make_transport(config)
        try:
            new.start()
        except (OSError, ValueError):
            self.transport = self._make_transport(_pinned(self.config, bound))
            self.transport.start()
            raise
        self.transport, self.config = new, config

    @property
    def local_addresses(self) -> dict[str, TransportAddress]:
        return self.transport.local_addresses

    def via_address(self, destination: Destination) -> tuple[str, int | None]:
        """The host and port to put in our Via for a request to `destination`.

        The port is that transport's listener (None without one: TCP/TLS then
        send from an ephemeral port); a wildcard bind address is replaced by
        the local address the kernel would use towards the destination.
        """
        local = self.transport.local_addresses.get(destination.transport)
        host = local.host if local is not None else self.config.host
        try:
            unspecified = ipaddress.ip_address(host).is_unspecified
        except ValueError:
            unspecified = False
        if unspecified:
            host = _source_address_for(destination.host, host) or host
        return host, local.port if local is not None else None

    # -- the TU's side ----------------------------------------------------------

    def new_tag(self) -> str:
        return self.layer.new_tag()

    def send_request(
        self,
        request: SIPRequest,
        destination: Destination,
        listener: ClientListener | None = None,
        *,
        server_name: str | None = None,
    ) -> SIPRequest:
        """Start a client transaction (a fresh branch is added when the Via has none).

        Returns the request as sent. ``listener`` gets the transaction's TU
        events (responses, timeout, transport failure, termination).
        ``server_name`` is the name a TLS server must prove (default: the
        destination's ``tls_name``, else its host); it holds for this request only.
        """
        request = self.layer.with_branch(request)
        if server_name and destination.tls_name is None:
            destination = replace(destination, tls_name=server_name)
        effects = self.layer.send_request(request, destination, time.monotonic())
        if listener is not None and request.method != "ACK":
            self._listeners[client_key_for_request(request)] = listener
        self._execute(effects)
        return request

    def request(
        self, request: SIPRequest, destination: Destination, *, server_name: str | None = None
    ) -> gevent.event.AsyncResult:
        """Send `request`; the result is its `Outcome` (a local 408/503 included)."""
        result = gevent.event.AsyncResult()

        def listener(event: TUEvent) -> None:
            if result.ready():
                return
            if isinstance(event, ResponseReceived) and event.response.code >= 200:
                result.set(Outcome(event.response, False))
            elif isinstance(event, TransactionTimedOut):
                result.set(Outcome(event.response, True, "no answer (transaction timeout)"))
            elif isinstance(event, TransportFailed):
                key = cast(ClientKey, event.key)
                result.set(Outcome(event.response, True, self._send_errors.get(key)))
            elif isinstance(event, TransactionTerminated):
                result.set_exception(RuntimeError("the transaction ended without a response"))

        self.send_request(request, destination, listener, server_name=server_name)
        return result

    def send_response(self, key: ServerKey, response: SIPResponse) -> None:
        """Answer the server transaction ``key`` (UnknownTransaction/TransactionError if not)."""
        effects = self.layer.send_response(key, response, time.monotonic())
        finished = response.code >= 200 and key not in self._completed
        if finished:
            self._completed.add(key)
        self._execute(effects)
        if finished:
            self._complete("remote", response)

    def server_id(self, key: ServerKey) -> str:
        """The opaque id of a live server transaction (made on first use)."""
        found = self._ids_by_key.get(key)
        if found is None:
            found = f"s{next(self._ids)}"
            self._ids_by_key[key] = found
            self._server_ids[found] = key
        return found

    def server_key(self, server_id: str) -> ServerKey | None:
        return self._server_ids.get(server_id)

    # -- effects ------------------------------------------------------------------

    def execute(self, effects: list[Effect]) -> None:
        """Carry out effects of a layer built on `layer` (the dialog layer's, say):
        sends, transaction timers, and TU events, which go the usual way."""
        self._execute(effects)

    def _execute(self, effects: list[Effect]) -> None:
        for effect in effects:
            if isinstance(effect, Send):
                self._send(effect)
            elif isinstance(effect, StartTimer):
                self.wheel.start(effect.key, effect.name, effect.delay)
            elif isinstance(effect, CancelTimer):
                self.wheel.cancel(effect.key, effect.name)
            else:
                self._dispatch(effect)

    def _send(self, effect: Send) -> None:
        message, destination = effect.message, effect.destination
        data = bytes(message)
        try:
            # the name travels with the request's Destination (retransmissions too)
            self.transport.send(data, destination, server_name=destination.tls_name)
        except TransportError as exc:
            log.info("cannot send to %s: %s", destination, exc.reason)
            now = time.monotonic()
            if isinstance(message, SIPRequest) and message.method != "ACK":
                key = client_key_for_request(message)
                self._send_errors[key] = exc.reason
                self._execute([_explained(effect, exc.reason)
                               for effect in self.layer.transport_error(key, now)])
            elif isinstance(message, SIPResponse):
                self._execute(self.layer.destination_failed(destination, now))
            return
        if self.tracer is not None:
            local = self.transport.local_addresses.get(destination.transport)
            self._trace("out", destination.transport,
                        hostport(local.host, local.port) if local else self.config.host,
                        hostport(destination.host, destination.port), data)

    def _trace(self, direction: str, transport: str, source: str, dest: str, data: bytes) -> None:
        tracer = self.tracer
        if tracer is None:
            return
        try:
            tracer(TraceRecord(direction, transport, source, dest, data, time.time()))
        except Exception:
            log.exception("SIP tracer failed")

    def _dispatch(self, event: TUEvent) -> None:
        if isinstance(event, ResponseReceived | TransactionTimedOut | TransportFailed):
            self._note_outcome(event)
        if isinstance(event, TransactionTerminated):
            self._terminated(event)
            return
        listener: ClientListener | None = None
        key = getattr(event, "key", None)
        if key is not None and _is_client_key(key):
            listener = self._listeners.get(cast(ClientKey, key))
        if listener is not None:
            self._call(listener, event)
        elif self.tu is not None:
            if isinstance(event, RequestReceived):
                self.server_id(event.key)
            try:
                self.tu.handle(event, self)
            except Exception:
                log.exception("the transaction user failed on %s", type(event).__name__)

    def _call(self, listener: ClientListener, event: TUEvent) -> None:
        try:
            listener(event)
        except Exception:
            log.exception("a transaction listener failed on %s", type(event).__name__)

    def _note_outcome(
        self, event: ResponseReceived | TransactionTimedOut | TransportFailed
    ) -> None:
        key = event.key
        if not _is_client_key(key) or key in self._completed:
            return
        response = event.response
        if response.code < 200:
            return
        self._completed.add(key)
        self._complete("local", response)

    def _complete(self, originator: str, response: SIPResponse) -> None:
        if self.on_completed is None:
            return
        cseq = response.cseq
        completion = Completion(
            originator, cseq.method if cseq is not None else "", response.code,
            response.reason, response.call_id,
        )
        try:
            self.on_completed(completion)
        except Exception:
            log.exception("the completion callback failed")

    def _terminated(self, event: TransactionTerminated) -> None:
        key = event.key
        self._completed.discard(key)
        if _is_client_key(key):
            client = cast(ClientKey, key)
            self._send_errors.pop(client, None)
            listener = self._listeners.pop(client, None)
            if listener is not None:
                self._call(listener, event)
                return
        else:
            found = self._ids_by_key.pop(key, None)
            if found is not None:
                self._server_ids.pop(found, None)
        if self.tu is not None:
            try:
                self.tu.handle(event, self)
            except Exception:
                log.exception("the transaction user failed on TransactionTerminated")

    # -- the transport's and the timers' side -------------------------------

    def _on_message(self, message: SIPMessage, source: TransportAddress, cid: int | None) -> None:
        if self.tracer is not None:
            local = self.transport.local_addresses.get(source.transport)
            self._trace("in", source.transport, hostport(source.host, source.port),
                        hostport(local.host, local.port) if local else self.config.host,
                        bytes(message))
        with self.batch():
            self._execute(self.layer.receive(message, _destination(source), time.monotonic()))

    def _on_connection_closed(self, cid: int, remote: TransportAddress, reason: str) -> None:
        # Transactions waiting on a lost connection fail now, not at Timer B/F, with a
        # local 503 saying why (the peer closed it, our address is gone...).
        self._fail_destination(remote, f"connection closed: {reason}")

    def _on_unreachable(self, address: TransportAddress, reason: str) -> None:
        # An ICMP error for a datagram to `address` (Linux): what sends there fails now,
        # with a local 503 saying why, not at Timer B/F (RFC 3261 18.4). Transactions
        # whose destination was given as a name are not matched and time out as before.
        self._fail_destination(address, reason)

    def _fail_destination(self, address: TransportAddress, reason: str) -> None:
        effects = self.layer.destination_failed(_destination(address), time.monotonic())
        for effect in effects:
            if isinstance(effect, TransportFailed) and _is_client_key(effect.key):
                self._send_errors[cast(ClientKey, effect.key)] = reason
        with self.batch():
            self._execute([_explained(effect, reason) for effect in effects])

    def _timer_fired(self, key: object, name: str) -> None:
        with self.batch():
            self._execute(self.layer.timer_fired(cast(TransactionKey, key), name,
                                                 time.monotonic()))


def _pinned(config: TransportConfig, bound: dict[str, int]) -> TransportConfig:
    """`config` with each port 0 replaced by the port already bound for that transport."""

    def pin(port: int | None, name: str) -> int | None:
        return bound.get(name, 0) if port == 0 else port

    return replace(
        config,
        udp_port=pin(config.udp_port, "UDP"),
        tcp_port=pin(config.tcp_port, "TCP"),
        tls_port=pin(config.tls_port, "TLS"),
    )


def _source_address_for(host: str, bound: str) -> str | None:
    """The local address the kernel would use towards `host` (no packet is sent)."""
    family = socket.AF_INET6 if ":" in bound else socket.AF_INET
    try:
        infos = socket.getaddrinfo(host, 9, family, socket.SOCK_DGRAM)
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.connect(infos[0][4])
            address: str = probe.getsockname()[0]
    except OSError:
        return None
    return address


def _explained(effect: Effect, reason: str) -> Effect:
    """A TransportFailed whose local 503 says why the transport failed (a TLS
    certificate refused, a connection refused...), for those who only see the response."""
    if not isinstance(effect, TransportFailed) or not reason:
        return effect
    response = effect.response
    why = " ".join(reason.split())
    return replace(effect, response=replace(response, reason=f"{response.reason} ({why})"))
