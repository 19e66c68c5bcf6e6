"""MSRP over TLS (``msrps``): the service's certificate settings and its TLS contexts.

The service listens with TLS when it has a certificate (RFC 4975 section 14.1:
msrps URIs; the certificate names the host of the path). Outgoing connections
to an ``msrps`` path verify the peer's certificate and its name (the host of
the URI: SNI for a name, the IP address SAN for an address) unless
verification is turned off, as the SIP transports do. gevent's SSLContext
keeps handshakes cooperative. The contexts are made as the signalling
service's are (`sipsimple_services.common.tls`).

Environment (read at start):

- ``SIPSIMPLE_MSRP_TLS_CERTIFICATE``, ``..._TLS_PRIVATE_KEY``: PEM files; with
  them the service can take msrps sessions.
- ``SIPSIMPLE_MSRP_TLS_CA_FILE``: the CAs that verify peers (default: the
  system's).
- ``SIPSIMPLE_MSRP_TLS_VERIFY_SERVER`` (1): 0 turns off server certificate
  verification.

The stored configuration's ``tls.certificate`` (one PEM file holding the
certificate and its key, as in the original SDK), ``tls.ca_list`` and
``tls.verify_server`` apply when the environment does not set them, and a
client's `configure` overrides both (`sipsimple_services.common.stored`).
Settings whose files do not load leave the service without TLS (`problem`
says why) rather than failing it.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sipsimple_services.common.tls import (
    describe_tls_error,
    new_client_context,
    new_server_context,
    tls_files_problem,
)

__all__ = ["HANDSHAKE_TIMEOUT", "TLSSettings", "describe_tls_error"]

HANDSHAKE_TIMEOUT = 30.0  # a peer that opens a connection and never finishes its handshake


@dataclass(frozen=True)
class TLSSettings:
    certificate: str | None = None
    private_key: str | None = None
    ca_file: str | None = None
    verify_server: bool = True
    unavailable: str | None = None  # why TLS is off: its files did not load

    @classmethod
    def from_environment(cls, env: Mapping[str, str] = os.environ) -> TLSSettings:
        return cls.from_values(cls.env_values(env))

    @staticmethod
    def env_values(env: Mapping[str, str]) -> dict[str, Any]:
        """The settings the environment sets, by their `configure` names."""
        values: dict[str, Any] = {}
        for name in ("certificate", "private_key", "ca_file"):
            if env.get(f"SIPSIMPLE_MSRP_TLS_{name.upper()}"):
                values[f"tls_{name}"] = env[f"SIPSIMPLE_MSRP_TLS_{name.upper()}"]
        verify = env.get("SIPSIMPLE_MSRP_TLS_VERIFY_SERVER", "").strip().lower()
        if verify:
            if verify not in ("0", "1", "true", "false", "yes", "no"):
                raise ValueError(
                    f"SIPSIMPLE_MSRP_TLS_VERIFY_SERVER must be 0 or 1, not {verify!r}")
            values["tls_verify_server"] = verify in ("1", "true", "yes")
        return values

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> TLSSettings:
        settings = cls(values.get("tls_certificate"), values.get("tls_private_key"),
                       values.get("tls_ca_file"), values.get("tls_verify_server", True))
        if settings.private_key is not None and settings.certificate is None:
            raise ValueError("a TLS private key without a certificate")
        return settings

    def problem(self) -> str | None:
        """Why these settings cannot be used (their files are loaded to see), or None."""
        return tls_files_problem(self.certificate, self.private_key, self.ca_file)

    @property
    def can_serve(self) -> bool:
        """Whether the service can listen with TLS (it has a certificate that loads)."""
        return self.certificate is not None and self.unavailable is None

    def server_context(self) -> ssl.SSLContext:
        if self.certificate is None or self.unavailable is not None:
            raise ValueError("an msrps listener needs a certificate (and its private key)")
        return new_server_context(self.certificate, self.private_key)

    def client_context(self) -> ssl.SSLContext:
        """PROTOCOL_TLS_CLIENT: CERT_REQUIRED and check_hostname, unless verify_server is off."""
        if self.unavailable is not None:
            raise ValueError(f"TLS is off: {self.unavailable}")
        return new_client_context(self.verify_server, self.ca_file)

