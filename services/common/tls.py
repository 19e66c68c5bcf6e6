"""TLS wording shared by the services that speak TLS (SIP, MSRP)."""

from __future__ import annotations

import ssl

__all__ = ["describe_tls_error", "tls_files_problem"]


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
