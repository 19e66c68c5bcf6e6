"""TLS contexts (gevent's SSLContext, so that handshakes yield) and error wording."""

from __future__ import annotations

import ssl

from sipsimple_services.common.tls import (
    describe_tls_error,
    new_client_context,
    new_server_context,
    tls_files_problem,
)
from sipsimple_services.signalling.transport.types import TLSConfig

__all__ = ["client_context", "describe_tls_error", "server_context", "tls_problem"]


def server_context(config: TLSConfig) -> ssl.SSLContext:
    if config.certificate is None:
        raise ValueError("a TLS listener needs a certificate (and its private key)")
    context = new_server_context(config.certificate, config.private_key)
    if config.ca_file is not None:
        # Lets peers present client certificates we can check; not required.
        context.load_verify_locations(cafile=config.ca_file)
        context.verify_mode = ssl.CERT_OPTIONAL
    return context


def client_context(config: TLSConfig) -> ssl.SSLContext:
    """Verifies the server certificate and name unless ``verify_server`` is False."""
    context = new_client_context(config.verify_server, config.ca_file)
    if config.client_certificate is not None:
        context.load_cert_chain(config.client_certificate, config.client_private_key)
    return context




def tls_problem(config: TLSConfig) -> str | None:
    """Why these TLS settings cannot be used (their files are loaded to see), or None."""
    return tls_files_problem(config.certificate, config.private_key, config.ca_file) or (
        tls_files_problem(config.client_certificate, config.client_private_key, None))
