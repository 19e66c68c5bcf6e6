"""The signalling service process: the SIP engine on the bus.

Methods (see the "signalling" table of `sipsimple.bus.schema`): configure,
get_transports, status, claim_account, release_account, send_options, send_message,
respond, set_trace, the INVITE-session methods of `session_service`, and the
registration, subscription and transfer methods of `owned_service`.
Events: signalling.request_received, signalling.transaction_completed and
signalling.message_traced (both while tracing is on), the session events of
`session_bus` and those of `owned_bus`.

Settings come from the stored configuration (read at start and whenever the
file changes), the environment and `configure` (`settings` module). Sending
methods wait for the transaction's final response, so they run in greenlets of
their own (``blocking_methods``); the others only touch state and run inline.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from sipsimple import __version__, directories
from sipsimple.bus import endpoints
from sipsimple.bus.schema import ErrorCode
from sipsimple.configuration.datatypes import Port
from sipsimple.core import SIPParseError
from sipsimple.core.reasons import REASONS
from sipsimple_services.common.service import Service, ServiceError
from sipsimple_services.common.stored import FileWatch, Layers, StoredConfig, watch
from sipsimple_services.common.tls import TLS_STORED_KEYS, read_stored
from sipsimple_services.signalling.bus.params import (
    check_code,
    check_content_type,
    check_timeout,
    parse_credentials,
    parse_headers,
    parse_route,
    parse_sip_uri,
)
from sipsimple_services.signalling.bus.session_methods import SessionMethods
from sipsimple_services.signalling.bus.settings import SIPSettings
from sipsimple_services.signalling.bus.status import counts, snapshot
from sipsimple_services.signalling.bus.trace import TraceFile, event_data
from sipsimple_services.signalling.bus.usage_methods import OwnedMethods
from sipsimple_services.signalling.glue.engine import (
    Completion,
    Outcome,
    SignallingEngine,
    TraceRecord,
)
from sipsimple_services.signalling.glue.outgoing import header_pairs, send_out_of_dialog
from sipsimple_services.signalling.glue.ua import IncomingRequest, NotPending, UACore
from sipsimple_services.signalling.sip.message.addresses import Destination
from sipsimple_services.signalling.sip.message.values import SIPRequest
from sipsimple_services.signalling.sip.transactions import TransactionError
from sipsimple_services.signalling.sip.ua.accounts import AccountRegistry
from sipsimple_services.signalling.transport import TransportConfig
from sipsimple_services.signalling.transport.tls import tls_problem

__all__ = ["USER_AGENT", "SignallingService", "trace_path"]

log = logging.getLogger("sipsimple.signalling")

USER_AGENT = f"sipsimple/{__version__}"
DEFAULT_TIMEOUT = 40.0  # longer than Timer F (32 s): the transaction ends first
ANONYMOUS = "sip:anonymous@anonymous.invalid"  # RFC 3261 8.1.1.3
STORED = StoredConfig({
    "udp_port": ("sip.udp_port", Port),
    "tcp_port": ("sip.tcp_port", Port),
    "tls_port": ("sip.tls_port", Port),
    **TLS_STORED_KEYS,
})


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _stored(path: Path) -> dict[str, Any] | None:
    """The stored values as `configure` takes them (paths with ``~`` expanded)."""
    return read_stored(STORED, path)

T = TypeVar("T")


def _checked(check: Callable[[], T]) -> T:
    """Run a value check; ValueError becomes an invalid-params error reply."""
    try:
        return check()
    except ValueError as exc:
        raise ServiceError(ErrorCode.INVALID_PARAMS, str(exc)) from None


def _outcome(outcome: Outcome) -> dict[str, Any]:
    response = outcome.response
    return {
        "code": response.code,
        "reason": response.reason,
        "headers": header_pairs(response.headers),
        "body": response.body,
        "call_id": response.call_id,
        "local": outcome.local,
        "error": outcome.error,
    }


class SignallingService(Service, SessionMethods, OwnedMethods):
    name = "signalling"
    # invite may look a name up or connect TCP/TLS first: not inline, where it would
    # hold up the bus (`blocks` lets one over UDP to an address run inline)
    blocking_methods: ClassVar[frozenset[str]] = frozenset(
        {"send_options", "send_message", "respond", "configure", "invite", "register",
         "subscribe"}
    )

    def blocks(self, method: str, params: dict[str, Any]) -> bool:
        if method == "invite":
            # Over UDP to an address the INVITE is one datagram sent: inline, without a
            # greenlet to start and wait for (about 0.2 ms of every outgoing call's
            # setup); a host name needs a lookup, TCP and TLS may connect first.
            route = params.get("route") or {}
            return str(route.get("transport", "udp")).lower() != "udp" or not _is_address(
                str(route.get("host", "")))
        return super().blocks(method, params)

    def __init__(self) -> None:
        super().__init__()
        self.config_watch = FileWatch(directories.config_file())  # before the first read
        stored = _stored(self.config_watch.path) or {}
        self.layers = Layers(SIPSettings.env_values(os.environ), stored)
        self.settings = SIPSettings(**self.layers.values())
        self._watcher: Any = None
        self.accounts = AccountRegistry()
        self.core = UACore(self.accounts, server=USER_AGENT, on_request=self._on_request,
                           on_refused=self._on_refused)
        config, self.tls_error = self._transport_config(self.settings)  # why TLS is off
        self.engine = SignallingEngine(config, self.core, limits=self.settings.layer_limits())
        self.sessions = self.make_sessions(USER_AGENT)
        self.core.dialog_layer = self.sessions
        self.engine.on_completed = self._on_completed
        self.engine.batch = self.event_batch  # one bus message for what one input caused
        self.trace_file = TraceFile(trace_path())
        if os.environ.get("SIPSIMPLE_SIP_TRACE", "") not in ("", "0"):
            self.engine.tracer = self._trace

    # --- lifecycle -----------------------------------------------------------

    def on_start(self) -> None:
        try:
            self.engine.start()
        except OSError as exc:
            host, settings = self.settings.host, self.settings
            ports = ", ".join(f"{name} {host}:{getattr(settings, name + '_port')}"
                              for name in settings.transports)
            log.error("cannot bind the SIP transports (%s): %s; the ports are sip.*_port in %s, "
                      "or SIPSIMPLE_SIP_*_PORT", ports, exc, self.config_watch.path)
            raise
        self._log_transports()
        self._watcher = watch(self.config_watch, self._stored_changed)

    def on_stop(self) -> None:
        if self._watcher is not None:
            self._watcher.kill(block=False)
        self.sessions.stop()
        self.engine.stop()
        self.trace_file.close()

    # --- events --------------------------------------------------------------

    def _on_request(self, incoming: IncomingRequest) -> None:
        request = incoming.request
        source = incoming.source
        self.publish("signalling.request_received", incoming.server_id, {
            "method": request.method,
            "request_uri": str(request.uri),
            "headers": header_pairs(request.headers),
            "body": request.body,
            "server_key": incoming.server_id,
            "source": {"host": source.host, "port": source.port,
                       "transport": source.transport.lower()},
            "account": incoming.claim.aor,
            "client": incoming.claim.client,
            "answered": incoming.answered,
        })

    def _on_refused(self, request: SIPRequest, source: Destination, code: int) -> None:
        self.publish("signalling.incoming_refused", request.call_id or "", {
            "call_id": request.call_id,
            "from": str(request.from_) if request.from_ is not None else None,
            "to": str(request.to) if request.to is not None else None,
            "request_uri": str(request.uri),
            "source": {"host": source.host, "port": source.port,
                       "transport": source.transport.lower()},
            "code": code,
            "reason": REASONS.get(code, "Unknown"),
        })

    def _on_completed(self, completion: Completion) -> None:
        if self.engine.tracer is None:
            return  # a diagnostic, as the trace (2 of the events of every call, unread)
        self.publish("signalling.transaction_completed", completion.call_id or "", {
            "originator": completion.originator,
            "method": completion.method,
            "code": completion.code,
            "reason": completion.reason,
            "call_id": completion.call_id,
        })

    def _trace(self, record: TraceRecord) -> None:
        self.publish("signalling.message_traced", self.name, event_data(record))
        self.trace_file.write(record)

    # --- configuration -------------------------------------------------------

    def rpc_get_transports(self, client: str) -> dict[str, Any]:
        addresses = self.engine.local_addresses
        return {
            "tls_error": self.tls_error,
            "host": self.settings.host,
            "transports": list(self.settings.transports),
            **{name: (addresses[name.upper()].port if name.upper() in addresses else None)
               for name in ("udp", "tcp", "tls")},
        }

    def rpc_status(self, client: str) -> dict[str, Any]:
        return {**snapshot(self.accounts, self.sessions, self.engine.local_addresses),
                "tls_error": self.tls_error}

    def counts(self) -> dict[str, int]:
        return counts(self.sessions, len(self.engine.layer), len(self.engine.wheel))

    def rpc_configure(self, client: str, **changes: Any) -> dict[str, Any]:
        # The client's values hold until it goes away or the stored value changes.
        changes = {name: value for name, value in changes.items() if value is not None}
        settings = _checked(lambda: SIPSettings(**self.layers.values(changes)))
        try:
            self._apply(settings)
        except (OSError, ValueError) as exc:
            raise ServiceError(ErrorCode.FAILED, f"cannot bind the transports: {exc}") from None
        if changes:
            self.layers.override(client, changes)
            self.own(client, "settings", lambda: self._overrides_gone(client))
        return self.rpc_get_transports(client)

    def _apply(self, settings: SIPSettings) -> None:
        """Rebind for `settings`; OSError or ValueError leaves the previous transports."""
        if settings == self.settings:
            return
        config, problem = self._transport_config(settings)
        self.engine.reconfigure(config)
        self.settings = settings
        self.engine.layer.limits = settings.layer_limits()
        self._log_transports()
        if problem != self.tls_error:
            self.tls_error = problem
            self.publish("signalling.tls_changed", self.name, {"tls_error": problem})

    @staticmethod
    def _transport_config(settings: SIPSettings) -> tuple[TransportConfig, str | None]:
        """The settings' transports, without TLS when its files do not load, and why.

        A bad CA file or a certificate without its key must not keep SIP from
        starting: UDP and TCP go on, TLS is refused with the reason, which
        `get_transports` and ``signalling.tls_changed`` report (the
        application's SIPApplicationFailedToStartTLS).
        """
        config = settings.transport_config()
        problem = tls_problem(config.tls)
        if problem is None:
            return config, None
        log.error("SIP over TLS is off: %s", problem)
        return replace(config, tls_port=None,
                       tls=replace(config.tls, unavailable=problem)), problem

    def _apply_layers(self, why: str) -> None:
        try:
            self._apply(SIPSettings(**self.layers.values()))
        except (OSError, ValueError) as exc:
            log.error("keeping the SIP transports after %s: %s", why, exc)

    def _stored_changed(self) -> None:
        stored = _stored(self.config_watch.path)
        if stored is not None and self.layers.set_stored(stored):
            self._apply_layers(f"a change of {self.config_watch.path}")

    def _overrides_gone(self, client: str) -> None:
        if self.layers.drop_client(client):
            self._apply_layers(f"client {client} went away")

    def _log_transports(self) -> None:
        log.info("SIP transports: %s", {
            name: str(address) for name, address in self.engine.local_addresses.items()
        })

    def rpc_set_trace(self, client: str, enabled: bool) -> dict[str, Any]:
        self.engine.tracer = self._trace if enabled else None
        return {"enabled": enabled, "file": str(self.trace_file.path)}

    # --- accounts ------------------------------------------------------------

    def rpc_claim_account(self, client: str, aor: str, options: bool = False,
                          any_user: bool = False) -> dict[str, Any]:
        uri = _checked(lambda: parse_sip_uri(aor, "aor"))
        claim = self.accounts.claim(uri, client, options=options, any_user=any_user)
        key = f"{'any-user:' if any_user else 'account:'}{claim.aor}"
        self.own(client, key, lambda: self._released(client, aor, any_user))
        result = {"aor": claim.aor, "options": claim.options}
        return {**result, "any_user": True} if any_user else result

    def rpc_release_account(self, client: str, aor: str, any_user: bool = False) -> None:
        uri = _checked(lambda: parse_sip_uri(aor, "aor"))
        claim = self.accounts.release(uri, client, any_user=any_user)
        if claim is None:
            raise ServiceError(ErrorCode.NOT_FOUND, f"this client has not claimed {aor}")
        self.disown(client, f"{'any-user:' if any_user else 'account:'}{claim.aor}")
        self.core.client_gone(self.engine, client, claim.aor)

    def _released(self, client: str, aor: str, any_user: bool = False) -> None:
        claim = self.accounts.release(parse_sip_uri(aor, "aor"), client, any_user=any_user)
        if claim is not None:  # what came for that account will get no answer now
            self.core.client_gone(self.engine, client, claim.aor)

    # --- requests ------------------------------------------------------------

    def rpc_send_options(
        self, client: str, uri: str, route: dict[str, Any], headers: list[Any] | None = None,
        from_uri: str | None = None, response_timeout: float | None = None,
    ) -> dict[str, Any]:
        target = _checked(lambda: parse_sip_uri(uri, "uri"))
        sender = _checked(lambda: parse_sip_uri(from_uri or ANONYMOUS, "from_uri"))
        destination, tls_name = _checked(lambda: parse_route(route))
        extra = _checked(lambda: parse_headers(headers))
        wait = _checked(lambda: check_timeout(response_timeout, DEFAULT_TIMEOUT))
        return _outcome(self._send(lambda: send_out_of_dialog(
            self.engine, "OPTIONS", target, destination, from_uri=sender, to_uri=target,
            user_agent=USER_AGENT, headers=extra, server_name=tls_name, timeout=wait,
        )))

    def rpc_send_message(
        self, client: str, from_uri: str, to_uri: str, route: dict[str, Any],
        content_type: str, body: bytes, credentials: dict[str, Any] | None = None,
        headers: list[Any] | None = None, uri: str | None = None,
        response_timeout: float | None = None, display_name: str | None = None,
        to_display_name: str | None = None,
    ) -> dict[str, Any]:
        sender = _checked(lambda: parse_sip_uri(from_uri, "from_uri"))
        recipient = _checked(lambda: parse_sip_uri(to_uri, "to_uri"))
        target = _checked(lambda: parse_sip_uri(uri, "uri")) if uri else recipient
        destination, tls_name = _checked(lambda: parse_route(route))
        ctype = _checked(lambda: check_content_type(content_type))
        auth = _checked(lambda: parse_credentials(credentials))
        extra = _checked(lambda: parse_headers(headers))
        wait = _checked(lambda: check_timeout(response_timeout, DEFAULT_TIMEOUT))
        return _outcome(self._send(lambda: send_out_of_dialog(
            self.engine, "MESSAGE", target, destination, from_uri=sender, to_uri=recipient,
            user_agent=USER_AGENT, headers=extra, content_type=ctype, body=body,
            credentials=auth, realms=self.sessions.realm_book.realms(sender.user, sender.host),
            server_name=tls_name, timeout=wait, from_display=display_name,
            to_display=to_display_name,
        )))

    def _send(self, run: Callable[[], Outcome]) -> Outcome:
        try:
            return run()
        except (SIPParseError, ValueError) as exc:
            raise ServiceError(ErrorCode.INVALID_PARAMS, str(exc)) from None
        except TransactionError as exc:  # e.g. too many client transactions
            raise ServiceError(ErrorCode.FAILED, str(exc)) from None

    def rpc_respond(
        self, client: str, server_key: str, code: int, reason: str | None = None,
        headers: list[Any] | None = None, body: bytes | None = None,
    ) -> None:
        _checked(lambda: check_code(code))
        extra = _checked(lambda: parse_headers(headers))
        if reason is not None and ("\r" in reason or "\n" in reason):
            raise ServiceError(ErrorCode.INVALID_PARAMS, "reason must be one line")
        try:
            self.core.respond(self.engine, server_key, code, reason, extra, body or b"",
                              client=client)
        except NotPending:
            raise ServiceError(
                ErrorCode.NOT_FOUND, f"no request {server_key!r} is waiting for an answer"
            ) from None
        except (SIPParseError, ValueError) as exc:
            raise ServiceError(ErrorCode.INVALID_PARAMS, str(exc)) from None


def trace_path() -> Path:
    """Where the SIP trace is written: ``<state dir>/logs/sip_trace.log``."""
    return endpoints.state_dir() / "logs" / "sip_trace.log"
