"""Files over the msrp service (RFC 5547; `transport/files.py`), two real sessions on loopback.

The sender's file is hashed by the service, read as it goes and written by
the receiving session into its directory: sizes around the chunk size,
hashes checked (200 MB with the service's peak memory well under the file's
size), a corrupt file (wrong hash) and a short one deleted, hostile
names confined to the directory, paths outside the client's directories
refused, and a chat message on the same session overtaking a large file.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from harness.msrp import call, of
from harness.notifications import Recorder

from sipsimple.bus.client import BusClient, ServiceError, get_bus
from sipsimple_services.msrp.protocol.headers import ByteRange
from sipsimple_services.msrp.protocol.parser import (
    BodyData,
    RequestEnded,
    RequestStarted,
    StreamParser,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def service(spawn_service: Callable[..., Any]) -> subprocess.Popen[bytes]:
    process: subprocess.Popen[bytes] = spawn_service("sipsimple_services.msrp", "msrp",
                                                     SIPSIMPLE_CLIENT_TIMEOUT="5")
    return process


@pytest.fixture
def bus(service: subprocess.Popen[bytes], tmp_path: Path) -> BusClient:
    client = get_bus()
    # The service reads and writes files only in the directories its client names.
    client.call("msrp", "configure", directories=[str(tmp_path)])
    return client

LARGE = 200_000_000  # bytes; about a second through the service on this machine


def peak_memory(process: subprocess.Popen[bytes]) -> int:
    """The process's peak resident set (VmHWM), in bytes."""
    for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def pair(bus: BusClient, events: Recorder, receive: dict[str, Any] | None = None
         ) -> tuple[str, str]:
    """Sender `a` (active) and receiver `b` (passive), with b expecting `receive`."""
    a = call(bus, "create_session", address="127.0.0.1")["session_id"]
    b_session = call(bus, "create_session", address="127.0.0.1")
    b = b_session["session_id"]
    if receive is not None:
        call(bus, "receive_file", session_id=b, **receive)
    a_path = call(bus, "status")["sessions"]
    path_of = {s["session_id"]: s["path"] for s in a_path}
    call(bus, "start_session", session_id=b, remote_path=[path_of[a]], active=False)
    call(bus, "start_session", session_id=a, remote_path=[b_session["path"]], active=True)
    for s in (a, b):
        events.wait(of(s, "msrp.session_started"))
    return a, b


def make_file(path: Path, size: int) -> bytes:
    data = os.urandom(size)
    path.write_bytes(data)
    return hashlib.sha1(data).digest()


def transfer(bus: BusClient, events: Recorder, source: Path, target: Path,
             name: str | None = None, **announced: Any) -> tuple[Any, str, str]:
    """Send `source` as the sender announces it; the receiver's last event."""
    selector = call(bus, "hash_file", path=str(source))
    receive = {"directory": str(target), "name": name or selector["name"],
               "size": selector["size"], "hash": selector["hash"], **announced}
    a, b = pair(bus, events, receive)
    sent = call(bus, "send_file", session_id=a, path=str(source))
    done = events.wait(lambda n: (of(b, "msrp.file_received")(n) or of(b, "msrp.file_failed")(n))
                       and n.data.message_id == sent["message_id"], timeout=60)
    return done, a, sent["message_id"]


@pytest.mark.parametrize("size", [0, 1, 65535, 65536, 65537, 5_000_000, 200_000_000])
def test_files_arrive_whole_with_their_hash(bus: BusClient, service: subprocess.Popen[bytes],
                                            events: Recorder, tmp_path: Path,
                                            size: int) -> None:
    source, target = tmp_path / "out" / "data.bin", tmp_path / "in"
    source.parent.mkdir()
    target.mkdir()
    digest = make_file(source, size)
    assert call(bus, "hash_file", path=str(source)) == \
        {"size": size, "hash": digest, "name": "data.bin"}
    done, a, message_id = transfer(bus, events, source, target)
    assert done.name == "msrp.file_received", done.data
    assert done.data.path == str(target / "data.bin") and done.data.size == size
    assert hashlib.sha1(Path(done.data.path).read_bytes()).digest() == digest
    assert os.listdir(target) == ["data.bin"]  # no partial file left
    delivered = events.wait(lambda n: of(a, "msrp.message_delivered")(n)
                            and n.data.message_id == message_id)
    assert delivered.data.code == 200
    if size:
        last = [n.data for n in events.seen if of(a, "msrp.file_progress")(n)][-1]
        assert (last.transferred, last.total) == (size, size)
    # Both sides ran in the one service process: neither held the file in memory.
    assert peak_memory(service) < 120 * 1024 * 1024


