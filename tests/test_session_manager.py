"""SessionManager: stream selection for offers, the session list, stop."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from harness.streams import ProbeStream

from sipsimple.core import FrozenSDPSession, Route
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
