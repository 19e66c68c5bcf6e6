"""DesktopSharingStream between two accounts through real services (signalling, dns, msrp).

alice calls bob with an m=application MSRP stream of application/x-rfb; the
RFB protocol (tests/harness/rfb.py, written for the tests) runs end to end:
between the two internal handlers (the bytes cross the bus), between an
internal handler and an external one (a real TCP RFB server or viewer of the
test on loopback: the msrp service splices it), and between two external
ones; and a real desktop: Xvfb with a known picture, x11vnc sharing it,
vncdotool viewing it through the whole chain. The failures: a VNC server
not listening, a viewer that never connects, a server that goes away
mid-session, a hang-up mid-session; after each nothing is left listening or
running in the msrp service.
"""

from __future__ import annotations

import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from harness.audio import audio_services, wait_until
from harness.desktop import needs_desktop, vncdo, x11vnc, xdisplay
from harness.notifications import Recorder
from harness.rfb import HandlerChannel, RFBServer, RFBViewer, SocketChannel, pattern
from harness.sessions import facade
from hypothesis import given
from hypothesis import strategies as st

from sipsimple.account import Account
from sipsimple.bus.client import get_bus
from sipsimple.core import SIPURI, Route, ToHeader
from sipsimple.core.sdp import parse_sdp
from sipsimple.notification import Notification
from sipsimple.session import Session
from sipsimple.streams import (
    AudioStream,
    DesktopSharingStream,
    ExternalVNCServerHandler,
    ExternalVNCViewerHandler,
    InternalVNCServerHandler,
    InternalVNCViewerHandler,
    InvalidStreamError,
    MediaStreamRegistry,
    UnknownStreamError,
)
from sipsimple.streams.msrp import DesktopSharingError

pytestmark = pytest.mark.integration

DOMAIN = "sip.test"
XK_A = 0x61


@pytest.fixture
def services(spawn_service: Callable[..., Any]) -> dict[str, Any]:
    return audio_services(spawn_service, msrp=True)


@pytest.fixture
def accounts(services: dict[str, Any]) -> Iterator[dict[str, Account]]:
    with facade(["alice", "bob"]) as created:
        yield created


def by(sender: object, name: str) -> Callable[[Notification], bool]:
    return lambda n: n.name == name and n.sender is sender


def call(events: Recorder, caller: Account, streams: list[Any],
         prepare: Callable[[Any], None] = lambda stream: None, started: bool = True,
         ) -> tuple[Session, Session, list[Any]]:
    """The call set up; with `started` False, not waited for further than bob's accept
    (a stream that fails at once may end the call before alice's side started)."""
    ports = get_bus().call("signalling", "get_transports")
    session = Session(caller)
    session.connect(ToHeader(SIPURI(user="bob", host=DOMAIN)),
                    [Route("127.0.0.1", ports["udp"], "udp")], streams)
    new = events.wait("SIPSessionNewIncoming")
    answering: Session = new.sender
    offered = list(new.data.streams)
    for stream in offered:
        prepare(stream)
    answering.accept(offered)
    if started:
        events.wait(by(session, "SIPSessionDidStart"))
        events.wait(by(answering, "SIPSessionDidStart"))
    return session, answering, offered


def share(events: Recorder, alice: Account, ours: Any, theirs: Any, started: bool = True,
          ) -> tuple[Session, Session, DesktopSharingStream, DesktopSharingStream]:
    """alice offers a stream with handler `ours`; bob's gets `theirs` before accepting."""
    stream = DesktopSharingStream(alice, ours)

    def prepare(offered: Any) -> None:
        assert type(offered) is DesktopSharingStream
        offered.handler = theirs

    session, answering, [incoming] = call(events, alice, [stream], prepare, started)
    return session, answering, stream, incoming


def tcp_server() -> socket.socket:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    return listener


def serve_once(listener: socket.socket, width: int, height: int,
               pixels: bytes) -> tuple[threading.Event, list[RFBServer]]:
    """An RFB server of the test: accepts one viewer on `listener`, in a thread."""
    served: list[RFBServer] = []
    ready = threading.Event()

    def run() -> None:
        sock, _ = listener.accept()
        listener.close()
        served.append(RFBServer(SocketChannel(sock), width, height, pixels))
        ready.set()
        served[0]._run()

    threading.Thread(target=run, daemon=True).start()
    return ready, served


def closed_port() -> socket.socket:
    """A port bound but not listening: connections to it are refused, and no other
    process can take it meanwhile."""
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    return probe


