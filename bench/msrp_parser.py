"""Micro-benchmark: the MSRP stream parser over large SEND chunks; prints MB/s.

    python bench/msrp_parser.py [--megabytes 256] [--chunk-kib 64] [--read-kib 256]

A stream of SEND chunks of one file (random bytes, `--chunk-kib` each) is cut
into reads of `--read-kib`, as a connection hands them over, and fed to:

- parser: `StreamParser.feed`, every body piece touched (its length summed);
- session: `MSRPSession.receive` with the content streamed, as the msrp
  service will use it (reassembly ranges, a 200 per chunk);

against two baselines over the same reads in the same run:

- find: `bytes.find` of the end-line over every read (the least any parser
  that looks for the end-line does);
- memcpy: each read copied into a preallocated buffer (a cache-hot copy, the
  least any handling of the bytes costs);
- tcp: the whole stream sent over a loopback TCP connection by a thread and
  received with `recv_into` in reads of the same size, nothing parsed: the
  raw TCP copy that issue 14 sets the file transfer against (>= 30%).

Best of `--rounds` for each, so that noise from other work weighs least.
"""

from __future__ import annotations

import argparse
import os
import socket
import threading
import time
from collections.abc import Callable

from sipsimple_services.msrp.protocol.message import MSRPRequest
from sipsimple_services.msrp.protocol.parser import BodyData, StreamParser
from sipsimple_services.msrp.protocol.session import MSRPSession
from sipsimple_services.msrp.protocol.uri import parse_uri

ALICE = "msrp://alice.example.com:7777/iau39soe2843z;tcp"
BOB = "msrp://bob.example.com:8888/9di4eae923wzd;tcp"


def make_stream(megabytes: int, chunk_size: int) -> tuple[bytes, int]:
    total = megabytes * 1024 * 1024
    body = os.urandom(chunk_size)  # one random chunk, reused: generating is not measured
    parts = []
    for index, start in enumerate(range(0, total, chunk_size)):
        size = min(chunk_size, total - start)
        head = MSRPRequest(
            f"t{index:07d}x", "SEND",
            (("To-Path", BOB), ("From-Path", ALICE), ("Message-ID", "file00000001"),
             ("Byte-Range", f"{start + 1}-{start + size}/{total}"),
             ("Content-Type", "application/octet-stream")),
            b"", "$" if start + size == total else "+",
        )
        parts += [head.head_bytes(), body[:size], head.tail_bytes()]
    return b"".join(parts), total


def _send_all(address: tuple[str, int], data: bytes) -> None:
    with socket.create_connection(address) as connection:
        connection.sendall(data)


def best(rounds: int, run: Callable[[], int]) -> tuple[float, int]:
    times = []
    result = 0
    for _ in range(rounds):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--megabytes", type=int, default=256)
    options.add_argument("--chunk-kib", type=int, default=64)
    options.add_argument("--read-kib", type=int, default=256)
    options.add_argument("--rounds", type=int, default=3)
    args = options.parse_args()
    stream, total = make_stream(args.megabytes, args.chunk_kib * 1024)
    read = args.read_kib * 1024
    reads = [stream[i : i + read] for i in range(0, len(stream), read)]

    def parse() -> int:
        parser = StreamParser()
        size = 0
        for piece in reads:
            for event in parser.feed(piece):
                if isinstance(event, BodyData):
                    size += len(event.data)
        return size

    def session() -> int:
        receiver = MSRPSession(parse_uri(BOB), (parse_uri(ALICE),),
                               stream_types=("application/*",))
        size = 0
        for piece in reads:
            for event in receiver.receive(piece, 0.0):
                data = getattr(event, "data", None)
                if data is not None:
                    size += len(data)
            receiver.outgoing(0.0)
        return size

    def find() -> int:
        marker = b"\r\n-------t"
        found = 0
        for piece in reads:
            index = piece.find(marker)
            while index >= 0:
                found += 1
                index = piece.find(marker, index + 1)
        return found

    def memcpy() -> int:
        target = bytearray(read)
        for piece in reads:
            target[: len(piece)] = piece
        return len(reads)

    def tcp() -> int:
        listener = socket.create_server(("127.0.0.1", 0))
        sender = threading.Thread(target=_send_all, args=(listener.getsockname(), stream))
        sender.start()
        connection, _ = listener.accept()
        buffer = bytearray(read)
        received = 0
        with connection, listener:
            while count := connection.recv_into(buffer):
                received += count
        sender.join()
        return received

    megabytes = len(stream) / 1e6
    results = {}
    for name, run in (("parser", parse), ("session", session), ("find", find),
                      ("memcpy", memcpy), ("tcp", tcp)):
        seconds, value = best(args.rounds, run)
        if name in ("parser", "session"):
            assert value == total, (name, value, total)
        if name == "tcp":
            assert value == len(stream), (value, len(stream))
        results[name] = megabytes / seconds
    print(f"stream: {megabytes:.0f} MB, SEND chunks of {args.chunk_kib} KiB, "
          f"reads of {args.read_kib} KiB, best of {args.rounds}")
    print(f"parser:   {results['parser']:9.0f} MB/s (StreamParser, body pieces as views)")
    print(f"session:  {results['session']:9.0f} MB/s (MSRPSession, streamed, 200 per chunk)")
    print(f"find:     {results['find']:9.0f} MB/s (baseline: bytes.find of the end-line)")
    print(f"memcpy:   {results['memcpy']:9.0f} MB/s (baseline: copy of each read)")
    print(f"tcp:      {results['tcp']:9.0f} MB/s (baseline: loopback TCP, received raw)")
    print(f"ratio parser / find:    {results['parser'] / results['find']:.2f}")
    print(f"ratio parser / memcpy:  {results['parser'] / results['memcpy']:.2f}")
    print(f"ratio session / memcpy: {results['session'] / results['memcpy']:.2f}")
    print(f"ratio parser / tcp:     {results['parser'] / results['tcp']:.2f}")
    print(f"ratio session / tcp:    {results['session'] / results['tcp']:.2f}")


if __name__ == "__main__":
    main()
