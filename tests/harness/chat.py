"""MSRP chats between two local accounts through the real services (shared by the chat tests)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from harness.notifications import Recorder
from sipsimple.account import Account
from sipsimple.bus.client import get_bus
from sipsimple.core import SIPURI, Route, ToHeader
from sipsimple.notification import Notification
from sipsimple.session import Session
from sipsimple.streams import ChatStream

DOMAIN = "sip.test"


def by(sender: object, name: str) -> Callable[[Notification], bool]:
    return lambda n: n.name == name and n.sender is sender


def chat(events: Recorder, caller: Account, stream: ChatStream, callee: str = "bob",
         answer: type[ChatStream] = ChatStream, focus: Sequence[str] | None = None
         ) -> tuple[Session, Session, ChatStream]:
    """`caller` calls `callee` with `stream` alone; the offer is accepted as an
    `answer` stream; with `focus` the callee answers as a conference focus whose
    stream offers those RFC 7701 capabilities. Returns both sessions and the
    answering stream, both started."""
    ports = get_bus().call("signalling", "get_transports")
    session = Session(caller)
    session.connect(ToHeader(SIPURI(user=callee, host=DOMAIN)),
                    [Route("127.0.0.1", ports["udp"], "udp")], [stream])
    new = events.wait("SIPSessionNewIncoming")
    answering: Session = new.sender
    [offered] = new.data.streams
    assert type(offered) is answer
    if focus is not None:
        offered.local_chatroom_capabilities = list(focus)
    answering.accept([offered], is_focus=focus is not None)
    events.wait(by(session, "SIPSessionDidStart"))
    events.wait(by(answering, "SIPSessionDidStart"))
    return session, answering, offered


def got(events: Recorder, stream: ChatStream, count: int = 1) -> list[Any]:
    """The first `count` messages `stream` received (waiting for them)."""
    events.wait(lambda n: len([m for m in events.seen
                               if by(stream, "ChatStreamGotMessage")(m)]) >= count)
    return [n.data.message for n in events.seen if by(stream, "ChatStreamGotMessage")(n)]