def refused(address: tuple[str, int]) -> bool:
    """The msrp service no longer listens on `address`'s port. Read from /proc (its
    descriptors, the TCP tables): a connection attempt could reach another process
    that took the freed port meanwhile."""
    pid = get_bus().ping("msrp")["pid"]
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = fd.readlink().name
        except OSError:
            continue  # closed meanwhile
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    wanted = f":{address[1]:04X}"
    for table in (Path("/proc/net/tcp"), Path("/proc/net/tcp6")):
        for line in table.read_text().splitlines()[1:]:
            fields = line.split()
            if fields[1].endswith(wanted) and fields[3] == "0A" and fields[9] in inodes:
                return False
    return True


def nothing_left() -> bool:
    status = get_bus().call("msrp", "status")
    return not status["sessions"] and status["splice_listeners"] == 0


def test_registered_as_the_desktop_sharing_type() -> None:
    assert MediaStreamRegistry.get("desktop-sharing") is DesktopSharingStream
    assert MediaStreamRegistry.DesktopSharingStream is DesktopSharingStream


def offer(extra: str, accept: str = "application/x-rfb") -> Any:
    text = ("v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\n"
            "m=application 2855 TCP/MSRP *\na=path:msrp://192.0.2.1:2855/ab;tcp\n"
            f"a=accept-types:{accept}\n{extra}")
    return parse_sdp(text.replace("\n", "\r\n"))


def test_new_from_sdp_takes_the_other_rfb_role() -> None:
    viewer_offer = DesktopSharingStream.new_from_sdp(None, offer("a=rfbsetup:active\n"), 0)
    assert viewer_offer.rfbsetup == "passive" and viewer_offer.handler is None
    server_offer = DesktopSharingStream.new_from_sdp(None, offer("a=rfbsetup:passive\n"), 0)
    assert server_offer.rfbsetup == "active"
    # the original SDK's reading of an offer without it: a viewer's
    assert DesktopSharingStream.new_from_sdp(None, offer(""), 0).rfbsetup == "passive"
    with pytest.raises(InvalidStreamError):
        DesktopSharingStream.new_from_sdp(None, offer("a=rfbsetup:both\n"), 0)
    with pytest.raises(UnknownStreamError):
        DesktopSharingStream.new_from_sdp(None, offer("", accept="text/plain"), 0)
    # a handler of the wrong kind for the offer is refused at once
    with pytest.raises(ValueError, match="VNC server"):
        viewer_offer.handler = InternalVNCViewerHandler()
    viewer_offer.handler = InternalVNCServerHandler()
    with pytest.raises(TypeError):
        viewer_offer.handler = object()  # type: ignore[assignment]


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=20))
def test_any_rfbsetup_value_is_taken_or_refused(value: str) -> None:
    """Whatever a peer writes in a=rfbsetup: a role, or InvalidStreamError (488)."""
    try:
        sdp = offer(f"a=rfbsetup:{value}\n")
    except Exception:  # the SDP parser refused the line itself (its own tests cover that)
        return
    try:
        stream = DesktopSharingStream.new_from_sdp(None, sdp, 0)
    except InvalidStreamError:
        assert value.strip().lower() not in ("active", "passive", "")
        return
    assert stream.rfbsetup == {"active": "passive", "passive": "active", "": "passive"}[
        value.strip().lower()]


def test_the_internal_viewer_and_server(accounts: dict[str, Account], events: Recorder) -> None:
    viewer, server = InternalVNCViewerHandler(), InternalVNCServerHandler()
    pixels = pattern(640, 480)  # 1.2 MB: more than one bus message
    server_channel, viewer_channel = HandlerChannel(server), HandlerChannel(viewer)
    session, answering, stream, theirs = share(events, accounts["alice"], viewer, server)
    assert "a=rfbsetup:active" in str(session.local_sdp)
    assert "a=accept-types:application/x-rfb" in str(session.local_sdp)
    assert "m=application" in str(session.local_sdp)
    assert "a=rfbsetup:passive" in str(answering.local_sdp)
    events.wait(by(theirs, "MediaStreamDidStart"))
    events.wait(by(stream, "MediaStreamDidStart"))
    rfb_server = RFBServer(server_channel, 640, 480, pixels).start()
    rfb_viewer = RFBViewer(viewer_channel)
    init = rfb_viewer.handshake()
    assert (init.width, init.height, init.name) == (640, 480, "test desktop")
    assert rfb_viewer.frame() == pixels
    rfb_viewer.key(XK_A)
    assert rfb_viewer.frame() == pixels  # after the key event, in order
    assert rfb_server.keys == [(True, XK_A), (False, XK_A)] and rfb_server.updates == 2
    session.end()
    events.wait(by(answering, "SIPSessionDidEnd"))
    rfb_server.done.wait(10)
    wait_until(nothing_left, "the msrp service has nothing left")
    with pytest.raises(DesktopSharingError):
        viewer.send(b"after the end")