def test_a_second_file_of_the_same_name_gets_a_number(bus: BusClient, events: Recorder,
                                                      tmp_path: Path) -> None:
    source, target = tmp_path / "report.pdf", tmp_path / "in"
    target.mkdir()
    make_file(source, 1000)
    (target / "report.pdf").write_bytes(b"older")
    done, _, _ = transfer(bus, events, source, target)
    assert done.data.path == str(target / "report (1).pdf")
    assert (target / "report.pdf").read_bytes() == b"older"


@pytest.mark.parametrize("name", ["../../escape.txt", "/etc/passwd", "..", "a\0b", "CON",
                                  "x\r\n.txt", "é" * 200 + ".txt", ".hidden"])
def test_hostile_names_stay_in_the_directory(bus: BusClient, events: Recorder, tmp_path: Path,
                                             name: str) -> None:
    source, target = tmp_path / "src.txt", tmp_path / "deep" / "in"
    target.mkdir(parents=True)
    make_file(source, 100)
    done, _, _ = transfer(bus, events, source, target, name=name)
    assert done.name == "msrp.file_received", done.data
    path = Path(done.data.path)
    assert path.parent == target and path.name not in (".", "..")
    assert not path.name.startswith(".") and len(path.name.encode()) <= 255
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == sorted(
        ["src.txt", path.name])


@pytest.mark.parametrize(("change", "reason"), [
    ({"hash": bytes(20)}, "SHA-1"),
    ({"size": 70000}, "size"),
    ({"size": 50000}, "more than"),
])
def test_a_file_that_fails_its_checks_is_not_kept(bus: BusClient, events: Recorder,
                                                  tmp_path: Path, change: dict[str, Any],
                                                  reason: str) -> None:
    source, target = tmp_path / "src.bin", tmp_path / "in"
    target.mkdir()
    make_file(source, 65537)
    done, _, _ = transfer(bus, events, source, target, **change)
    assert done.name == "msrp.file_failed" and reason in done.data.reason
    assert os.listdir(target) == []


def test_a_chat_message_overtakes_a_large_file(bus: BusClient, events: Recorder,
                                               tmp_path: Path) -> None:
    source, target = tmp_path / "big.bin", tmp_path / "in"
    target.mkdir()
    # 200 MB: the file takes far longer than the chat message's few bus hops
    digest = make_file(source, LARGE)
    a, b = pair(bus, events, {"directory": str(target), "name": "big.bin",
                              "size": LARGE, "hash": digest,
                              "content_type": "application/octet-stream"})
    sent = call(bus, "send_file", session_id=a, path=str(source))
    # Once the first bytes are in, the file is under way: the chat message
    # queued now goes between two of its chunks.
    events.wait(of(b, "msrp.file_progress"))
    chat = call(bus, "send_message", session_id=a, content_type="text/plain", body=b"hi")
    got = events.wait(of(b, "msrp.message_received"))
    assert got.data.message_id == chat["message_id"]
    received = events.wait(of(b, "msrp.file_received"), timeout=120)
    assert received.data.message_id == sent["message_id"]
    names = [n for n in events.seen if n.name in ("msrp.message_received", "msrp.file_received")]
    assert [n.name for n in names] == ["msrp.message_received", "msrp.file_received"]


