"""FileTransferStream between two accounts through real services (signalling, dns, msrp).

alice offers a file (sendonly, a=file-selector with the SHA-1 the msrp
service computed); bob's side becomes a recvonly FileTransferStream that
writes into file_transfer.directory. Sizes around the chunk size and 5 MB,
hash checked; a hostile offered name stays in the directory; a chat stream
in the same call keeps working while a large file goes; an interrupted
transfer resumes with a=file-range (RFC 5547 8.2).
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from harness.audio import audio_services, wait_until
from harness.notifications import Recorder
from harness.sessions import facade

from sipsimple.account import Account
from sipsimple.bus.client import get_bus
from sipsimple.configuration.settings import SIPSimpleSettings
from sipsimple.core import SIPURI, Route, ToHeader
from sipsimple.core.sdp import parse_sdp
from sipsimple.notification import Notification, NotificationCenter
from sipsimple.session import Session
from sipsimple.streams import (
    ChatStream,
    FileSelector,
    FileTransferStream,
    InvalidStreamError,
    MediaStreamRegistry,
    UnknownStreamError,
)
from sipsimple.streams.msrp import FileRange, file_selector_for

pytestmark = pytest.mark.integration

DOMAIN = "sip.test"
LARGE = 200_000_000  # bytes: about a second through the services


@pytest.fixture
def services(spawn_service: Callable[..., Any]) -> dict[str, Any]:
    return audio_services(spawn_service, msrp=True)


@pytest.fixture
def downloads(tmp_path: Path) -> Path:
    return tmp_path / "downloads"


@pytest.fixture
def accounts(services: dict[str, Any], downloads: Path) -> Iterator[dict[str, Account]]:
    with facade(["alice", "bob"]) as created:
        settings = SIPSimpleSettings()
        settings.file_transfer.directory = str(downloads)
        settings.save()
        yield created


def by(sender: object, name: str) -> Callable[[Notification], bool]:
    return lambda n: n.name == name and n.sender is sender


def call(events: Recorder, caller: Account, streams: list[Any],
         prepare: Callable[[Any], None] = lambda stream: None) -> tuple[Session, list[Any]]:
    ports = get_bus().call("signalling", "get_transports")
    earlier = [id(n) for n in events.named("SIPSessionNewIncoming")]
    session = Session(caller)
    session.connect(ToHeader(SIPURI(user="bob", host=DOMAIN)),
                    [Route("127.0.0.1", ports["udp"], "udp")], streams)
    new = events.wait(lambda n: n.name == "SIPSessionNewIncoming" and id(n) not in earlier)
    answering: Session = new.sender
    offered = list(new.data.streams)
    for stream in offered:
        prepare(stream)
    answering.accept(offered)
    events.wait(by(session, "SIPSessionDidStart"))
    events.wait(by(answering, "SIPSessionDidStart"))
    return session, offered


def send(events: Recorder, alice: Account, source: Path, name: str | None = None
         ) -> tuple[FileTransferStream, FileTransferStream, Notification]:
    selector = file_selector_for(str(source))
    if name is not None:
        selector = FileSelector(name, selector.type, selector.size, selector.hash,
                                path=selector.path)
    stream = FileTransferStream(alice, selector)
    _, [theirs] = call(events, alice, [stream])
    assert type(theirs) is FileTransferStream and theirs.direction == "recvonly"
    assert theirs.file_selector == selector
    done = events.wait(by(theirs, "FileTransferStreamDidFinish"), timeout=60)
    events.wait(by(stream, "FileTransferStreamDidFinish"), timeout=60)
    return stream, theirs, done


def test_registered_before_chat() -> None:
    assert MediaStreamRegistry.get("file-transfer") is FileTransferStream
    order = list(MediaStreamRegistry)
    assert order.index(FileTransferStream) < order.index(ChatStream)


def test_new_from_sdp_takes_only_offered_files() -> None:
    def offer(extra: str) -> Any:
        text = ("v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\n"
                "m=message 2855 TCP/MSRP *\na=path:msrp://192.0.2.1:2855/ab;tcp\n"
                f"a=accept-types:*\n{extra}")
        return parse_sdp(text.replace("\n", "\r\n"))
    with pytest.raises(UnknownStreamError):
        FileTransferStream.new_from_sdp(None, offer("a=sendrecv\n"), 0)
    with pytest.raises(InvalidStreamError):  # the peer asks us for a file: not supported
        FileTransferStream.new_from_sdp(None, offer('a=recvonly\na=file-selector:name:"x"\n'), 0)
    with pytest.raises(InvalidStreamError):
        FileTransferStream.new_from_sdp(None, offer("a=sendonly\na=file-selector:size:x\n"), 0)
    stream = FileTransferStream.new_from_sdp(
        None, offer('a=sendonly\na=file-selector:name:"a b.txt" size:3\n'
                    "a=file-transfer-id:abc123\n"), 0)
    assert stream.file_selector == FileSelector("a b.txt", size=3)
    assert stream.transfer_id == "abc123" and stream.direction == "recvonly"
    assert stream.file_range is None  # no a=file-range: the peer does not resume
    ranged = FileTransferStream.new_from_sdp(
        None, offer('a=sendonly\na=file-selector:size:9\na=file-range:4-*\n'), 0)
    assert ranged.file_range == FileRange(3)
    with pytest.raises(InvalidStreamError):
        FileTransferStream.new_from_sdp(
            None, offer('a=sendonly\na=file-selector:size:9\na=file-range:0-*\n'), 0)
    with pytest.raises(ValueError):
        FileTransferStream(None)  # sending needs a file


@pytest.mark.parametrize("size", [0, 1, 65535, 65537, 5_000_000])
def test_a_file_arrives_whole(accounts: dict[str, Account], events: Recorder, tmp_path: Path,
                              downloads: Path, size: int) -> None:
    source = tmp_path / "photo.jpg"
    data = os.urandom(size)
    source.write_bytes(data)
    stream, theirs, done = send(events, accounts["alice"], source)
    assert done.data.error is None
    assert done.data.file_path == str(downloads / "photo.jpg") == theirs.file_path
    assert hashlib.sha1(Path(done.data.file_path).read_bytes()).digest() == \
        hashlib.sha1(data).digest()
    assert os.listdir(downloads) == ["photo.jpg"]
    finished = events.wait(by(stream, "FileTransferStreamDidFinish"))
    assert finished.data.error is None
    if size:
        delivered = [n.data for n in events.seen
                     if by(stream, "FileTransferStreamDidDeliverChunk")(n)]
        assert delivered[-1].transferred_bytes == delivered[-1].file_size == size
        chunks = [n.data for n in events.seen if by(theirs, "FileTransferStreamGotChunk")(n)]
        assert chunks and chunks[0].file_size == size and chunks[0].content is None


def test_a_file_whose_last_event_comes_after_the_end_is_still_received(
        accounts: dict[str, Account], events: Recorder, tmp_path: Path,
        downloads: Path) -> None:
    """Bob hangs up as the file completes, and the msrp service's file_received
    reaches his facade only after his stream ended its session (as when the
    sender's BYE, through the signalling service, overtakes it): the stream waits
    for the service's session_ended, which follows every event of the session, so
    the file is received, not reported cut short."""
    source = tmp_path / "late.bin"
    source.write_bytes(os.urandom(100_000))
    held, release = threading.Event(), threading.Event()

    class Hold:  # called before the routes to the streams: observes the bus as sender
        def handle_notification(self, notification: Notification) -> None:
            held.set()
            release.wait(30)

    hold = Hold()
    NotificationCenter().add_observer(hold, name="msrp.file_received", sender=get_bus())
    try:
        stream = FileTransferStream(accounts["alice"], file_selector_for(str(source)))
        _, [theirs] = call(events, accounts["alice"], [stream])
        assert held.wait(30)  # the file is whole at the service; its event waits
        session_id = theirs.msrp_session_id
        ending = threading.Thread(target=theirs.end)  # as the session's end does
        ending.start()
        wait_until(lambda: session_id not in {
            s["session_id"] for s in get_bus().call("msrp", "status")["sessions"]},
            "bob's msrp session was not ended")
    finally:
        release.set()
        NotificationCenter().discard_observer(hold, name="msrp.file_received",
                                              sender=get_bus())
    ending.join(10)
    done = events.wait(by(theirs, "FileTransferStreamDidFinish"))
    assert done.data.error is None
    assert Path(done.data.file_path).read_bytes() == source.read_bytes()


def test_the_offer_carries_the_file_selector(accounts: dict[str, Account], events: Recorder,
                                            tmp_path: Path) -> None:
    source = tmp_path / "notes.txt"
    source.write_bytes(b"hello")
    selector = file_selector_for(str(source), "text/plain")
    stream = FileTransferStream(accounts["alice"], selector)
    session, [theirs] = call(events, accounts["alice"], [stream])
    sdp = str(session.local_sdp)
    assert "a=sendonly" in sdp and "a=file-disposition:attachment" in sdp
    assert f"a=file-transfer-id:{stream.transfer_id}" in sdp
    assert 'a=file-selector:name:"notes.txt" type:text/plain size:5 hash:sha-1:' + \
        ":".join(f"{b:02X}" for b in hashlib.sha1(b"hello").digest()) in sdp
    events.wait(by(theirs, "FileTransferStreamDidFinish"))


@pytest.mark.parametrize("name", ["../../../outside.txt", "/tmp/abs.txt", "..", "CON"])
def test_a_hostile_name_stays_in_the_directory(accounts: dict[str, Account], events: Recorder,
                                               tmp_path: Path, downloads: Path,
                                               name: str) -> None:
    source = tmp_path / "src" / "a.bin"
    source.parent.mkdir()
    source.write_bytes(b"x" * 1000)
    _, _, done = send(events, accounts["alice"], source, name)
    assert done.data.error is None
    path = Path(done.data.file_path)
    assert path.parent == downloads and path.read_bytes() == b"x" * 1000
    outside = [p for p in tmp_path.rglob("*") if p.is_file() and downloads not in p.parents]
    assert outside == [source]


def test_chat_goes_on_during_a_large_transfer(accounts: dict[str, Account], events: Recorder,
                                              tmp_path: Path, downloads: Path) -> None:
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(20_000_000))
    alice = accounts["alice"]
    chat, transfer = ChatStream(alice), FileTransferStream(alice, file_selector_for(str(source)))
    _, offered = call(events, alice, [chat, transfer])
    theirs_chat, theirs_file = offered
    assert type(theirs_chat) is ChatStream and type(theirs_file) is FileTransferStream
    events.wait(by(theirs_file, "FileTransferStreamGotChunk"))
    chat.send_message("during the transfer")
    got = events.wait(by(theirs_chat, "ChatStreamGotMessage"))
    assert got.data.message.content == b"during the transfer"
    done = events.wait(by(theirs_file, "FileTransferStreamDidFinish"), timeout=120)
    assert done.data.error is None
    assert Path(done.data.file_path).stat().st_size == 20_000_000


def test_got_chunk_carries_the_bytes_when_asked(accounts: dict[str, Account], events: Recorder,
                                                tmp_path: Path, downloads: Path) -> None:
    source = tmp_path / "data.bin"
    data = os.urandom(300_000)
    source.write_bytes(data)
    stream = FileTransferStream(accounts["alice"], file_selector_for(str(source)))

    def wants_content(theirs: Any) -> None:
        theirs.deliver_content = True

    _, [theirs] = call(events, accounts["alice"], [stream], wants_content)
    done = events.wait(by(theirs, "FileTransferStreamDidFinish"), timeout=60)
    assert done.data.error is None
    chunks = [n.data for n in events.seen if by(theirs, "FileTransferStreamGotChunk")(n)]
    assert b"".join(chunk.content for chunk in chunks) == data
    assert chunks[-1].transferred_bytes == chunks[-1].file_size == len(data)
    assert Path(done.data.file_path).read_bytes() == data


def test_an_interrupted_transfer_resumes_with_a_file_range(
        accounts: dict[str, Account], events: Recorder, tmp_path: Path, downloads: Path) -> None:
    # RFC 5547 8.2: a new offer of the same file; the receiver answers with the
    # range it still needs and continues its kept part; the hash covers the whole.
    source = tmp_path / "big.bin"
    digest = hashlib.sha1()
    with source.open("wb") as file:
        for _ in range(LARGE // 1_000_000):  # far longer to send than the BYE that cuts it
            piece = os.urandom(1_000_000)
            digest.update(piece)
            file.write(piece)
    alice = accounts["alice"]
    first = FileTransferStream(alice, file_selector_for(str(source)))
    session, [theirs] = call(events, alice, [first])
    events.wait(by(theirs, "FileTransferStreamGotChunk"))
    session.end()
    cut = events.wait(by(theirs, "FileTransferStreamDidFinish"), timeout=60)
    assert cut.data.error is not None, "the transfer ended before it was cut"
    [kept] = os.listdir(downloads)  # the kept part only: nothing under the final name
    assert kept.startswith(".sipsimple-") and kept.endswith(".partial")
    have = (downloads / kept).stat().st_size
    assert 0 < have < LARGE

    again = FileTransferStream(alice, file_selector_for(str(source)))
    session, [theirs] = call(events, alice, [again])
    assert "a=file-range:1-*" in str(session.local_sdp)
    assert f"a=file-range:{have + 1}-*" in str(session.remote_sdp)
    assert theirs.partial == str(downloads / kept)
    done = events.wait(by(theirs, "FileTransferStreamDidFinish"), timeout=120)
    assert done.data.error is None
    assert again.file_range == theirs.file_range == FileRange(have)  # sent from there
    sent = events.wait(by(again, "FileTransferStreamDidFinish"), timeout=60)
    assert sent.data.error is None
    assert done.data.file_path == str(downloads / "big.bin")
    assert os.listdir(downloads) == ["big.bin"]
    check = hashlib.sha1()
    with open(done.data.file_path, "rb") as file:
        while piece := file.read(1 << 20):
            check.update(piece)
    assert check.digest() == digest.digest()


def test_without_a_kept_part_the_whole_file_is_asked_for(
        accounts: dict[str, Account], events: Recorder, tmp_path: Path, downloads: Path) -> None:
    source = tmp_path / "small.bin"
    source.write_bytes(os.urandom(100_000))
    downloads.mkdir()
    # A part of another file (another hash) is not taken for this one.
    (downloads / ".sipsimple-0123456789abcdef.partial").write_bytes(b"x" * 10)
    stream = FileTransferStream(accounts["alice"], file_selector_for(str(source)),
                                file_range=FileRange(5000))
    session, [theirs] = call(events, accounts["alice"], [stream])
    assert "a=file-range:5001-*" in str(session.local_sdp)
    assert "a=file-range:1-*" in str(session.remote_sdp)
    done = events.wait(by(theirs, "FileTransferStreamDidFinish"), timeout=60)
    assert done.data.error is None and theirs.partial is None
    assert Path(done.data.file_path).read_bytes() == source.read_bytes()
