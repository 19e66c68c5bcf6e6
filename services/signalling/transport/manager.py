"""`TransportManager`: the UDP socket, TCP/TLS listeners and connections of one host.

Received messages go to ``on_message(message, source, connection_id)``
(requests with ``received``/``rport`` stamped on the top Via);
``send``/``send_response`` write messages, reusing a connection to the same
peer when one is open (ours or the peer's) and opening one otherwise. On
Linux, a UDP destination that answers with an ICMP error (port, host or
network unreachable) goes to ``on_unreachable(address, reason)``
(`udp_errors`), so that what waits on it fails at once. A connection whose
local address the host no longer has (it moved to another network) is
closed within a tick of the maintenance loop (`local_addresses`), and with
it what waits on it; the next request opens a new one from the address the
host has now.
Everything is gevent; call from greenlets (the tests drive it unpatched).

Connections peers open are bounded in number, in all and per address, and
what their partial messages hold and how long a message may take to arrive
(see `TransportConfig`), so that no peer can exhaust memory or connections.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import socket
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import gevent
import gevent.event
from gevent import socket as gsocket

from sipsimple.core import SIPParseError
from sipsimple_services.signalling.sip.message.parser import parse_message
from sipsimple_services.signalling.sip.message.values import SIPMessage, SIPRequest, SIPResponse
from sipsimple_services.signalling.transport.connection import (
    BufferBudget,
    Connection,
    error_response,
)
from sipsimple_services.signalling.transport.local_addresses import address_gone, stale
from sipsimple_services.signalling.transport.tls import (
    client_context,
    describe_tls_error,
    server_context,
)
from sipsimple_services.signalling.transport.types import (
    AddressLike,
    TransportAddress,
    TransportConfig,
    TransportError,
)
from sipsimple_services.signalling.transport.udp_errors import PENDING, ErrorQueue, Unreachable
from sipsimple_services.signalling.transport.via import response_destination, stamp_received

__all__ = ["MessageCallback", "TransportManager"]

log = logging.getLogger("sipsimple_services.signalling.transport")

MessageCallback = Callable[[SIPMessage, TransportAddress, "int | None"], None]
ClosedCallback = Callable[[int, TransportAddress, str], None]
UnreachableCallback = Callable[[TransportAddress, str], None]

_ConnectionKey = tuple[str, str, int, str]


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _normal_ip(host: str) -> str:
    return str(ipaddress.ip_address(host))


class TransportManager:
    def __init__(
        self,
        config: TransportConfig,
        on_message: MessageCallback,
        *,
        on_connection_closed: ClosedCallback | None = None,
        on_unreachable: UnreachableCallback | None = None,
    ) -> None:
        self.config = config
        self.on_message = on_message
        self.on_connection_closed = on_connection_closed
        self.on_unreachable = on_unreachable
        self._udp_errors: ErrorQueue | None = None
        self._family = _family(config.host)
        self._udp: Any = None
        self._listeners: dict[str, Any] = {}
        self._local: dict[str, TransportAddress] = {}
        self._greenlets: list[gevent.Greenlet] = []
        self._connections: dict[int, Connection] = {}
        self._by_key: dict[_ConnectionKey, Connection] = {}
        self._connecting: dict[_ConnectionKey, gevent.event.AsyncResult] = {}
        self._next_id = 1
        self._budget = BufferBudget(config.max_buffered_bytes)
        self._inbound: Counter[str] = Counter()  # peers' connections by IP, handshakes included
        self._handshaking = 0  # TLS handshakes with peers in progress
        self._refusals_logged: dict[str, tuple[float, int]] = {}  # host: (logged at, since)
        self._server_tls: Any = None
        self._client_tls: Any = None
        self.running = False

    # -- life cycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Bind every configured listener (raises OSError if a port is taken)."""
        config = self.config
        try:
            if config.udp_port is not None:
                sock = gsocket.socket(self._family, socket.SOCK_DGRAM)
                sock.bind((config.host, config.udp_port))
                self._udp = sock
                self._udp_errors = ErrorQueue.enable(sock, self._family)
                self._local["UDP"] = self._address(sock, "UDP")
                self._greenlets.append(gevent.spawn(self._udp_loop, sock))
            if config.tls_port is not None:
                self._server_tls = server_context(config.tls)
            for transport, port in (("TCP", config.tcp_port), ("TLS", config.tls_port)):
                if port is None:
                    continue
                sock = gsocket.socket(self._family, socket.SOCK_STREAM)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind((config.host, port))
                sock.listen(128)
                self._listeners[transport] = sock
                self._local[transport] = self._address(sock, transport)
                self._greenlets.append(gevent.spawn(self._accept_loop, sock, transport))
        except BaseException:
            self.stop()
            raise
        self._greenlets.append(gevent.spawn(self._maintenance_loop))
        self.running = True

    def stop(self) -> None:
        self.running = False
        for connection in list(self._connections.values()):
            connection.close("transport stopped")
        gevent.killall(self._greenlets, block=True)
        self._greenlets.clear()
        for sock in [self._udp, *self._listeners.values()]:
            if sock is not None:
                sock.close()
        self._udp = None
        if self._udp_errors is not None:
            self._udp_errors.close()
            self._udp_errors = None
        self._listeners.clear()

    def _address(self, sock: Any, transport: str) -> TransportAddress:
        host, port = sock.getsockname()[:2]
        return TransportAddress(host, port, transport)

    @property
    def local_addresses(self) -> dict[str, TransportAddress]:
        """The bound address of each listening transport (actual ports, after port 0)."""
        return dict(self._local)

    @property
    def ports(self) -> dict[str, int]:
        return {name: address.port for name, address in self._local.items()}

    # -- sending ----------------------------------------------------------------------------

    def send(
        self,
        message: SIPMessage | bytes,
        target: AddressLike,
        *,
        connection_id: int | None = None,
        server_name: str | None = None,
    ) -> int | None:
        """Send to `target`; returns the connection used (None for UDP).

        TCP/TLS use ``connection_id`` when it is still open, else an open
        connection to the same peer, else a new one. ``server_name`` is the
        name a TLS server must prove (default: ``destination.host``).
        Raises `TransportError` with the reason on failure.
        """
        destination = TransportAddress.of(target)
        data = message if isinstance(message, bytes) else bytes(message)
        if destination.transport == "UDP":
            self._send_udp(data, destination)
            return None
        if destination.transport not in ("TCP", "TLS"):
            raise TransportError(destination, f"unsupported transport {destination.transport}")
        connection = self._connections.get(connection_id) if connection_id is not None else None
        if connection is None or connection.is_closed:
            connection = self._connection_to(destination, server_name)
        try:
            connection.send(data)
        except TransportError:
            # A reused connection the peer has dropped without our noticing yet:
            # one fresh attempt (the failed one is closed and forgotten by now).
            connection = self._connection_to(destination, server_name)
            connection.send(data)
        return connection.id

    def send_response(
        self, response: SIPResponse, *, connection_id: int | None = None
    ) -> int | None:
        """Send a response per RFC 3261 18.2.2: on the request's connection while it is open,
        else to the Via's received/rport (UDP) or received/sent-by (TCP/TLS)."""
        if connection_id is not None:
            connection = self._connections.get(connection_id)
            if connection is not None and not connection.is_closed:
                try:
                    connection.send(bytes(response))
                    return connection.id
                except TransportError:
                    pass  # fall back to a new connection, as 18.2.2 allows
        try:
            destination = response_destination(response)
        except SIPParseError as exc:
            raise TransportError(TransportAddress("", 0), str(exc)) from None
        return self.send(response, destination)

    def connection_to(
        self, target: AddressLike, server_name: str | None = None
    ) -> int | None:
        """The id of an open connection to `target` (None if there is none)."""
        destination = TransportAddress.of(target)
        try:
            key = self._key(destination, server_name, resolve=False)
        except TransportError:
            return None
        connection = self._find(key)
        return connection.id if connection is not None else None

    def close_connection(self, connection_id: int) -> None:
        connection = self._connections.get(connection_id)
        if connection is not None:
            connection.close("closed locally")

    @property
    def connections(self) -> dict[int, TransportAddress]:
        return {cid: c.remote for cid, c in self._connections.items()}

    def _resolve(self, destination: TransportAddress, kind: int) -> tuple[str, int]:
        host = destination.host
        if _is_ip(host):
            return _normal_ip(host), destination.port
        try:
            infos = gsocket.getaddrinfo(host, destination.port, self._family, kind)
        except OSError as exc:
            raise TransportError(destination, f"cannot resolve {host!r}: {exc}") from None
        if not infos:
            raise TransportError(destination, f"cannot resolve {host!r}")
        address = infos[0][4]
        return _normal_ip(address[0]), address[1]

    def _send_udp(self, data: bytes, destination: TransportAddress) -> None:
        if self._udp is None:
            raise TransportError(destination, "UDP is not enabled")
        address = self._resolve(destination, socket.SOCK_DGRAM)
        for attempt in range(3):
            try:
                self._udp.sendto(data, address)
                return
            except OSError as exc:
                if self._udp_errors is None:
                    raise TransportError(destination, f"send failed: {exc}") from None
                # Maybe an ICMP error of an earlier datagram, reported here instead of
                # the send: read the queue (reported once this greenlet yields, so that
                # the caller's state is not changed under it), then send again.
                drained = self._udp_errors.drain()
                if drained.unreachable:
                    gevent.spawn(self._report_unreachable, drained.unreachable)
                if attempt == 2 or not (drained.count or exc.errno in PENDING):
                    raise TransportError(destination, f"send failed: {exc}") from None

    def _key(
        self, destination: TransportAddress, server_name: str | None, *, resolve: bool = True
    ) -> _ConnectionKey:
        if resolve:
            host, port = self._resolve(destination, socket.SOCK_STREAM)
        elif _is_ip(destination.host):
            host, port = _normal_ip(destination.host), destination.port
        else:
            raise TransportError(destination, "not an IP address")
        name = (server_name or destination.host) if destination.transport == "TLS" else ""
        return (destination.transport, host, port, name)

    def _find(self, key: _ConnectionKey) -> Connection | None:
        connection = self._by_key.get(key)
        if connection is None or connection.is_closed:
            # A connection the peer opened from exactly that address is the peer itself
            # (18.2.2: a destination naming a request's source means its connection).
            connection = self._by_key.get((key[0], key[1], key[2], ""))
        return connection if connection is not None and not connection.is_closed else None

    def _connection_to(
        self, destination: TransportAddress, server_name: str | None
    ) -> Connection:
        key = self._key(destination, server_name)
        connection = self._find(key)
        if connection is not None:
            return connection
        pending = self._connecting.get(key)
        if pending is not None:  # another greenlet is connecting there: share its result
            result = pending.get(timeout=self.config.connect_timeout + 1)
            assert isinstance(result, Connection)
            return result
        pending = gevent.event.AsyncResult()
        self._connecting[key] = pending
        try:
            connection = self._connect(destination, key)
        except TransportError as exc:
            pending.set_exception(exc)
            raise
        finally:
            del self._connecting[key]
        pending.set(connection)
        return connection

    def _connect(self, destination: TransportAddress, key: _ConnectionKey) -> Connection:
        transport, host, port, server_name = key
        if transport == "TLS" and self.config.tls.unavailable is not None:
            raise TransportError(destination, f"TLS is off: {self.config.tls.unavailable}")
        timeout = self.config.connect_timeout
        sock = gsocket.socket(_family(host), socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            local = self.config.host
            if _is_ip(local) and not ipaddress.ip_address(local).is_unspecified and (
                _family(local) == _family(host)
            ):
                sock.bind((local, 0))  # so that our Via host is the source the peer sees
            sock.connect((host, port))
        except OSError as exc:
            sock.close()
            raise TransportError(destination, f"connect failed: {exc}") from None
        if transport == "TLS":
            sock = self._client_handshake(sock, destination, server_name)
        sock.settimeout(None)
        return self._add_connection(sock, TransportAddress(host, port, transport), True, key[3])

    def _client_handshake(self, sock: Any, destination: TransportAddress, name: str) -> Any:
        if self._client_tls is None:
            self._client_tls = client_context(self.config.tls)
        try:
            tls = self._client_tls.wrap_socket(
                sock, server_hostname=name, do_handshake_on_connect=False
            )
            tls.settimeout(self.config.tls.handshake_timeout)
            tls.do_handshake()
        except (OSError, ValueError) as exc:
            sock.close()
            reason = describe_tls_error(exc)
            log.warning("TLS to %s (%s) failed: %s", destination, name, reason)
            raise TransportError(destination, reason) from None
        return tls

    def _add_connection(
        self, sock: Any, remote: TransportAddress, outbound: bool, server_name: str = ""
    ) -> Connection:
        connection = Connection(
            self._next_id, sock, remote, outbound=outbound, limits=self.config.limits,
            deliver=self._deliver_stream, closed=self._connection_closed,
            server_name=server_name, budget=self._budget,
        )
        self._next_id += 1
        self._connections[connection.id] = connection
        # The newest connection to a peer wins reuse; inbound ones count too (18.2.2).
        self._by_key[connection.key] = connection
        connection.start()
        return connection

    def _connection_closed(self, connection: Connection, reason: str) -> None:
        self._connections.pop(connection.id, None)
        if not connection.outbound:
            self._release(connection.remote.host)
        if self._by_key.get(connection.key) is connection:
            del self._by_key[connection.key]
        log.debug("connection %d to %s closed: %s", connection.id, connection.remote, reason)
        if self.on_connection_closed is not None:
            try:
                self.on_connection_closed(connection.id, connection.remote, reason)
            except Exception:
                log.exception("on_connection_closed failed")

    # -- receiving --------------------------------------------------------------------------

    def _dispatch(self, message: SIPMessage, source: TransportAddress, cid: int | None) -> None:
        if isinstance(message, SIPRequest):
            message = stamp_received(message, source)
        try:
            self.on_message(message, source, cid)
        except Exception:
            log.exception("on_message failed for a message from %s", source)

    def _deliver_stream(self, message: SIPMessage, connection: Connection) -> None:
        self._dispatch(message, connection.remote, connection.id)

    def _udp_loop(self, sock: Any) -> None:
        while True:
            try:
                data, address = sock.recvfrom(65535)
            except OSError as exc:
                if self._udp_errors is not None:
                    # an error of the queue: read it, or the socket stays readable
                    drained = self._udp_errors.drain()
                    self._report_unreachable(drained.unreachable)
                    if drained.count or exc.errno in PENDING:
                        continue
                log.warning("UDP receive failed: %s", exc)
                gevent.sleep(0.01)
                continue
            source = TransportAddress(address[0], address[1], "UDP")
            self._handle_datagram(data, source)

    def _report_unreachable(self, found: tuple[Unreachable, ...]) -> None:
        for item in found:
            try:
                address = TransportAddress(_normal_ip(item.host), item.port, "UDP")
            except ValueError:
                continue
            log.info("UDP to %s: %s", address, item.reason)
            if self.on_unreachable is None:
                continue
            try:
                self.on_unreachable(address, item.reason)
            except Exception:
                log.exception("on_unreachable failed")

    def _handle_datagram(self, data: bytes, source: TransportAddress) -> None:
        if not data.strip(b"\r\n\x00"):
            return  # keep-alive noise
        try:
            message = parse_message(data, limits=self.config.limits)
        except SIPParseError as exc:
            answer = error_response(exc)
            log.warning(
                "bad datagram from %s: %s (%s)", source, exc,
                "answered" if answer is not None else "dropped",
            )
            if answer is not None:
                try:
                    self._send_udp(answer, source)
                except TransportError as error:
                    log.info("could not answer %s: %s", source, error.reason)
            return
        self._dispatch(message, source, None)

    def _accept_loop(self, listener: Any, transport: str) -> None:
        while True:
            try:
                sock, address = listener.accept()
            except OSError as exc:
                log.warning("%s accept failed: %s", transport, exc)
                gevent.sleep(0.05)
                continue
            remote = TransportAddress(_normal_ip(address[0]), address[1], transport)
            refused = self._refusal(remote.host)
            if refused is not None:
                sock.close()
                self._log_refusal(transport, remote, refused)
                continue
            self._inbound[remote.host] += 1
            if transport == "TLS":
                gevent.spawn(self._server_handshake, sock, remote)
            else:
                self._add_connection(sock, remote, False)

    def _server_handshake(self, sock: Any, remote: TransportAddress) -> None:
        self._handshaking += 1
        try:
            tls = self._server_tls.wrap_socket(
                sock, server_side=True, do_handshake_on_connect=False
            )
            tls.settimeout(self.config.tls.handshake_timeout)
            tls.do_handshake()
            tls.settimeout(None)
        except (OSError, ValueError) as exc:
            log.warning("TLS from %s failed: %s", remote, describe_tls_error(exc))
            sock.close()
            self._release(remote.host)
            return
        finally:
            self._handshaking -= 1
        self._add_connection(tls, remote, False)

    def _refusal(self, host: str) -> str | None:
        """Why a new connection from `host` is refused (None: it is accepted)."""
        config = self.config
        if len(self._connections) + self._handshaking >= config.max_connections:
            return f"{config.max_connections} connections open"
        if self._inbound[host] >= config.max_connections_per_address:
            return f"{config.max_connections_per_address} connections open from that address"
        return None

    def _log_refusal(self, transport: str, remote: TransportAddress, reason: str) -> None:
        """A line per address and second at most: a flood must not flood the log too."""
        now = time.monotonic()
        last, skipped = self._refusals_logged.get(remote.host, (0.0, 0))
        if now - last < 1.0:
            self._refusals_logged[remote.host] = (last, skipped + 1)
            return
        more = f" ({skipped} more refused since)" if skipped else ""
        log.warning("refusing a %s connection from %s: %s%s", transport, remote, reason, more)
        if len(self._refusals_logged) > 1024:  # bounded: forget the old entries
            self._refusals_logged.clear()
        self._refusals_logged[remote.host] = (now, 0)

    def _release(self, host: str) -> None:
        self._inbound[host] -= 1
        if self._inbound[host] <= 0:
            del self._inbound[host]

    def _maintenance_loop(self) -> None:
        """Close idle connections and those from an address the host no longer has;
        ping quiet outbound ones (RFC 5626 CRLF keep-alive)."""
        config = self.config
        tick = min(1.0, config.idle_timeout / 4, config.message_timeout / 4)
        if config.keepalive_interval is not None:
            tick = min(tick, config.keepalive_interval / 2)
        while True:
            gevent.sleep(tick)
            now = time.monotonic()
            for connection in list(self._connections.values()):
                quiet = now - connection.last_activity
                started = connection.message_started
                if started is not None and now - started > config.message_timeout:
                    log.warning("closing the connection with %s: a message not received "
                                "in full within %g s", connection.remote, config.message_timeout)
                    connection.close("message too slow")
                elif quiet > config.idle_timeout:
                    log.info("closing idle connection to %s", connection.remote)
                    connection.close("idle")
                elif (
                    connection.outbound
                    and config.keepalive_interval is not None
                    and min(quiet, now - connection.last_ping) > config.keepalive_interval
                ):
                    with contextlib.suppress(TransportError):
                        connection.send(b"\r\n\r\n", ping=True)
            self._close_stale()

    def _close_stale(self) -> None:
        """Close the connections whose local address is gone (one bind per distinct
        address): on Linux nothing else ends them, and a request sent on one would
        wait for Timer B/F while a new connection would work."""
        connections = [(c, c.local_ip) for c in self._connections.values() if not c.is_closed]
        for connection, ip in stale(connections, address_gone):
            log.info("closing the connection with %s: local address %s is gone",
                     connection.remote, ip)
            connection.close(f"local address {ip} is gone")