def test_bad_file_requests_are_refused(bus: BusClient, events: Recorder, tmp_path: Path) -> None:
    a, b = pair(bus, events)
    for method, params in [
        ("send_file", {"session_id": a, "path": "relative.txt"}),
        ("receive_file", {"session_id": b, "directory": "relative", "name": "x"}),
        ("receive_file", {"session_id": b, "directory": str(tmp_path / "none"), "name": "x"}),
        ("receive_file", {"session_id": b, "directory": str(tmp_path), "name": "x",
                          "hash": b"short"}),
        ("hash_file", {"path": "relative"}),
    ]:
        with pytest.raises(ServiceError) as error:
            call(bus, method, **params)
        assert error.value.code == "invalid-params"
    with pytest.raises(ServiceError) as error:
        call(bus, "send_file", session_id=a, path=str(tmp_path / "missing"))
    assert error.value.code == "failed"


def test_an_interrupted_transfer_resumes_from_what_arrived(bus: BusClient, events: Recorder,
                                                           tmp_path: Path) -> None:
    # RFC 5547 8.2: the receiver keeps the bytes that came in order; a new
    # session sends the rest from there and the whole file is checked.
    source, target = tmp_path / "big.bin", tmp_path / "in"
    target.mkdir()
    size = LARGE  # far longer to send than the end_session that cuts it
    digest = make_file(source, size)
    receive = {"directory": str(target), "name": "big.bin", "size": size, "hash": digest}
    a, b = pair(bus, events, receive)
    call(bus, "send_file", session_id=a, path=str(source))
    events.wait(of(b, "msrp.file_progress"))
    call(bus, "end_session", session_id=a)  # the sender goes away mid-transfer
    failed = events.wait(lambda n: of(b, "msrp.file_failed")(n) or of(b, "msrp.file_received")(n))
    assert failed.name == "msrp.file_failed", "the transfer ended before it was cut"
    partial, received = failed.data.partial, failed.data.received
    assert partial is not None and Path(partial).parent == target
    assert 0 < received < size and Path(partial).stat().st_size == received
    assert os.listdir(target) == [Path(partial).name]  # nothing under the final name
    # Named after the file's hash: a new offer of the same file finds it.
    assert Path(partial).name == f".sipsimple-{digest.hex()[:16]}.partial"
    assert call(bus, "find_partial", directory=str(target), size=size, hash=digest) == \
        {"partial": partial, "received": received}
    for other_size, other_hash in ((size, bytes(20)), (received, digest)):
        assert call(bus, "find_partial", directory=str(target), size=other_size,
                    hash=other_hash) == {"partial": None, "received": 0}

    c, d = pair(bus, events, {**receive, "partial": partial})
    sent = call(bus, "send_file", session_id=c, path=str(source), offset=received)
    done = events.wait(lambda n: (of(d, "msrp.file_received")(n) or of(d, "msrp.file_failed")(n))
                       and n.data.message_id == sent["message_id"], timeout=60)
    assert done.name == "msrp.file_received", done.data
    assert done.data.path == str(target / "big.bin")
    assert hashlib.sha1((target / "big.bin").read_bytes()).digest() == digest
    assert os.listdir(target) == ["big.bin"]
    progress = [n.data for n in events.seen if of(c, "msrp.file_progress")(n)]
    assert progress[-1].transferred == size


def test_a_resume_names_only_a_partial_file_of_the_directory(bus: BusClient, events: Recorder,
                                                            tmp_path: Path) -> None:
    _, b = pair(bus, events)
    (tmp_path / "in").mkdir()
    other = tmp_path / "in" / "photo.jpg"
    other.write_bytes(b"x")
    outside = tmp_path / ".sipsimple-0123456789abcdef.partial"
    outside.write_bytes(b"x")
    for partial in (str(other), str(outside), str(tmp_path / "in" / "../in/../x.partial")):
        with pytest.raises(ServiceError) as error:
            call(bus, "receive_file", session_id=b, directory=str(tmp_path / "in"), name="a",
                 partial=partial)
        assert error.value.code == "invalid-params"