def test_an_incoming_stream_without_a_handler_fails(accounts: dict[str, Account],
                                                    events: Recorder) -> None:
    stream = DesktopSharingStream(accounts["alice"], InternalVNCViewerHandler())
    ports = get_bus().call("signalling", "get_transports")
    session = Session(accounts["alice"])
    session.connect(ToHeader(SIPURI(user="bob", host=DOMAIN)),
                    [Route("127.0.0.1", ports["udp"], "udp")], [stream])
    new = events.wait("SIPSessionNewIncoming")
    [theirs] = new.data.streams
    new.sender.accept([theirs])
    failed = events.wait(by(theirs, "MediaStreamDidFail"))
    assert "no desktop-sharing handler" in failed.data.reason
    events.wait(lambda n: n.name in ("SIPSessionDidEnd", "SIPSessionDidFail")
                and n.sender is session)
    wait_until(nothing_left, "the msrp service has nothing left")


def test_the_internal_viewer_sees_an_external_server(accounts: dict[str, Account],
                                                     events: Recorder) -> None:
    listener = tcp_server()
    pixels = pattern(800, 600)
    address = listener.getsockname()
    ready, served = serve_once(listener, 800, 600, pixels)
    sharing = ExternalVNCServerHandler(address)
    viewer = InternalVNCViewerHandler()
    channel = HandlerChannel(viewer)
    # bob shares his desktop: alice asks to see it
    session, answering, _stream, _theirs = share(events, accounts["alice"], viewer, sharing)
    rfb_viewer = RFBViewer(channel)
    assert rfb_viewer.handshake().width == 800
    assert rfb_viewer.frame() == pixels
    rfb_viewer.pointer(10, 20, 1)
    rfb_viewer.key(XK_A)
    assert rfb_viewer.frame() == pixels
    assert ready.is_set()
    [server] = served
    assert server.pointer == [(1, 10, 20)] and server.keys == [(True, XK_A), (False, XK_A)]
    assert events.wait(by(sharing, "DesktopSharingHandlerDidConnect")).data.address == address
    session.end()
    events.wait(by(answering, "SIPSessionDidEnd"))
    assert server.done.wait(10)  # the service closed its connection to the server
    wait_until(nothing_left, "the msrp service has nothing left")


def test_an_external_viewer_sees_the_internal_server(accounts: dict[str, Account],
                                                     events: Recorder) -> None:
    viewing = ExternalVNCViewerHandler(("127.0.0.1", 0))
    assert viewing.address[0] == "127.0.0.1" and viewing.address[1] > 0
    server = InternalVNCServerHandler()
    pixels = pattern(320, 200)
    server_channel = HandlerChannel(server)
    session, answering, _stream, theirs = share(events, accounts["alice"], viewing, server)
    events.wait(by(theirs, "MediaStreamDidStart"))
    rfb_server = RFBServer(server_channel, 320, 200, pixels).start()
    viewer_sock = socket.create_connection(viewing.address)
    rfb_viewer = RFBViewer(SocketChannel(viewer_sock))
    assert rfb_viewer.handshake().height == 200
    assert rfb_viewer.frame() == pixels
    rfb_viewer.key(XK_A)
    assert rfb_viewer.frame() == pixels
    assert rfb_server.keys == [(True, XK_A), (False, XK_A)]
    events.wait(by(viewing, "DesktopSharingHandlerDidConnect"))
    # one viewer only: the address listens no more
    assert refused(viewing.address)
    session.end()
    events.wait(by(answering, "SIPSessionDidEnd"))
    assert viewer_sock.recv(1) == b""  # the service closed the viewer's connection
    wait_until(nothing_left, "the msrp service has nothing left")


