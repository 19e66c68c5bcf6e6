"""SessionManager: stream selection for offers, the session list, stop."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from harness.streams import ProbeStream

from sipsimple.core import SIPURI, FrozenSDPSession, Route, ToHeader
from sipsimple.notification import NotificationCenter, NotificationData
from sipsimple.session import Session, SessionManager
from sipsimple.streams import (
    IMediaStream,
    InvalidStreamError,
    MediaStreamRegistrar,
    MediaStreamRegistry,
    UnknownStreamError,
)

OFFER = FrozenSDPSession.parse(
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=application 4000 udp x-probe\r\n"
    "m=application 0 udp x-probe\r\n"
    "m=message 5000 TCP/MSRP *\r\n"
    "m=application 6000 udp x-probe\r\n")


class _Base(IMediaStream):
    type = "greedy"

    def __init__(self, account: Any) -> None:
        self.account = account

    def get_local_media(self, for_offer: bool) -> Any: ...
    def initialize(self, session: Any, direction: str) -> None: ...
    def start(self, local_sdp: Any, remote_sdp: Any, stream_index: int) -> None: ...
    def validate_update(self, remote_sdp: Any, stream_index: int) -> bool:
        return True
    def update(self, local_sdp: Any, remote_sdp: Any, stream_index: int) -> None: ...
    def deactivate(self) -> None: ...
    def end(self) -> None: ...


@pytest.fixture
def greedy() -> Iterator[type]:
    """A higher-priority class that declines x-probe m-line 0 and rejects m-line 3."""

    class Greedy(_Base, metaclass=MediaStreamRegistrar):
        priority = 50

        @classmethod
        def new_from_sdp(cls, account: Any, remote_sdp: Any, stream_index: int) -> Any:
            if stream_index == 0:
                raise UnknownStreamError("not mine")
            if stream_index == 3:
                raise InvalidStreamError("mine, but broken")
            if remote_sdp.media[stream_index].media == "message":
                return cls(account)
            return None

    yield Greedy
    MediaStreamRegistry.remove(Greedy)


def test_streams_for_offer_by_priority(greedy: type) -> None:
    streams = SessionManager().streams_for_offer("account", OFFER, range(len(OFFER.media)))
    # m-line 0: Greedy declines, ProbeStream takes it; 1: port 0; 2: Greedy's;
    # 3: Greedy rejects it outright, so ProbeStream is not asked
    assert [(type(s).__name__, i) for s, i in streams] == [("ProbeStream", 0), ("Greedy", 2)]
    assert all(s.account == "account" for s, _ in streams)
    assert isinstance(streams[0][0], ProbeStream) and streams[0][0].remote_port == 4000


def test_a_stream_class_that_raises_is_skipped(greedy: type) -> None:
    class Broken(_Base, metaclass=MediaStreamRegistrar):
        priority = 99

        @classmethod
        def new_from_sdp(cls, account: Any, remote_sdp: Any, stream_index: int) -> Any:
            raise RuntimeError("bug in an application's stream class")

    try:
        streams = SessionManager().streams_for_offer(None, OFFER, [0])
    finally:
        MediaStreamRegistry.remove(Broken)
    assert [type(s) for s, _ in streams] == [ProbeStream]


def test_sessions_need_a_running_manager() -> None:
    assert not SessionManager().started
    session = Session(None)  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="not running"):
        session.connect(None, [Route("127.0.0.1", 5060)], [ProbeStream(None)])  # type: ignore
    assert session.state is None and session.direction is None
    assert SessionManager().sessions == []


class _Stalling(_Base):
    """A stream whose initialize waits on `release` (as a stuck service call would),
    then fails, so that its session ends without any SIP."""

    def __init__(self, account: Any, entered: threading.Event,
                 release: threading.Event) -> None:
        super().__init__(account)
        self.entered, self.release = entered, release

    @classmethod
    def new_from_sdp(cls, account: Any, remote_sdp: Any, stream_index: int) -> Any:
        return None

    def initialize(self, session: Any, direction: str) -> None:
        self.entered.set()
        self.release.wait(30)
        NotificationCenter().post_notification(
            "MediaStreamDidFail", self, NotificationData(reason="released"))


def test_a_stalled_session_does_not_hold_up_the_others() -> None:
    account = SimpleNamespace(uri=SIPURI(user="alice", host="example.com"), display_name=None)
    to = ToHeader(SIPURI(user="bob", host="example.com"))
    route = Route("127.0.0.1", 5060)
    release = threading.Event()
    first_in, second_in = threading.Event(), threading.Event()
    manager = SessionManager()
    manager.start()
    sessions = [Session(account), Session(account)]  # type: ignore[arg-type]
    try:
        sessions[0].connect(to, [route], [_Stalling(account, first_in, release)])
        assert first_in.wait(10)
        # the first session's worker is stuck; the next session runs on another one
        sessions[1].connect(to, [route], [_Stalling(account, second_in, release)])
        assert second_in.wait(10), "the second session waited for the first one's worker"
    finally:
        release.set()
        for session in sessions:
            if session.state == "connecting":
                session.end()
        deadline = time.monotonic() + 10
        while any(s.state != "terminated" for s in sessions if s.state is not None) and (
                time.monotonic() < deadline):
            time.sleep(0.01)
        manager.stop()
    assert sessions[0].state == "terminated"


def test_events_before_the_invite_reply_wait_for_their_session(runtime: object) -> None:
    """Our INVITE's events may overtake the reply that names its session id: they are
    kept, and handed to the session's worker in order once the id is bound."""
    from sipsimple.bus.client import get_bus

    seen: list[tuple[str, str]] = []
    arrived = threading.Condition()

    def record(name: str, data: Any) -> None:
        with arrived:
            seen.append((name, threading.current_thread().name))
            arrived.notify_all()

    session = SimpleNamespace(_worker=None, handle_bus_event=record)
    manager = SessionManager()
    manager.start()
    center, client = NotificationCenter(), get_bus().client_id
    try:
        for name in ("session_provisional", "session_established"):
            center.post_notification(f"signalling.{name}", get_bus(),
                                     NotificationData(session_id="s1", client=client))
        assert seen == []
        manager.session_bound(session, "s1")  # type: ignore[arg-type]
        center.post_notification("signalling.session_ended", get_bus(),
                                 NotificationData(session_id="s1", client=client))
        with arrived:
            assert arrived.wait_for(lambda: len(seen) == 3, 10), seen
    finally:
        manager.stop()
    assert [name for name, _ in seen] == [
        "signalling.session_provisional", "signalling.session_established",
        "signalling.session_ended"]
    assert len({thread for _, thread in seen}) == 1 and seen[0][1].startswith("sipsimple-sessions")
