"""Candidate priorities, foundations and pairs' priorities (RFC 8445 5.1.2, 5.1.1.3, 6.1.2.3).

The candidate itself (`Candidate`, `a=candidate` text) is the facade's
`sipsimple.core.sdp.ice`, shared with the SDP code.
"""

from __future__ import annotations

import binascii
import random
import string

from sipsimple.core.sdp.ice import Candidate, CandidateType

__all__ = [
    "TYPE_PREFERENCE",
    "Candidate",
    "CandidateType",
    "candidate_priority",
    "foundation",
    "new_credentials",
    "pair_priority",
]

#: RFC 8445 5.1.2.2's recommended type preferences
TYPE_PREFERENCE = {
    CandidateType.HOST: 126,
    CandidateType.PRFLX: 110,
    CandidateType.SRFLX: 100,
    CandidateType.RELAY: 0,
}

_ICE_CHARS = string.ascii_letters + string.digits + "+/"


def candidate_priority(kind: CandidateType, component: int, local_preference: int = 65535) -> int:
    if not 0 <= local_preference <= 65535 or not 1 <= component <= 256:
        raise ValueError("local preference is 16 bits, component 1 to 256")
    return (TYPE_PREFERENCE[kind] << 24) | (local_preference << 8) | (256 - component)


def pair_priority(controlling: int, controlled: int) -> int:
    """2^32·MIN(G,D) + 2·MAX(G,D) + (G>D ? 1 : 0), G the controlling agent's candidate."""
    low, high = min(controlling, controlled), max(controlling, controlled)
    return (low << 32) + 2 * high + (1 if controlling > controlled else 0)


def foundation(
    kind: CandidateType, base_host: str, server: str | None = None, transport: str = "udp"
) -> str:
    """Equal for candidates of one type, base IP, server and transport (RFC 8445 5.1.1.3)."""
    key = f"{kind.value}|{base_host}|{server or ''}|{transport}".encode()
    return str(binascii.crc32(key))


def new_credentials(rng: random.Random | None = None) -> tuple[str, str]:
    """A fresh ufrag (8 ice-chars, 48 bits) and password (24 ice-chars, 144 bits)."""
    choose = (rng or random.SystemRandom()).choice
    return (
        "".join(choose(_ICE_CHARS) for _ in range(8)),
        "".join(choose(_ICE_CHARS) for _ in range(24)),
    )