def test_external_viewer_and_server_full_hd(accounts: dict[str, Account],
                                            events: Recorder) -> None:
    listener = tcp_server()
    pixels = pattern(1920, 1080)  # 8 MB a frame: none of it crosses the bus
    _, served = serve_once(listener, 1920, 1080, pixels)
    viewing = ExternalVNCViewerHandler(("localhost", 0), connect_timeout=10)
    session, answering, _stream, _theirs = share(
        events, accounts["alice"], viewing, ExternalVNCServerHandler(listener.getsockname()))
    viewer_sock = socket.create_connection(viewing.address)
    rfb_viewer = RFBViewer(SocketChannel(viewer_sock))
    rfb_viewer.handshake()
    for _ in range(3):
        assert rfb_viewer.frame() == pixels
    assert not [n for n in events.seen if n.name == "DesktopSharingStreamGotData"]
    session.end()
    events.wait(by(answering, "SIPSessionDidEnd"))
    assert served[0].done.wait(10)
    wait_until(nothing_left, "the msrp service has nothing left")


def test_desktop_sharing_added_to_an_audio_call(accounts: dict[str, Account],
                                                events: Recorder) -> None:
    alice = accounts["alice"]
    session, answering, _ = call(events, alice, [AudioStream(alice)])
    viewer, server = InternalVNCViewerHandler(), InternalVNCServerHandler()
    server_channel, viewer_channel = HandlerChannel(server), HandlerChannel(viewer)
    stream = DesktopSharingStream(alice, viewer)
    session.add_stream(stream)
    proposal = events.wait(by(answering, "SIPSessionGotProposal"))
    [theirs] = proposal.data.streams
    assert type(theirs) is DesktopSharingStream and theirs.rfbsetup == "passive"
    theirs.handler = server
    answering.accept_proposal([theirs])
    events.wait(lambda n: by(session, "SIPSessionDidRenegotiateStreams")(n)
                and n.data.action == "add")
    pixels = pattern(64, 48)
    rfb_server = RFBServer(server_channel, 64, 48, pixels).start()
    rfb_viewer = RFBViewer(viewer_channel)
    rfb_viewer.handshake()
    assert rfb_viewer.frame() == pixels
    assert rfb_server.updates == 1
    assert len(session.streams) == 2
    session.end()
    events.wait(by(answering, "SIPSessionDidEnd"))


# --- failures ------------------------------------------------------------------------


def ended(events: Recorder, session: Session) -> None:
    events.wait(lambda n: n.name in ("SIPSessionDidEnd", "SIPSessionDidFail")
                and n.sender is session)


def test_a_vnc_server_not_listening(accounts: dict[str, Account], events: Recorder) -> None:
    closed = closed_port()
    address = closed.getsockname()
    sharing = ExternalVNCServerHandler(address, connect_timeout=5)
    viewing = ExternalVNCViewerHandler()
    # bob's stream fails at once: alice's side may not have started by then
    session, answering, _stream, theirs = share(events, accounts["alice"], viewing, sharing,
                                                started=False)
    failed = events.wait(by(sharing, "DesktopSharingHandlerDidFail"))
    assert failed.data.context == "connecting"
    assert str(address[1]) in failed.data.reason and "refused" in failed.data.reason.lower()
    assert isinstance(failed.data.failure, DesktopSharingError)
    stream_failed = events.wait(by(theirs, "MediaStreamDidFail"))
    assert "connecting" in stream_failed.data.reason
    # the only stream failed: the session ends, and every socket with it
    ended(events, answering)
    ended(events, session)
    wait_until(nothing_left, "the msrp service has nothing left")
    assert refused(viewing.address)
    closed.close()


def test_a_viewer_that_never_connects(accounts: dict[str, Account], events: Recorder) -> None:
    viewing = ExternalVNCViewerHandler(connect_timeout=1)
    session, answering, _stream, _theirs = share(events, accounts["alice"], viewing,
                                               InternalVNCServerHandler())
    failed = events.wait(by(viewing, "DesktopSharingHandlerDidFail"))
    assert failed.data.context == "connecting"
    assert failed.data.reason == "no VNC viewer connected: timed out"
    ended(events, session)
    ended(events, answering)
    wait_until(nothing_left, "the msrp service has nothing left")
    assert refused(viewing.address)


