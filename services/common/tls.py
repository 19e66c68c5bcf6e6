"""TLS wording shared by the services that speak TLS (SIP, MSRP)."""

from __future__ import annotations

import ssl

__all__ = ["describe_tls_error"]


def describe_tls_error(error: BaseException) -> str:
    """A short, human reason: 'certificate verify failed: hostname mismatch, ...'."""
    if isinstance(error, ssl.SSLCertVerificationError):
        detail = (error.verify_message or "").rstrip(".")
        detail = detail[:1].lower() + detail[1:]
        return f"certificate verify failed: {detail}" if detail else "certificate verify failed"
    if isinstance(error, ssl.SSLError):
        return f"TLS error: {error.reason or error}"
    return f"TLS error: {error}"
