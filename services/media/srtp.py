"""SDES-keyed SRTP and SRTCP (RFC 3711, keys from RFC 4568 a=crypto) via pylibsrtp.

One `SRTPContext` per RTP stream: our key protects what we send, the
peer's key checks what we receive. Both directions accept any SSRC (libsrtp
clones its template per SSRC only after a packet authenticates, so a flood
of made-up SSRCs costs nothing). Every failure of a received packet, be it
authentication, replay or a mangled header, is `SRTPError`; the caller
counts and drops it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pylibsrtp

__all__ = [
    "KEY_LENGTH",
    "SUITES",
    "SRTPContext",
    "SRTPError",
    "SRTPSuite",
    "suite",
]

KEY_LENGTH = 30  # 16-byte master key followed by a 14-byte master salt


class SRTPError(ValueError):
    """A packet that cannot be protected or fails to unprotect (drop and count it)."""


@dataclass(frozen=True, slots=True)
class SRTPSuite:
    name: str  # as in a=crypto (RFC 4568 6.2)
    profile: int  # libsrtp's profile
    rtp_tag_length: int  # bytes of authentication tag on SRTP packets


SUITES: dict[str, SRTPSuite] = {
    s.name: s
    for s in (
        SRTPSuite("AES_CM_128_HMAC_SHA1_80", pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80, 10),
        # SRTCP keeps the 80-bit tag with this suite too (RFC 4568 6.2.2).
        SRTPSuite("AES_CM_128_HMAC_SHA1_32", pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_32, 4),
    )
}


def suite(name: str) -> SRTPSuite:
    try:
        return SUITES[name]
    except (KeyError, TypeError):
        raise SRTPError(f"unsupported SRTP crypto suite: {name!r}") from None


def _policy(chosen: SRTPSuite, key: bytes, ssrc_type: int) -> pylibsrtp.Policy:
    if not isinstance(key, bytes) or len(key) != KEY_LENGTH:
        raise SRTPError(f"an SRTP master key and salt are {KEY_LENGTH} bytes")
    return pylibsrtp.Policy(key=key, ssrc_type=ssrc_type, srtp_profile=chosen.profile)


class SRTPContext:
    """Protects outgoing and unprotects incoming RTP and RTCP of one stream."""

    __slots__ = ("_inbound", "_outbound", "suite")

    def __init__(self, suite_name: str, local_key: bytes, remote_key: bytes) -> None:
        self.suite = suite(suite_name)
        try:
            self._outbound = pylibsrtp.Session(
                _policy(self.suite, local_key, pylibsrtp.Policy.SSRC_ANY_OUTBOUND)
            )
            self._inbound = pylibsrtp.Session(
                _policy(self.suite, remote_key, pylibsrtp.Policy.SSRC_ANY_INBOUND)
            )
        except (pylibsrtp.Error, ValueError, TypeError) as exc:
            raise SRTPError(f"cannot create the SRTP context: {exc}") from exc

    @staticmethod
    def _run(operation: Callable[[bytes], bytes], packet: bytes, what: str) -> bytes:
        if not isinstance(packet, bytes | bytearray | memoryview):
            raise SRTPError(f"{what}: a packet must be bytes")
        try:
            return operation(bytes(packet))
        except (pylibsrtp.Error, ValueError, TypeError) as exc:
            raise SRTPError(f"{what}: {exc}") from exc

    # RTP (50 packets a second each way) skips `_run`'s checks when given bytes.

    def protect(self, packet: bytes) -> bytes:
        """An RTP packet to SRTP."""
        if type(packet) is bytes:
            try:
                return self._outbound.protect(packet)
            except (pylibsrtp.Error, ValueError, TypeError) as exc:
                raise SRTPError(f"protect RTP: {exc}") from exc
        return self._run(self._outbound.protect, packet, "protect RTP")

    def unprotect(self, packet: bytes) -> bytes:
        """An SRTP packet back to RTP; `SRTPError` if forged, replayed or mangled."""
        if type(packet) is bytes:
            try:
                return self._inbound.unprotect(packet)
            except (pylibsrtp.Error, ValueError, TypeError) as exc:
                raise SRTPError(f"unprotect SRTP: {exc}") from exc
        return self._run(self._inbound.unprotect, packet, "unprotect SRTP")

    def protect_rtcp(self, packet: bytes) -> bytes:
        return self._run(self._outbound.protect_rtcp, packet, "protect RTCP")

    def unprotect_rtcp(self, packet: bytes) -> bytes:
        return self._run(self._inbound.unprotect_rtcp, packet, "unprotect SRTCP")
