"""A short, seeded fuzz run over the message parsers: only SIPParseError, no hang.

Mutations of valid messages (RFC 4475 ones and a typical INVITE): bit flips,
truncations, insertions of SIP-significant bytes, duplicated and dropped
lines, huge values. Each input goes through `parse_message` and, split at a
random point, through a `StreamParser`.
"""

from __future__ import annotations

import random
from pathlib import Path

from harness.fuzz import mutate_message

from sipsimple.core import SIPParseError
from sipsimple_services.signalling.sip.message.parser import (
    KeepAlive,
    ParseFailure,
    StreamParser,
    parse_message,
)
from sipsimple_services.signalling.sip.message.values import SIPRequest, SIPResponse
from sipsimple_services.signalling.transport.connection import error_response

DATA = Path(__file__).parent / "data" / "rfc4475"
ROUNDS = 20_000
SPECIAL = [
    b"\r\n",
    b"\r",
    b"\n",
    b":",
    b";",
    b",",
    b'"',
    b"\\",
    b"<",
    b">",
    b" ",
    b"\t",
    b"\x00",
    b"\xff",
    b"%",
    b"=",
    b"@",
    b"[",
    b"]",
    b"/",
    b"\r\n ",
    b"SIP/2.0",
]


RUNS = [b"a", b"9", b";x", b",", b'"']


def mutate(rng: random.Random, data: bytes) -> bytes:
    return mutate_message(rng, data, SPECIAL, RUNS, (100, 5000))


def test_fuzz() -> None:
    seeds = [path.read_bytes() for path in sorted(DATA.glob("*.dat"))]
    rng = random.Random(20240611)
    outcomes = {"parsed": 0, "rejected": 0, "answered": 0}
    for _ in range(ROUNDS):
        data = mutate(rng, rng.choice(seeds))
        try:
            parse_message(data)
            outcomes["parsed"] += 1
        except SIPParseError as exc:
            outcomes["rejected"] += 1
            # what is answered gets one well-formed response, whatever was copied into it
            answer = error_response(exc)
            if answer is not None:
                outcomes["answered"] += 1
                assert answer.startswith(f"SIP/2.0 {exc.status} ".encode())
                assert answer.endswith(b"\r\n\r\n") and answer.count(b"\r\n\r\n") == 1
                assert b"\r\nWarning: 399 " in answer
        parser = StreamParser()
        cut = rng.randrange(len(data) + 1)
        for chunk in (data[:cut], data[cut:]):
            for event in parser.feed(chunk):
                assert isinstance(event, SIPRequest | SIPResponse | KeepAlive | ParseFailure)
    # The mutations must exercise both paths.
    assert outcomes["parsed"] > 500 and outcomes["rejected"] > 5000
    assert outcomes["answered"] > 1000