def test_the_vnc_server_goes_away_mid_session(accounts: dict[str, Account],
                                              events: Recorder) -> None:
    listener = tcp_server()
    pixels = pattern(100, 100)
    _ready, served = serve_once(listener, 100, 100, pixels)
    sharing = ExternalVNCServerHandler(listener.getsockname())
    viewing = ExternalVNCViewerHandler()
    session, answering, _stream, _theirs = share(events, accounts["alice"], viewing, sharing)
    viewer_sock = socket.create_connection(viewing.address)
    rfb_viewer = RFBViewer(SocketChannel(viewer_sock))
    rfb_viewer.handshake()
    assert rfb_viewer.frame() == pixels
    served[0].channel.close()  # type: ignore[attr-defined]  # the VNC server dies
    failed = events.wait(by(sharing, "DesktopSharingHandlerDidFail"))
    assert failed.data.context == "reading"
    assert failed.data.reason == "the VNC server closed the connection"
    ended(events, answering)
    ended(events, session)
    assert viewer_sock.recv(1) == b""  # the viewer's connection is closed too
    wait_until(nothing_left, "the msrp service has nothing left")
    assert refused(viewing.address)


def test_hang_up_mid_session(accounts: dict[str, Account], events: Recorder) -> None:
    listener = tcp_server()
    pixels = pattern(100, 100)
    _, served = serve_once(listener, 100, 100, pixels)
    viewing = ExternalVNCViewerHandler()
    session, answering, _stream, _theirs = share(
        events, accounts["alice"], viewing, ExternalVNCServerHandler(listener.getsockname()))
    viewer_sock = socket.create_connection(viewing.address)
    rfb_viewer = RFBViewer(SocketChannel(viewer_sock))
    rfb_viewer.handshake()
    assert rfb_viewer.frame() == pixels
    answering.end()  # the sharer hangs up
    ended(events, session)
    assert viewer_sock.recv(1) == b""
    assert served[0].done.wait(10)
    assert not [n for n in events.seen if n.name == "DesktopSharingHandlerDidFail"]
    wait_until(nothing_left, "the msrp service has nothing left")
    assert refused(viewing.address)


def test_an_unused_viewer_handler_releases_its_address(services: dict[str, Any]) -> None:
    viewing = ExternalVNCViewerHandler()
    assert get_bus().call("msrp", "status")["splice_listeners"] == 1
    viewing.close()
    assert refused(viewing.address) and nothing_left()
    with pytest.raises(ValueError):
        ExternalVNCServerHandler(("127.0.0.1", 70000))
    with pytest.raises(ValueError):
        ExternalVNCViewerHandler(connect_timeout=0)


# --- a real desktop ------------------------------------------------------------------


@needs_desktop
def test_a_real_desktop_through_the_chain(accounts: dict[str, Account], events: Recorder,
                                          tmp_path: Path) -> None:
    """alice shares her X display (x11vnc, ExternalVNCServerHandler); bob views it with
    vncdotool through ExternalVNCViewerHandler; the screenshot is the picture on the
    display, and bob's pointer click and key press reach alice's display."""
    from PIL import Image

    with xdisplay(320, 240) as display, x11vnc(display.name) as (_, port):
        viewing = ExternalVNCViewerHandler(connect_timeout=30)

        def prepare(offered: Any) -> None:
            offered.handler = viewing

        stream = DesktopSharingStream(accounts["alice"],
                                      ExternalVNCServerHandler(("127.0.0.1", port)))
        session, answering, [_theirs] = call(events, accounts["alice"], [stream], prepare)
        assert "a=rfbsetup:passive" in str(session.local_sdp)
        assert "a=rfbsetup:active" in str(answering.local_sdp)
        host, viewer_port = viewing.address
        shots = tmp_path / "before.png", tmp_path / "after.png"
        # the second capture is answered after x11vnc took the input before it (RFB
        # messages are handled in order): the viewer hangs up only then
        command = [str(vncdo()), "-s", f"{host}::{viewer_port}", "capture", str(shots[0]),
                   "move", "100", "120", "click", "1", "key", "a", "capture", str(shots[1])]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr
        for shot in shots:
            image = Image.open(shot).convert("RGB")
            assert image.size == (320, 240)
            assert image.tobytes() == display.rgb
        display.wait(lambda: display.keys and display.buttons)
        assert display.keys == ["a"] and display.buttons == [(1, 100, 120)]
        assert display.pointer() == (100, 120)
        # vncdotool hung up: the viewer side fails reading, the call ends
        failed = events.wait(by(viewing, "DesktopSharingHandlerDidFail"))
        assert (failed.data.context, failed.data.reason) == \
            ("reading", "the VNC viewer closed the connection")
        ended(events, session)
        ended(events, answering)
        wait_until(nothing_left, "the msrp service has nothing left")
