"""MsrpService: MSRP sessions as objects of the clients that create them.

`create_session` makes an `Endpoint` with a path on the listener of the asked
address (one listener per local address, shared by all its sessions); the
client puts that path in its SDP, then `start_session` with the peer's path
and role. Events are ``msrp.<what>`` with ``session_id`` and ``client``.
A client that goes away loses its sessions (the service base's ownership).
With a certificate (`TLSSettings`, from the environment) a session may be
``msrps``: its listener is a TLS one (one TLS and one TCP listener per address
at most); `create_session`'s ``tls`` None takes TLS whenever it can.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import secrets
import ssl
from typing import Any, ClassVar

import gevent

from sipsimple.bus.schema import ErrorCode
from sipsimple_services.common.service import Service, ServiceError
from sipsimple_services.msrp.protocol.errors import MSRPParseError
from sipsimple_services.msrp.protocol.headers import parse_failure_report
from sipsimple_services.msrp.protocol.relay import RelayCredentials
from sipsimple_services.msrp.protocol.uri import MSRPURI, parse_uri
from sipsimple_services.msrp.transport.endpoint import Endpoint
from sipsimple_services.msrp.transport.files import PARTIAL_NAME, FileExpectation, hash_file
from sipsimple_services.msrp.transport.listener import Listener
from sipsimple_services.msrp.transport.tls import TLSSettings

__all__ = ["MsrpService"]

log = logging.getLogger("sipsimple.msrp")


class MsrpService(Service):
    name = "msrp"
    # hash_file reads a whole file (in a thread), and with a relay create_session
    # connects and AUTHs before it answers: other requests go on meanwhile
    blocking_methods: ClassVar[frozenset[str]] = frozenset({"hash_file", "create_session"})

    def __init__(self) -> None:
        super().__init__()
        # 0: an ephemeral port per address (the SDP carries it); 2855 is RFC 4975's
        self.port = int(os.environ.get("SIPSIMPLE_MSRP_PORT", "0"))
        self.tls = TLSSettings.from_environment()
        self._client_context: ssl.SSLContext | None = None
        self.listeners: dict[tuple[str, bool], Listener] = {}  # (address, tls) ->
        self.endpoints: dict[str, tuple[str, Endpoint]] = {}  # session id -> (client, endpoint)

    def on_stop(self) -> None:
        for listener in self.listeners.values():
            listener.close()

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
            raise ServiceError(ErrorCode.FAILED, "msrps needs a certificate: the msrp service "
                                                 "has none (SIPSIMPLE_MSRP_TLS_CERTIFICATE)")
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

        endpoint = Endpoint(uri, emit, gone, self._tls_client)
        if relay is not None:
            relay_uri, credentials = _relay(relay)
            try:
                endpoint.connect_relay(relay_uri, credentials)
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

    def rpc_hash_file(self, client: str, path: str) -> dict[str, Any]:
        """{size, hash (SHA-1 bytes), name}: what the sender's file-selector says
        (RFC 5547: the sender hashes before it offers). Read in a thread, so the
        service goes on meanwhile."""
        path = _file_path(path)
        try:
            size, digest = gevent.get_hub().threadpool.apply(hash_file, (path,))
        except OSError as exc:
            raise ServiceError(ErrorCode.FAILED, f"cannot read {path}: {exc}") from None
        return {"size": size, "hash": digest, "name": os.path.basename(path)}

    def rpc_send_file(self, client: str, session_id: str, path: str,
                      content_type: str = "application/octet-stream",
                      message_id: str | None = None, offset: int = 0) -> dict[str, Any]:
        endpoint = self._endpoint(client, session_id)
        path = _file_path(path)
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
        directory = _file_path(directory)
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

    def rpc_end_session(self, client: str, session_id: str) -> None:
        self._endpoint(client, session_id).end("ended by the client")

    def counts(self) -> dict[str, int]:
        return {"sessions": len(self.endpoints), "listeners": len(self.listeners)}

    def rpc_status(self, client: str) -> dict[str, Any]:
        return {
            "listeners": [{"address": a, "port": li.port, "tls": tls}
                          for (a, tls), li in self.listeners.items()],
            "tls": self.tls.can_serve,
            "sessions": [{"session_id": sid, "client": owner, "path": str(ep.local_uri),
                          "state": ep.state, "active": ep.active}
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


def _relay(relay: dict[str, Any]) -> tuple[MSRPURI, RelayCredentials]:
    """``{"uri", "username", "password"}``: the relay and our credentials there."""
    unknown = sorted(set(relay) - {"uri", "username", "password"})
    if unknown:
        raise ServiceError(ErrorCode.INVALID_PARAMS, f"relay: unknown keys {unknown}")
    values = [relay.get(key) for key in ("uri", "username", "password")]
    if not all(isinstance(value, str) and value for value in values):
        raise ServiceError(ErrorCode.INVALID_PARAMS,
                           "relay needs uri, username and password (strings)")
    try:
        uri = parse_uri(str(values[0]))
    except MSRPParseError as exc:
        raise ServiceError(ErrorCode.INVALID_PARAMS, f"relay: {exc}") from None
    return uri, RelayCredentials(str(values[1]), str(values[2]))