def test_paths_outside_the_configured_directories_are_forbidden(
        bus: BusClient, events: Recorder, tmp_path: Path, tmp_path_factory: Any) -> None:
    a, b = pair(bus, events)
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    secret = elsewhere / "secret.txt"
    secret.write_bytes(b"not yours")
    (tmp_path / "link").symlink_to(elsewhere)  # inside by name, outside in fact
    for method, params in [
        ("hash_file", {"path": str(secret)}),
        ("hash_file", {"path": str(tmp_path / "link" / "secret.txt")}),
        ("hash_file", {"path": str(tmp_path / ".." / secret.parent.name / "secret.txt")}),
        ("send_file", {"session_id": a, "path": str(secret)}),
        ("receive_file", {"session_id": b, "directory": str(elsewhere), "name": "x"}),
        ("receive_file", {"session_id": b, "directory": str(tmp_path / "link"), "name": "x"}),
        ("find_partial", {"directory": str(elsewhere), "size": 9, "hash": bytes(20)}),
    ]:
        with pytest.raises(ServiceError) as error:
            call(bus, method, **params)
        assert error.value.code == "forbidden", (method, params)
        assert "outside the directories for file transfers" in error.value.message
    # Configuring replaces what the client named before.
    assert call(bus, "configure", directories=[str(elsewhere)])["directories"][-1] == \
        str(elsewhere.resolve())
    assert call(bus, "hash_file", path=str(secret))["size"] == 9
    with pytest.raises(ServiceError) as error:
        call(bus, "hash_file", path=str(tmp_path / "x"))
    assert error.value.code == "forbidden"
    with pytest.raises(ServiceError) as error:
        call(bus, "configure", directories=["relative"])
    assert error.value.code == "invalid-params"


def test_a_direct_peer_gets_a_file_in_chunks_of_a_mebibyte(bus: BusClient, events: Recorder,
                                                         tmp_path: Path) -> None:
    # What a chunk costs (its head, its 200, the calls around it) is paid per MiB on a
    # direct connection; through a relay the chunks stay at 64 KiB.
    mib = 1024 * 1024
    source = tmp_path / "big.bin"
    data = os.urandom(3 * mib + 5)
    source.write_bytes(data)
    sender = call(bus, "create_session", address="127.0.0.1")
    fake = "msrp://127.0.0.1:9/bigreader;tcp"
    call(bus, "start_session", session_id=sender["session_id"], remote_path=[fake],
         active=False)
    with socket.create_connection(("127.0.0.1", sender["port"])) as peer:
        peer.sendall((f"MSRP tr01 SEND\r\nTo-Path: {sender['path']}\r\nFrom-Path: {fake}\r\n"
                      "Message-ID: bind1\r\nByte-Range: 1-0/0\r\n-------tr01$\r\n").encode())
        events.wait(of(sender["session_id"], "msrp.session_started"))
        call(bus, "send_file", session_id=sender["session_id"], path=str(source))
        parser, ranges, body, done = StreamParser(), [], bytearray(), False
        peer.settimeout(30)
        while not done:
            read = peer.recv(mib)
            assert read, "the service closed the connection"
            for event in parser.feed(read):
                if isinstance(event, RequestStarted) and event.has_body:
                    ranges.append(event.request.byte_range)
                    tid = event.request.transaction_id
                    peer.sendall((f"MSRP {tid} 200 OK\r\nTo-Path: {sender['path']}\r\n"
                                  f"From-Path: {fake}\r\n-------{tid}$\r\n").encode())
                elif isinstance(event, BodyData):
                    body += event.data
                elif isinstance(event, RequestEnded) and event.continuation == "$":
                    done = event.size > 0
    total = len(data)
    assert ranges == [ByteRange(1, mib, total), ByteRange(mib + 1, 2 * mib, total),
                      ByteRange(2 * mib + 1, 3 * mib, total), ByteRange(3 * mib + 1, total, total)]
    assert bytes(body) == data


