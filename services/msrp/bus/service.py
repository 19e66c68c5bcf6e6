"""MsrpService: MSRP sessions as objects of the clients that create them.

`create_session` makes an `Endpoint` with a path on the listener of the asked
address (one listener per local address, shared by all its sessions); the
client puts that path in its SDP, then `start_session` with the peer's path
and role. Events are ``msrp.<what>`` with ``session_id`` and ``client``.
A client that goes away loses its sessions (the service base's ownership).
"""

from __future__ import annotations

import ipaddress
import logging
import os
import secrets
from typing import Any, ClassVar

import gevent

from sipsimple.bus.schema import ErrorCode
from sipsimple_services.common.service import Service, ServiceError
from sipsimple_services.msrp.protocol.errors import MSRPParseError
from sipsimple_services.msrp.protocol.headers import parse_failure_report
from sipsimple_services.msrp.protocol.uri import MSRPURI, parse_uri
from sipsimple_services.msrp.transport.endpoint import Endpoint
from sipsimple_services.msrp.transport.files import PARTIAL_NAME, FileExpectation, hash_file
from sipsimple_services.msrp.transport.listener import Listener

__all__ = ["MsrpService"]

log = logging.getLogger("sipsimple.msrp")


class MsrpService(Service):
    name = "msrp"
    # hash_file reads a whole file (in a thread): other requests go on meanwhile
    blocking_methods: ClassVar[frozenset[str]] = frozenset({"hash_file"})

    def __init__(self) -> None:
        super().__init__()
        # 0: an ephemeral port per address (the SDP carries it); 2855 is RFC 4975's
        self.port = int(os.environ.get("SIPSIMPLE_MSRP_PORT", "0"))
        self.listeners: dict[str, Listener] = {}
        self.endpoints: dict[str, tuple[str, Endpoint]] = {}  # session id -> (client, endpoint)

    def on_stop(self) -> None:
        for listener in self.listeners.values():
            listener.close()

    # --- methods -----------------------------------------------------------------

    def rpc_create_session(self, client: str, address: str) -> dict[str, Any]:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            raise ServiceError(ErrorCode.INVALID_PARAMS,
                               f"not an IP address: {address!r}") from None
        listener = self._listener(str(ip))
        session_id = secrets.token_hex(10)
        host = f"[{ip}]" if ip.version == 6 else str(ip)
        uri = MSRPURI(host, listener.port, session_id)

        def emit(what: str, data: dict[str, Any]) -> None:
            self.publish(f"msrp.{what}", self.name,
                         {"session_id": session_id, "client": client, **data})

        def gone() -> None:
            self.endpoints.pop(session_id, None)
            self.disown(client, session_id)

        endpoint = Endpoint(uri, emit, gone)
        self.endpoints[session_id] = (client, endpoint)
        self.own(client, session_id, lambda: endpoint.end("the client went away"))
        return {"session_id": session_id, "path": str(uri), "address": str(ip),
                "port": listener.port}

    def rpc_start_session(self, client: str, session_id: str, remote_path: list[Any],
                          active: bool, accept_types: list[Any] | None = None) -> None:
        endpoint = self._endpoint(client, session_id)
        try:
            path = tuple(parse_uri(str(uri)) for uri in remote_path)
        except MSRPParseError as exc:
            raise ServiceError(ErrorCode.INVALID_PARAMS, f"invalid remote path: {exc}") from None
        if not path:
            raise ServiceError(ErrorCode.INVALID_PARAMS, "the remote path is empty")
        if any(uri.secure for uri in path):
            raise ServiceError(ErrorCode.FAILED, "msrps (TLS) is not supported yet")
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

    def rpc_status(self, client: str) -> dict[str, Any]:
        return {
            "listeners": [{"address": a, "port": li.port} for a, li in self.listeners.items()],
            "sessions": [{"session_id": sid, "client": owner, "path": str(ep.local_uri),
                          "state": ep.state, "active": ep.active}
                         for sid, (owner, ep) in self.endpoints.items()],
        }

    # --- helpers -----------------------------------------------------------------

    def _listener(self, address: str) -> Listener:
        listener = self.listeners.get(address)
        if listener is None:
            try:
                listener = Listener(address, self.port, self._lookup)
            except OSError as exc:
                raise ServiceError(ErrorCode.FAILED,
                                   f"cannot listen on {address}:{self.port}: {exc}") from None
            self.listeners[address] = listener
            log.info("listening for MSRP on %s:%d", address, listener.port)
        return listener

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
