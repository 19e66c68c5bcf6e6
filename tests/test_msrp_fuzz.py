"""A short, seeded fuzz run of every MSRP parser: only MSRPParseError, recovery, no hang.

Mutations of valid messages (the RFC 4975 examples, RFC 7701's NICKNAME and a
chunked file):
bit flips, truncations, insertions of MSRP-significant bytes (end-line
pieces, CRLF, dashes, flags), duplicated and dropped lines, huge values.
Each input goes through a `StreamParser` whole and split at random points
(the same messages must come out), then through an `MSRPSession`; the
parser must then either have closed (a fatal failure) or parse a valid
message fed after it. URIs and header values get mutated text.
"""

from __future__ import annotations

import contextlib
import random

import pytest
from harness.fuzz import mutate_message
from msrp_strategies import ALICE, BOB, RFC_STREAM

from sipsimple_services.msrp.protocol.errors import MSRPParseError
from sipsimple_services.msrp.protocol.headers import check_header
from sipsimple_services.msrp.protocol.message import MSRPRequest, MSRPResponse
from sipsimple_services.msrp.protocol.parser import (
    BodyData,
    Limits,
    ParseFailure,
    RequestEnded,
    RequestStarted,
    ResponseReceived,
    StreamParser,
    collect,
)
from sipsimple_services.msrp.protocol.session import MSRPSession
from sipsimple_services.msrp.protocol.uri import parse_uri

ROUNDS = 3000
SPECIAL = [b"\r\n", b"\r", b"\n", b"-------", b"$", b"+", b"#", b" ", b":", b";", b"/",
           b"\x00", b"\xff", b"MSRP ", b"-------a786hjs2$\r\n", b"\r\n\r\n", b"*", b"%"]
FILE = bytes(
    MSRPRequest("fil3tid1", "SEND", (("To-Path", BOB), ("From-Path", ALICE),
                                     ("Message-ID", "file0001"), ("Byte-Range", "1-*/300"),
                                     ("Content-Type", "application/octet-stream")),
                bytes(range(256)) + b"\r\n-------fil3tid1" + b"x" * 26, "+"))
SEEDS = [RFC_STREAM, FILE, FILE + RFC_STREAM]
VALID = (b"MSRP zzzz9999 SEND\r\nTo-Path: " + BOB.encode() + b"\r\nFrom-Path: "
         + ALICE.encode() + b"\r\nMessage-ID: okok1234\r\nContent-Type: text/plain\r\n\r\n"
         b"after\r\n-------zzzz9999$\r\n")


RUNS = [b"a", b"9", b"-", b"\r\n-", b" "]


def mutate(rng: random.Random, data: bytes) -> bytes:
    return mutate_message(rng, data, SPECIAL, RUNS, (10, 3000))


def run(data: bytes, cuts: list[int]) -> tuple[StreamParser, list[object]]:
    parser = StreamParser(Limits(max_head_bytes=4096, max_chunk_bytes=1000))
    events = []
    last = 0
    for cut in sorted(cuts):
        events += parser.feed(data[last:cut])
        last = cut
    events += parser.feed(data[last:])
    for event in events:
        assert isinstance(event, RequestStarted | BodyData | RequestEnded | ResponseReceived
                          | ParseFailure)
        if isinstance(event, ParseFailure):
            assert isinstance(event.error, MSRPParseError)
    return parser, [comparable(item) for item in collect(events)]


def comparable(item: object) -> object:
    if isinstance(item, ParseFailure):  # exceptions compare by identity
        error = item.error
        return (str(error), error.status, error.transaction_id, item.fatal, item.method,
                item.headers)
    return item


def test_parser_fuzz() -> None:
    rng = random.Random(4975)
    fatal = recovered = 0
    for _ in range(ROUNDS):
        data = mutate(rng, rng.choice(SEEDS))
        parser, whole = run(data, [])
        cuts = [rng.randrange(len(data) + 1) for _ in range(rng.randint(1, 4))]
        assert run(data, cuts)[1] == whole
        for item in whole:
            if isinstance(item, MSRPRequest | MSRPResponse):
                bytes(item)  # what parsed serializes
        if parser.closed:
            fatal += 1
            continue
        if parser.in_message:
            continue  # inside a body or head cut short: more bytes would complete it
        after = list(collect(parser.feed(VALID)))
        assert after and isinstance(after[-1], MSRPRequest) and after[-1].body == b"after"
        recovered += 1
    assert fatal and recovered  # the run reached both outcomes


def test_session_fuzz() -> None:
    rng = random.Random(4976)
    for _ in range(ROUNDS // 3):
        session = MSRPSession(parse_uri(BOB), (parse_uri(ALICE),), max_message_bytes=200,
                              stream_types=("application/*",))
        data = mutate(rng, rng.choice(SEEDS))
        cut = rng.randrange(len(data) + 1)
        session.receive(data[:cut], 0.0)
        session.receive(data[cut:], 1.0)
        for piece in session.outgoing(1.0):
            assert isinstance(piece, bytes | memoryview)
        session.tick(100.0)


@pytest.mark.parametrize("seed", ["msrp://bob@h.example.com:8888/s1d;tcp;a=b",
                                  "msrps://[2001:db8::1]/x;tcp"])
def test_uri_fuzz(seed: str) -> None:
    rng = random.Random(seed)
    for _ in range(ROUNDS):
        text = mutate(rng, seed.encode()).decode("utf-8", "replace")
        try:
            uri = parse_uri(text)
        except MSRPParseError:
            continue
        assert parse_uri(str(uri)) == uri


def test_header_value_fuzz() -> None:
    rng = random.Random(9)
    seeds = [("Byte-Range", "1-*/300"), ("Status", "000 200 OK"), ("To-Path", ALICE + " " + BOB),
             ("Content-Type", 'text/plain; charset="utf-8"'), ("Failure-Report", "partial"),
             ("Expires", "900"), ("Message-ID", "87652491"),
             ("Use-Nickname", '"Alice \\"the\\" great"')]
    for _ in range(ROUNDS):
        name, value = rng.choice(seeds)
        text = mutate(rng, value.encode()).decode("utf-8", "replace")
        with contextlib.suppress(MSRPParseError):
            check_header(name, text)