def test_the_sender_reads_its_connection_while_a_file_goes(bus: BusClient, events: Recorder,
                                                           tmp_path: Path) -> None:
    # The file is queued before the peer connects: the connection's reader must not
    # be the one that sends it, or nothing is read until the whole file went (the
    # chunks' responses then timed out after 30 s and failed the transfer).
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(64 * 1024 * 1024))  # far more than the socket buffers
    sender = call(bus, "create_session", address="127.0.0.1")
    fake = "msrp://127.0.0.1:9/stalledpeer;tcp"
    call(bus, "start_session", session_id=sender["session_id"], remote_path=[fake],
         active=False)
    call(bus, "send_file", session_id=sender["session_id"], path=str(source))
    with socket.create_connection(("127.0.0.1", sender["port"])) as peer:
        # The peer binds, then reads nothing: the file's sending waits on the full
        # socket buffers; what the peer sends must still be read and answered.
        peer.sendall((f"MSRP tr01 SEND\r\nTo-Path: {sender['path']}\r\nFrom-Path: {fake}\r\n"
                      "Message-ID: bind1\r\nByte-Range: 1-0/0\r\n-------tr01$\r\n").encode())
        events.wait(of(sender["session_id"], "msrp.session_started"))
        peer.sendall((f"MSRP tr02 SEND\r\nTo-Path: {sender['path']}\r\nFrom-Path: {fake}\r\n"
                      "Message-ID: chat1\r\nByte-Range: 1-5/5\r\nContent-Type: text/plain\r\n"
                      "\r\nhello\r\n-------tr02$\r\n").encode())
        got = events.wait(of(sender["session_id"], "msrp.message_received"), timeout=30)
        assert got.data.body == b"hello"


def test_bytes_before_our_start_are_held_back_and_kept_in_order(
        bus: BusClient, service: subprocess.Popen[bytes], events: Recorder,
        tmp_path: Path) -> None:
    # A peer may connect and send before our side starts (its answer got there
    # first): the service reads 1 MiB of it at most (TCP holds the rest back; it was
    # read whole into memory), then takes it all in order once started.
    mib = 1024 * 1024
    target = tmp_path / "in"
    target.mkdir()
    data = os.urandom(LARGE)
    receiver = call(bus, "create_session", address="127.0.0.1")
    call(bus, "receive_file", session_id=receiver["session_id"], directory=str(target),
         name="early.bin", size=len(data), hash=hashlib.sha1(data).digest())
    fake = "msrp://127.0.0.1:9/earlypeer;tcp"
    head = f"To-Path: {receiver['path']}\r\nFrom-Path: {fake}\r\nMessage-ID: file1\r\n"
    with socket.create_connection(("127.0.0.1", receiver["port"])) as peer:
        peer.sendall((f"MSRP tr00 SEND\r\nTo-Path: {receiver['path']}\r\nFrom-Path: {fake}\r\n"
                      "Message-ID: bind1\r\nByte-Range: 1-0/0\r\n-------tr00$\r\n").encode())

        def send_all() -> None:
            with contextlib.suppress(OSError):  # closed under it if the test fails
                for index, start in enumerate(range(0, len(data), mib)):
                    piece = data[start:start + mib]
                    end = start + len(piece)
                    flag = "$" if end == len(data) else "+"
                    peer.sendall(f"MSRP t{index:05d} SEND\r\n{head}Byte-Range: {start + 1}-{end}"
                                 f"/{len(data)}\r\nContent-Type: application/octet-stream\r\n"
                                 "\r\n".encode() + piece + f"\r\n-------t{index:05d}{flag}\r\n"
                                 .encode())

        sender = threading.Thread(target=send_all)
        sender.start()
        # Time for the service to read what it would: with no bound, all of it.
        sender.join(timeout=5)
        call(bus, "start_session", session_id=receiver["session_id"], remote_path=[fake],
             active=False)
        done = events.wait(lambda n: of(receiver["session_id"], "msrp.file_received")(n)
                           or of(receiver["session_id"], "msrp.file_failed")(n), timeout=120)
        sender.join(timeout=60)
    assert done.name == "msrp.file_received", done.data
    assert hashlib.sha1((target / "early.bin").read_bytes()).digest() == \
        hashlib.sha1(data).digest()
    assert peak_memory(service) < 120 * mib  # not the 200 MB the peer sent early
