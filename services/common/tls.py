"""TLS shared by the services that speak it (SIP, MSRP): contexts, wording, and the
stored settings."""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gevent import ssl as gssl

from sipsimple.configuration.datatypes import Path as ConfigPath
from sipsimple_services.common.stored import StoredConfig

__all__ = [
    "TLS_STORED_KEYS",
    "describe_tls_error",
    "new_client_context",
    "new_server_context",
    "read_stored",
    "tls_files_problem",
]

# The stored tls.* settings a TLS service reads, by the names its `configure`
# takes; the original SDK's tls.certificate is one PEM file with the key in it.
TLS_STORED_KEYS: Mapping[str, tuple[str, type]] = {
    "tls_certificate": ("tls.certificate", ConfigPath),
    "tls_ca_file": ("tls.ca_list", ConfigPath),
    "tls_verify_server": ("tls.verify_server", bool),
}


def read_stored(config: StoredConfig, path: Path) -> dict[str, Any] | None:
    """`config.read(path)` as `configure` takes the values: the TLS file paths
    with ``~`` expanded (None when the file is unreadable, as `StoredConfig.read`)."""
    values = config.read(path)
    if values is not None:
        for name in ("tls_certificate", "tls_ca_file"):
            if name in values:
                values[name] = values[name].normalized
    return values


def new_server_context(certificate: str, private_key: str | None) -> ssl.SSLContext:
    """TLS 1.2 or later with this certificate; gevent's SSLContext, so handshakes yield."""
    context = gssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(certificate, private_key)
    return context


def new_client_context(verify_server: bool, ca_file: str | None) -> ssl.SSLContext:
    """TLS 1.2 or later, verifying the server's certificate and name against `ca_file`
    (else the system's CAs) unless `verify_server` is False.

    PROTOCOL_TLS_CLIENT starts with CERT_REQUIRED and check_hostname, as
    ``ssl.create_default_context`` does; gevent's class keeps I/O cooperative.
    """
    context = gssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if verify_server:
        if ca_file is not None:
            context.load_verify_locations(cafile=ca_file)
        else:
            context.load_default_certs(ssl.Purpose.SERVER_AUTH)
    else:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def describe_tls_error(error: BaseException) -> str:
    """A short, human reason: 'certificate verify failed: hostname mismatch, ...'."""
    if isinstance(error, ssl.SSLCertVerificationError):
        detail = (error.verify_message or "").rstrip(".")
        detail = detail[:1].lower() + detail[1:]
        return f"certificate verify failed: {detail}" if detail else "certificate verify failed"
    if isinstance(error, ssl.SSLError):
        return f"TLS error: {error.reason or error}"
    return f"TLS error: {error}"


def tls_files_problem(certificate: str | None, private_key: str | None,
                      ca_file: str | None) -> str | None:
    """Why these TLS files cannot be used, or None: each is loaded once to see.

    Read at start and when the settings change rather than at the first
    connection, so that a bad CA file or a certificate without its key is told
    then (the application's SIPApplicationFailedToStartTLS), not as a failed
    call later.
    """
    if ca_file is not None:
        try:
            ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=ca_file)
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
            return f"the CA file {ca_file} does not load: {_file_reason(exc)}"
    if certificate is not None:
        try:
            ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(certificate, private_key)
        except (OSError, ValueError) as exc:
            key = private_key or "in the same file"
            return (f"the certificate {certificate} does not load with its private key "
                    f"({key}): {_file_reason(exc)}")
    return None


def _file_reason(error: BaseException) -> str:
    if isinstance(error, ssl.SSLError):
        return str(error.reason or error).replace("_", " ").lower()
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error)
