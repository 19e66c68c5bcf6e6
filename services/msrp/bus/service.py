"""MsrpService: MSRP sessions as objects of the clients that create them.

`create_session` makes an `Endpoint` with a path on the listener of the asked
address (one listener per local address, shared by all its sessions); the
client puts that path in its SDP, then `start_session` with the peer's path
and role. Events are ``msrp.<what>`` with ``session_id`` and ``client``.
A client that goes away loses its sessions (the service base's ownership).
With a certificate (`TLSSettings`: the environment, the stored configuration's
tls.* or `configure`) a session may be
``msrps``: its listener is a TLS one (one TLS and one TCP listener per address
at most); `create_session`'s ``tls`` None takes TLS whenever it can.
`set_trace` turns on, for the asking client, ``msrp.transport_traced`` (what
its sessions read and write) and ``msrp.log`` (the service's MSRP log lines,
while any client traces); a client that goes away stops tracing.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import secrets
import ssl
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

import gevent

from sipsimple.bus import endpoints
from sipsimple.bus.schema import ErrorCode
from sipsimple.directories import config_file
from sipsimple_services.common.paths import (
    FileDirectories,
    OutsideDirectoriesError,
    from_environment,
)
from sipsimple_services.common.service import Service, ServiceError
from sipsimple_services.common.stored import FileWatch, Layers, StoredConfig, watch
from sipsimple_services.common.tls import TLS_STORED_KEYS, read_stored
from sipsimple_services.msrp.bus.trace import LogPublisher, trace_text
from sipsimple_services.msrp.protocol.errors import MSRPError, MSRPParseError
from sipsimple_services.msrp.protocol.headers import parse_failure_report
from sipsimple_services.msrp.protocol.relay import RelayCredentials
from sipsimple_services.msrp.protocol.transactions import TIMEOUT
from sipsimple_services.msrp.protocol.uri import MSRPURI, parse_uri
from sipsimple_services.msrp.transport.endpoint import Endpoint
from sipsimple_services.msrp.transport.files import (
    PARTIAL_NAME,
    FileExpectation,
    find_partial,
    hash_file,
)
from sipsimple_services.msrp.transport.listener import Listener
from sipsimple_services.msrp.transport.splice import Splice, listen
from sipsimple_services.msrp.transport.tls import TLSSettings

__all__ = ["DIRECTORIES_ENV", "MsrpService"]

DIRECTORIES_ENV = "SIPSIMPLE_MSRP_DIRECTORIES"  # os.pathsep-separated

log = logging.getLogger("sipsimple.msrp")


STORED = StoredConfig(TLS_STORED_KEYS)


def _stored(path: Any) -> dict[str, Any] | None:
    """The stored TLS values as `configure` takes them (paths with ``~`` expanded)."""
    return read_stored(STORED, path)


class MsrpService(Service):
    name = "msrp"
    # hash_file reads a whole file (in a thread), and with a relay create_session
    # connects and AUTHs before it answers: other requests go on meanwhile
    blocking_methods: ClassVar[frozenset[str]] = frozenset({"hash_file", "create_session"})

    def __init__(self) -> None:
        super().__init__()
        # 0: an ephemeral port per address (the SDP carries it); 2855 is RFC 4975's
        self.port = int(os.environ.get("SIPSIMPLE_MSRP_PORT", "0"))
        # how long a request waits for its response before a local 408 (30 s,
        # msrplib's and RFC 4975's suggestion); shorter for tests of silent peers
        self.response_timeout = float(os.environ.get("SIPSIMPLE_MSRP_RESPONSE_TIMEOUT",
                                                     str(TIMEOUT)))
        self.config_watch = FileWatch(config_file())  # before the first read
        self.layers = Layers(TLSSettings.env_values(os.environ),
                             _stored(self.config_watch.path) or {})
        self.tls_error: str | None = None  # why TLS is off, when its settings do not load
        self.tls = self._checked(TLSSettings.from_values(self.layers.values()))
        self._watcher: Any = None
        self._client_context: ssl.SSLContext | None = None
        self.listeners: dict[tuple[str, bool], Listener] = {}  # (address, tls) ->
        self.endpoints: dict[str, tuple[str, Endpoint]] = {}  # session id -> (client, endpoint)
        # Files are read and written only inside these (common/paths.py): the state
        # directory, SIPSIMPLE_MSRP_DIRECTORIES, and each client's `configure`d ones.
        self.directories = FileDirectories(
            [endpoints.state_dir(), *from_environment(os.environ.get(DIRECTORIES_ENV))],
            "file transfers",
            f"the application configures them (msrp configure), or {DIRECTORIES_ENV}")
        self.tracing: set[str] = set()  # clients that asked for the trace
        self._log_publisher: LogPublisher | None = None
        # desktop sharing: sockets a VNC viewer will connect to, until a session takes one
        self.splice_listeners: dict[str, tuple[str, Any]] = {}  # id -> (client, socket)

    def on_start(self) -> None:
        self._watcher = watch(self.config_watch, self._stored_changed)

    def on_stop(self) -> None:
        if self._watcher is not None:
            self._watcher.kill(block=False)
        for listener in self.listeners.values():
            listener.close()
        self._trace_logs(False)
        for _, sock in self.splice_listeners.values():
            sock.close()

    # --- TLS settings --------------------------------------------------------------

    def _checked(self, settings: TLSSettings) -> TLSSettings:
        """`settings`, or no TLS (with the reason) when its files do not load.

        A bad CA file or a certificate without its key must not stop the
        service: plain MSRP goes on, msrps is refused with the reason.
        """
        problem = settings.problem()
        if problem is not None and problem != self.tls_error:
            log.error("MSRP over TLS is off: %s", problem)
        self.tls_error = problem
        return settings if problem is None else TLSSettings(unavailable=problem)

    def _set_tls(self, settings: TLSSettings) -> None:
        """New TLS settings for new connections and listeners; ``msrp.tls_changed`` if
        whether (or why) TLS is off changed.

        A listener already open keeps its certificate: sessions wait on it.
        """
        before = self.tls_error
        checked = self._checked(settings)
        if checked != self.tls:
            self.tls, self._client_context = checked, None
        if self.tls_error != before:
            self.publish("msrp.tls_changed", self.name, {"tls_error": self.tls_error})

    def _stored_changed(self) -> None:
        stored = _stored(self.config_watch.path)
        if stored is not None and self.layers.set_stored(stored):
            self._tls_layers_changed()

    def _tls_layers_changed(self) -> None:
        try:
            self._set_tls(TLSSettings.from_values(self.layers.values()))
        except ValueError as exc:
            log.error("keeping the TLS settings: %s", exc)

    def rpc_configure(self, client: str, directories: list[Any] | None = None,
                      **tls: Any) -> dict[str, Any]:
        """The directories this client's transfers may read files from and write
        files into (besides the fixed ones; they replace those it sent before),
        and the TLS settings (None keeps a value)."""
        changes = {name: value for name, value in tls.items() if value is not None}
        try:
            settings = TLSSettings.from_values(self.layers.values(changes))
            if directories is not None:
                self.directories.configure(directories, client)
        except ValueError as exc:
            raise ServiceError(ErrorCode.INVALID_PARAMS, str(exc)) from None
        if directories is not None:
            self.own(client, "directories", lambda: self.directories.forget(client))
        self._set_tls(settings)
        if changes:
            self.layers.override(client, changes)
            self.own(client, "settings", lambda: self._overrides_gone(client))
        return {"directories": [str(path) for path in self.directories.allowed(client)],
                "tls": self.tls.can_serve, "tls_error": self.tls_error}

    def _overrides_gone(self, client: str) -> None:
        if self.layers.drop_client(client):
            self._tls_layers_changed()

    # --- methods -----------------------------------------------------------------

    def rpc_create_session(self, client: str, address: str, tls: bool | None = None,
                           relay: dict[str, Any] | None = None) -> dict[str, Any]:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            raise ServiceError(ErrorCode.INVALID_PARAMS,
                               f"not an IP address: {address!r}") from None
        if tls is None:
            tls = self.tls.can_serve
        elif tls and not self.tls.can_serve:
            raise ServiceError(ErrorCode.FAILED, f"msrps is off: {self.tls_error}"
                               if self.tls_error is not None else
                               "msrps needs a certificate: the msrp service has none "
                               "(tls.certificate, SIPSIMPLE_MSRP_TLS_CERTIFICATE)")
        listener = self._listener(str(ip), tls)
        session_id = secrets.token_hex(10)
        host = f"[{ip}]" if ip.version == 6 else str(ip)
        uri = MSRPURI(host, listener.port, session_id, secure=tls)

        def emit(what: str, data: dict[str, Any]) -> None:
            self.publish(f"msrp.{what}", self.name,
                         {"session_id": session_id, "client": client, **data})

        def gone() -> None:
            self.endpoints.pop(session_id, None)
            self.disown(client, session_id)

        endpoint = Endpoint(uri, emit, gone, self._tls_client, self.response_timeout)
        if client in self.tracing:
            endpoint.trace = self._tracer(client, session_id)
        if relay is not None:
            relay_uri, credentials, tls_name = _relay(relay)
            try:
                endpoint.connect_relay(relay_uri, credentials, tls_name)
            except ConnectionError as exc:
                raise ServiceError(ErrorCode.FAILED, str(exc)) from None
        self.endpoints[session_id] = (client, endpoint)
        self.own(client, session_id, lambda: endpoint.end("the client went away"))
        path = " ".join(str(hop) for hop in (*endpoint.use_path, uri))
        return {"session_id": session_id, "path": path, "address": str(ip),
                "port": listener.port, "tls": tls}

    def rpc_start_session(self, client: str, session_id: str, remote_path: list[Any],
                          active: bool, accept_types: list[Any] | None = None) -> None:
        endpoint = self._endpoint(client, session_id)
        try:
            path = tuple(parse_uri(str(uri)) for uri in remote_path)
        except MSRPParseError as exc:
            raise ServiceError(ErrorCode.INVALID_PARAMS, f"invalid remote path: {exc}") from None
        if not path:
            raise ServiceError(ErrorCode.INVALID_PARAMS, "the remote path is empty")
        types = [str(t) for t in accept_types] if accept_types else ["*"]
        try:
            endpoint.start(path, active, types)
        except RuntimeError as exc:
            raise ServiceError(ErrorCode.FAILED, str(exc)) from None

    def rpc_send_message(self, client: str, session_id: str, content_type: str, body: bytes,
                         message_id: str | None = None, success_report: bool = False,
                         failure_report: str = "yes") -> dict[str, Any]:
        endpoint = self._endpoint(client, session_id)
        try:
            report = parse_failure_report(failure_report)
        except MSRPParseError as exc:
            raise ServiceError(ErrorCode.INVALID_PARAMS, str(exc)) from None
        try:
            message_id = endpoint.send_message(content_type, body, message_id, success_report,
                                               report)
        except (RuntimeError, ValueError) as exc:  # MSRPError is a ValueError
            raise ServiceError(ErrorCode.FAILED, str(exc)) from None
        return {"message_id": message_id}

    def rpc_send_nickname(self, client: str, session_id: str, nickname: str,
                          transaction_id: str | None = None) -> dict[str, Any]:
        """A NICKNAME (RFC 7701); ``msrp.nickname_answered`` names the transaction."""
        endpoint = self._endpoint(client, session_id)
        try:
            transaction_id = endpoint.send_nickname(nickname, transaction_id)
        except (ValueError, MSRPError) as exc:  # a nickname or id that cannot be sent
            raise ServiceError(ErrorCode.INVALID_PARAMS, str(exc)) from None
        except RuntimeError as exc:
            raise ServiceError(ErrorCode.FAILED, str(exc)) from None
        return {"transaction_id": transaction_id}

    def rpc_answer_nickname(self, client: str, session_id: str, transaction_id: str,
                            code: int, reason: str | None = None) -> None:
        """Answer the peer's NICKNAME (``msrp.nickname_received``): 200, 403, 424, 425..."""
        endpoint = self._endpoint(client, session_id)
        if not 200 <= code <= 699 or (reason is not None and any(c in reason for c in "\r\n")):
            raise ServiceError(ErrorCode.INVALID_PARAMS, f"cannot answer {code} {reason!r}")
        try:
            endpoint.answer_nickname(transaction_id, code, reason)
        except MSRPError as exc:
            raise ServiceError(ErrorCode.NOT_FOUND, str(exc)) from None
        except RuntimeError as exc:
            raise ServiceError(ErrorCode.FAILED, str(exc)) from None

    def rpc_hash_file(self, client: str, path: str) -> dict[str, Any]:
        """{size, hash (SHA-1 bytes), name}: what the sender's file-selector says
        (RFC 5547: the sender hashes before it offers). Read in a thread, so the
        service goes on meanwhile."""
        path = self._confine(client, path)
        try:
            size, digest = gevent.get_hub().threadpool.apply(hash_file, (path,))
        except OSError as exc:
            raise ServiceError(ErrorCode.FAILED, f"cannot read {path}: {exc}") from None
        return {"size": size, "hash": digest, "name": os.path.basename(path)}

    def rpc_send_file(self, client: str, session_id: str, path: str,
                      content_type: str = "application/octet-stream",
                      message_id: str | None = None, offset: int = 0) -> dict[str, Any]:
        endpoint = self._endpoint(client, session_id)
        path = self._confine(client, path)
        try:
            message_id = endpoint.send_file(path, content_type, message_id, offset)
        except OSError as exc:
            raise ServiceError(ErrorCode.FAILED, f"cannot read {path}: {exc}") from None
        except (RuntimeError, ValueError) as exc:
            raise ServiceError(ErrorCode.FAILED, str(exc)) from None
        return {"message_id": message_id}

    def rpc_receive_file(self, client: str, session_id: str, directory: str, name: str,
                         size: int | None = None, hash: bytes | None = None,
                         content_type: str = "*", partial: str | None = None,
                         content: bool = False) -> None:
        endpoint = self._endpoint(client, session_id)
        directory = self._confine(client, directory, directory=True)
        if not os.path.isdir(directory):
            raise ServiceError(ErrorCode.INVALID_PARAMS, f"{directory} is not a directory")
        if (size is not None and size < 0) or (hash is not None and len(hash) != 20):
            raise ServiceError(ErrorCode.INVALID_PARAMS, "bad size or SHA-1 digest")
        if partial is not None:
            # Only a partial file this service made, in that directory (file_failed's).
            partial = _file_path(partial)
            if os.path.dirname(partial) != directory or not PARTIAL_NAME.fullmatch(
                    os.path.basename(partial)) or not os.path.isfile(partial):
                raise ServiceError(ErrorCode.INVALID_PARAMS,
                                   f"{partial} is not a partial file of {directory}")
        endpoint.expect_file(FileExpectation(directory, name, size, hash, partial, content),
                             content_type)

    def rpc_find_partial(self, client: str, directory: str, size: int,
                         hash: bytes) -> dict[str, Any]:
        """{partial, received}: the part of the file (`size`, SHA-1 `hash`) an
        interrupted transfer kept in `directory` (None, 0: none), which
        `receive_file(partial=...)` continues (RFC 5547 8.2)."""
        directory = self._confine(client, directory, directory=True)
        if size < 0 or len(hash) != 20:
            raise ServiceError(ErrorCode.INVALID_PARAMS, "bad size or SHA-1 digest")
        found = find_partial(directory, size, hash)
        partial, received = found if found is not None else (None, 0)
        return {"partial": partial, "received": received}

    # --- desktop sharing (transport/splice.py) ----------------------------------------

    def rpc_splice_listen(self, client: str, address: str, port: int = 0) -> dict[str, Any]:
        """A socket for one VNC viewer, until `splice_session` takes it or `splice_close`."""
        if not 0 <= port <= 65535:
            raise ServiceError(ErrorCode.INVALID_PARAMS, f"bad port {port}")
        try:
            sock = listen(address, port)
        except OSError as exc:
            raise ServiceError(ErrorCode.FAILED,
                               f"cannot listen on {address}:{port}: {exc}") from None
        listener_id = secrets.token_hex(8)
        self.splice_listeners[listener_id] = (client, sock)
        self.own(client, listener_id, lambda: self._close_splice_listener(listener_id))
        host, bound = sock.getsockname()[:2]
        return {"listener_id": listener_id, "address": host, "port": bound}

    def rpc_splice_close(self, client: str, listener_id: str) -> None:
        found = self.splice_listeners.get(listener_id)
        if found is None or found[0] != client:
            raise ServiceError(ErrorCode.NOT_FOUND, f"no VNC listener {listener_id}")
        self._close_splice_listener(listener_id)
        self.disown(client, listener_id)

    def rpc_splice_session(self, client: str, session_id: str, mode: str,
                           connect_timeout: float | int = 3.0, listener_id: str | None = None,
                           host: str | None = None, port: int | None = None) -> None:
        """The session's RFB bytes go to a VNC viewer (`mode` viewer: the one that connects
        to `listener_id`) or a VNC server (`mode` server: at `host`:`port`), never over
        the bus; the TCP side is made once the MSRP session is connected, within
        `connect_timeout` seconds."""
        endpoint = self._endpoint(client, session_id)
        if not 0 < connect_timeout <= 3600:
            raise ServiceError(ErrorCode.INVALID_PARAMS, f"bad connect_timeout {connect_timeout}")
        if mode == "viewer":
            found = self.splice_listeners.get(listener_id or "")
            if found is None or found[0] != client:
                raise ServiceError(ErrorCode.NOT_FOUND, f"no VNC listener {listener_id}")
            splice = Splice("viewer", float(connect_timeout), listener=found[1])
        elif mode == "server":
            if not host or port is None or not 0 < port <= 65535:
                raise ServiceError(ErrorCode.INVALID_PARAMS, "a server splice needs host and port")
            splice = Splice("server", float(connect_timeout), target=(host, port))
        else:
            raise ServiceError(ErrorCode.INVALID_PARAMS, f"mode is viewer or server, not {mode!r}")
        try:
            endpoint.attach_splice(splice)
        except RuntimeError as exc:
            raise ServiceError(ErrorCode.FAILED, str(exc)) from None
        if listener_id is not None and mode == "viewer":
            del self.splice_listeners[listener_id]  # the session's now: closed with it
            self.disown(client, listener_id)

    def rpc_end_session(self, client: str, session_id: str) -> None:
        self._endpoint(client, session_id).end("ended by the client")

    def rpc_set_trace(self, client: str, enabled: bool) -> dict[str, Any]:
        """Trace this client's sessions (``msrp.transport_traced``) and the service's
        MSRP log (``msrp.log``), or stop."""
        if enabled:
            self.tracing.add(client)
            self.own(client, "trace", lambda: self._stop_tracing(client))
        else:
            self.disown(client, "trace")
            self.tracing.discard(client)
        for session_id, (owner, endpoint) in self.endpoints.items():
            if owner == client:
                endpoint.trace = self._tracer(client, session_id) if enabled else None
        self._trace_logs(bool(self.tracing))
        return {"enabled": enabled}

    def _stop_tracing(self, client: str) -> None:
        self.tracing.discard(client)
        self._trace_logs(bool(self.tracing))

    def _tracer(self, client: str, session_id: str) -> Callable[[str, Iterable[Any]], None]:
        def trace(direction: str, parts: Iterable[Any]) -> None:
            self.publish("msrp.transport_traced", self.name, {
                "session_id": session_id, "client": client, "direction": direction,
                "data": trace_text(parts)})
        return trace

    def _trace_logs(self, enabled: bool) -> None:
        logger = logging.getLogger("sipsimple.msrp")
        if enabled and self._log_publisher is None:
            def publish(level: str, message: str) -> None:
                self.publish("msrp.log", self.name, {"session_id": None, "client": None,
                                                     "level": level, "message": message})
            self._log_publisher = LogPublisher(publish)
            logger.addHandler(self._log_publisher)
        elif not enabled and self._log_publisher is not None:
            logger.removeHandler(self._log_publisher)
            self._log_publisher = None

    def counts(self) -> dict[str, int]:
        return {"sessions": len(self.endpoints), "listeners": len(self.listeners),
                "splice_listeners": len(self.splice_listeners)}

    def rpc_status(self, client: str) -> dict[str, Any]:
        return {
            "listeners": [{"address": a, "port": li.port, "tls": tls}
                          for (a, tls), li in self.listeners.items()],
            "tls": self.tls.can_serve,
            "tls_error": self.tls_error,
            "splice_listeners": len(self.splice_listeners),
            "sessions": [{"session_id": sid, "client": owner, "path": str(ep.local_uri),
                          "state": ep.state, "active": ep.active,
                          "splice": ep.splice.state if ep.splice is not None else None}
                         for sid, (owner, ep) in self.endpoints.items()],
        }

    # --- helpers -----------------------------------------------------------------

    def _listener(self, address: str, tls: bool) -> Listener:
        listener = self.listeners.get((address, tls))
        if listener is None:
            # SIPSIMPLE_MSRP_PORT goes to the first listener of an address, the other
            # (TCP or TLS) takes an ephemeral port
            port = 0 if (address, not tls) in self.listeners else self.port
            try:
                context = self.tls.server_context() if tls else None
                listener = Listener(address, port, self._lookup, context)
            except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
                raise ServiceError(ErrorCode.FAILED,
                                   f"cannot listen on {address}:{port}: {exc}") from None
            self.listeners[(address, tls)] = listener
            log.info("listening for %s on %s:%d", "msrps" if tls else "MSRP", address,
                     listener.port)
        return listener

    def _confine(self, client: str, path: str, directory: bool = False) -> str:
        """The real path, if inside the client's directories (else forbidden)."""
        _file_path(path)  # a relative path is invalid before it is outside
        try:
            if directory:
                return self.directories.confine_directory(path, client)
            return self.directories.confine(path, client)
        except OutsideDirectoriesError as exc:
            raise ServiceError(ErrorCode.FORBIDDEN, str(exc)) from None

    def _close_splice_listener(self, listener_id: str) -> None:
        found = self.splice_listeners.pop(listener_id, None)
        if found is not None:
            found[1].close()

    def _tls_client(self) -> ssl.SSLContext:
        """The context of outgoing msrps connections, made once (verification on)."""
        if self._client_context is None:
            self._client_context = self.tls.client_context()
        return self._client_context

    def _lookup(self, session_id: str) -> Endpoint | None:
        found = self.endpoints.get(session_id)
        return found[1] if found is not None else None

    def _endpoint(self, client: str, session_id: str) -> Endpoint:
        found = self.endpoints.get(session_id)
        if found is None or found[0] != client:
            raise ServiceError(ErrorCode.NOT_FOUND, f"no MSRP session {session_id}")
        return found[1]



