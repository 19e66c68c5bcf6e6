"""The signalling service's transport settings: stored, from the environment, from `configure`.

The stored configuration's ``sip.udp_port``, ``sip.tcp_port``,
``sip.tls_port``, ``tls.certificate`` (with its key in the same file),
``tls.ca_list`` and ``tls.verify_server`` apply at start and whenever the file
changes; the environment
overrides them, and a client's `configure` overrides both while the client is
connected (`sipsimple_services.common.stored` has the rule).

Environment (read at start):

- ``SIPSIMPLE_SIP_HOST``: the address to bind (default ``127.0.0.1``: the
  service listens on the network only once the facade configures it).
- ``SIPSIMPLE_SIP_TRANSPORTS``: comma-separated ``udp,tcp,tls`` (default
  ``udp,tcp``; tls needs a certificate).
- ``SIPSIMPLE_SIP_UDP_PORT``, ``..._TCP_PORT``, ``..._TLS_PORT``: 0 (the
  default) picks a free port.
- ``SIPSIMPLE_SIP_TLS_CERTIFICATE``, ``..._TLS_PRIVATE_KEY``,
  ``..._TLS_CA_FILE``: PEM files; ``..._TLS_VERIFY_SERVER`` (1): 0 turns off
  server certificate verification.
- ``SIPSIMPLE_SIP_TRACE``: 1 starts with tracing on.
- ``SIPSIMPLE_SIP_MAX_TRANSACTIONS``: the most live server (and, separately,
  client) transactions; beyond it a new request gets a 503 (default: the
  `LayerLimits` default, whose comment sizes it).
- Stream (TCP/TLS) bounds, against peers that open connections and feed them
  slowly (see `TransportConfig`): ``SIPSIMPLE_SIP_MAX_CONNECTIONS`` (1024 in
  all), ``..._MAX_CONNECTIONS_PER_ADDRESS`` (32 opened from one IP address),
  ``..._MAX_BUFFERED_BYTES`` (64 MiB of partial messages over all
  connections), ``..._MESSAGE_TIMEOUT`` (30 s to receive a message once begun)
  and ``..._MAX_BODY_BYTES`` (1 MiB per message body).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from sipsimple_services.signalling.sip.message.parser import DEFAULT_LIMITS
from sipsimple_services.signalling.sip.transactions.layer import LayerLimits
from sipsimple_services.signalling.transport import TLSConfig, TransportConfig

__all__ = ["TRANSPORTS", "SIPSettings"]

TRANSPORTS = ("udp", "tcp", "tls")
_PREFIX = "SIPSIMPLE_SIP_"


def _port(value: Any, what: str) -> int:
    if isinstance(value, str):
        try:
            value = int(value)
        except ValueError:
            raise ValueError(f"{what} {value!r} is not a number") from None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 65535:
        raise ValueError(f"{what} must be in 0..65535 (0: any free port), not {value!r}")
    return value


def _transports(value: Any) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise ValueError("transports must be a list of udp, tcp, tls")
    result: list[str] = []
    for item in items:
        name = item.strip().lower() if isinstance(item, str) else item
        if name not in TRANSPORTS:
            raise ValueError(f"unknown transport {item!r} (udp, tcp, tls)")
        if name not in result:
            result.append(name)
    if not result:
        raise ValueError("at least one transport is needed")
    return tuple(result)


def _max_transactions(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = int(value.strip().replace("_", ""))
        except ValueError:
            raise ValueError(f"max_transactions {value!r} is not a number") from None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"max_transactions must be a positive integer, not {value!r}")
    return value


def _positive(value: Any, what: str, kind: type[int] | type[float]) -> int | float:
    if isinstance(value, str):
        try:
            value = kind(value.strip().replace("_", ""))
        except ValueError:
            raise ValueError(f"{what} {value!r} is not a number") from None
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0 or (
        kind is int and not isinstance(value, int)
    ):
        raise ValueError(f"{what} must be a positive {kind.__name__}, not {value!r}")
    return kind(value)


_DEFAULT_TRANSPORT = TransportConfig()
_STREAM_BOUNDS: dict[str, type[int] | type[float]] = {
    "max_connections": int, "max_connections_per_address": int,
    "max_buffered_bytes": int, "message_timeout": float, "max_body_bytes": int,
}


def _host(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"host must be an IP address, not {value!r}")
    try:
        return str(ipaddress.ip_address(value.strip("[]")))
    except ValueError:
        raise ValueError(f"host must be an IP address, not {value!r}") from None


@dataclass(frozen=True)
class SIPSettings:
    host: str = "127.0.0.1"
    transports: tuple[str, ...] = ("udp", "tcp")
    udp_port: int = 0
    tcp_port: int = 0
    tls_port: int = 0
    tls_certificate: str | None = None
    tls_private_key: str | None = None
    tls_ca_file: str | None = None
    tls_verify_server: bool = True
    max_transactions: int | None = None  # None: LayerLimits' default
    max_connections: int = _DEFAULT_TRANSPORT.max_connections
    max_connections_per_address: int = _DEFAULT_TRANSPORT.max_connections_per_address
    max_buffered_bytes: int = _DEFAULT_TRANSPORT.max_buffered_bytes
    message_timeout: float = _DEFAULT_TRANSPORT.message_timeout
    max_body_bytes: int = DEFAULT_LIMITS.max_body_bytes

    def __post_init__(self) -> None:
        object.__setattr__(self, "host", _host(self.host))
        object.__setattr__(self, "transports", _transports(self.transports))
        for name in ("udp_port", "tcp_port", "tls_port"):
            object.__setattr__(self, name, _port(getattr(self, name), name))
        if "tls" in self.transports and not self.tls_certificate:
            raise ValueError("TLS needs tls_certificate (and tls_private_key)")
        if not isinstance(self.tls_verify_server, bool):
            raise ValueError("tls_verify_server must be true or false")
        object.__setattr__(self, "max_transactions", _max_transactions(self.max_transactions))
        for name, kind in _STREAM_BOUNDS.items():
            object.__setattr__(self, name, _positive(getattr(self, name), name, kind))

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> SIPSettings:
        return cls(**cls.env_values(environ))

    @classmethod
    def env_values(cls, environ: Mapping[str, str]) -> dict[str, Any]:
        """The settings the environment sets, unchecked (the constructor checks them)."""
        values: dict[str, Any] = {}
        for item in fields(cls):
            raw = environ.get(_PREFIX + item.name.upper())
            if raw is None or raw == "":
                continue
            if item.name == "tls_verify_server":
                values[item.name] = raw.strip().lower() not in ("0", "false", "no", "off")
            else:
                values[item.name] = raw
        return values

    def updated(self, **changes: Any) -> SIPSettings:
        """A copy with the given (non-None) values; ValueError names a bad one."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def layer_limits(self) -> LayerLimits:
        """The transaction layer's limits: `max_transactions` bounds servers and clients."""
        if self.max_transactions is None:
            return LayerLimits()
        return LayerLimits(
            max_server_transactions=self.max_transactions,
            max_client_transactions=self.max_transactions,
        )

    def transport_config(self) -> TransportConfig:
        return TransportConfig(
            host=self.host,
            udp_port=self.udp_port if "udp" in self.transports else None,
            tcp_port=self.tcp_port if "tcp" in self.transports else None,
            tls_port=self.tls_port if "tls" in self.transports else None,
            tls=TLSConfig(
                certificate=self.tls_certificate,
                private_key=self.tls_private_key,
                ca_file=self.tls_ca_file,
                verify_server=self.tls_verify_server,
            ),
            limits=replace(DEFAULT_LIMITS, max_body_bytes=self.max_body_bytes),
            max_connections=self.max_connections,
            max_connections_per_address=self.max_connections_per_address,
            max_buffered_bytes=self.max_buffered_bytes,
            message_timeout=self.message_timeout,
        )