def _file_path(path: str) -> str:
    if not os.path.isabs(path):
        raise ServiceError(ErrorCode.INVALID_PARAMS, f"{path!r}: the path must be absolute")
    return os.path.realpath(path)


def _relay(relay: dict[str, Any]) -> tuple[MSRPURI, RelayCredentials, str | None]:
    """``{"uri", "username", "password", "tls_name"?}``: the relay, our credentials there
    and, for an msrps relay found by DNS (its URI an address), the name its
    certificate must carry (by default the URI's host)."""
    unknown = sorted(set(relay) - {"uri", "username", "password", "tls_name"})
    if unknown:
        raise ServiceError(ErrorCode.INVALID_PARAMS, f"relay: unknown keys {unknown}")
    values = [relay.get(key) for key in ("uri", "username", "password")]
    if not all(isinstance(value, str) and value for value in values):
        raise ServiceError(ErrorCode.INVALID_PARAMS,
                           "relay needs uri, username and password (strings)")
    tls_name = relay.get("tls_name")
    if tls_name is not None and not (isinstance(tls_name, str) and tls_name):
        raise ServiceError(ErrorCode.INVALID_PARAMS, "relay: tls_name must be a name")
    try:
        uri = parse_uri(str(values[0]))
    except MSRPParseError as exc:
        raise ServiceError(ErrorCode.INVALID_PARAMS, f"relay: {exc}") from None
    return uri, RelayCredentials(str(values[1]), str(values[2])), tls_name
