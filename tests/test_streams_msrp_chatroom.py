"""Chat rooms (RFC 7701) in ChatStream: private messages and nicknames.

The pure rules first; then alice and bob through the real services: with
bob as a plain peer, recipients other than bob and courtesy recipients are
refused (ChatStreamError); with bob answering as a conference focus that
offers ``a=chatroom:private-messages``, they go in the CPIM To and cc, and
what the focus sends alice for her alone is marked private. Nicknames: alice
asks, the room (bob's application) is told and answers, alice learns the
outcome; a peer that is no room answers 501, and set_local_nickname refuses
where the peer offers no nicknames.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from harness.audio import audio_services
from harness.chat import by, chat, got
from harness.notifications import Recorder
from harness.sessions import facade

from sipsimple.account import Account
from sipsimple.bus.client import get_bus
from sipsimple.core import SIPURI
from sipsimple.payloads.cpim import ChatIdentity, CPIMIdentity, CPIMMessage
from sipsimple.streams import ChatStream, ChatStreamError
from sipsimple.streams.msrp.chatroom import RecipientsError, check_recipients, same_identity

ALICE = CPIMIdentity(SIPURI(user="alice", host="sip.test"), "Alice")
BOB = CPIMIdentity(SIPURI(user="bob", host="sip.test"), "Bob")
CAROL = CPIMIdentity(SIPURI(user="carol", host="sip.test"), "Carol")
DAVE = ChatIdentity(SIPURI(user="dave", host="sip.test"))


# --- the rules ------------------------------------------------------------------------


def test_same_identity_is_user_and_host() -> None:
    assert same_identity(BOB, ChatIdentity(SIPURI(user="bob", host="SIP.test", port=5070)))
    assert not same_identity(BOB, CAROL)
    assert not same_identity(BOB, ChatIdentity(SIPURI(user="bob", host="other.test")))


@pytest.mark.parametrize(("recipients", "cc"), [(None, ()), ([BOB], ())])
def test_the_peer_alone_needs_nothing(recipients: list[ChatIdentity] | None,
                                      cc: tuple[ChatIdentity, ...]) -> None:
    check_recipients(recipients, cc, BOB, private_allowed=False)


@pytest.mark.parametrize(("recipients", "cc"), [
    ([CAROL], ()), ([BOB, CAROL], ()), (None, (DAVE,)), ([BOB], (DAVE,))])
def test_others_need_private_messages(recipients: list[ChatIdentity] | None,
                                      cc: tuple[ChatIdentity, ...]) -> None:
    with pytest.raises(RecipientsError, match="private messages"):
        check_recipients(recipients, cc, BOB, private_allowed=False)
    check_recipients(recipients, cc, BOB, private_allowed=True)


def test_recipients_may_not_be_empty_nor_the_peer_unknown() -> None:
    with pytest.raises(RecipientsError, match="at least one"):
        check_recipients([], (), BOB, private_allowed=True)
    with pytest.raises(RecipientsError):
        check_recipients([BOB], (), None, private_allowed=False)


# --- through the services ---------------------------------------------------------------


@pytest.fixture
def accounts(spawn_service: Callable[..., Any]) -> Iterator[dict[str, Account]]:
    audio_services(spawn_service, msrp=True)
    with facade(["alice", "bob"]) as created:
        yield created


def arrivals(events: Recorder, stream: ChatStream) -> list[Any]:
    return [n for n in events.seen if by(stream, "ChatStreamGotMessage")(n)]


@pytest.mark.integration
def test_a_plain_peer_takes_no_private_messages(accounts: dict[str, Account],
                                                events: Recorder) -> None:
    stream = ChatStream(accounts["alice"])
    queued = stream.send_message("queued for carol", recipients=[CAROL])
    session, answering, theirs = chat(events, accounts["alice"], stream)
    failed = events.wait(by(stream, "ChatStreamDidNotDeliverMessage"))
    assert failed.data.message_id == queued and "private messages" in failed.data.reason
    assert stream.chatroom_capabilities == [] and not stream.private_messages_allowed
    for recipients, cc in (([CAROL], None), (None, [DAVE]), ([BOB, CAROL], None)):
        with pytest.raises(ChatStreamError, match="private messages"):
            stream.send_message("not for bob", recipients=recipients, courtesy_recipients=cc)
    with pytest.raises(ChatStreamError, match="private messages"):
        stream.send_composing_indication("active", recipients=[CAROL])
    stream.send_message("for bob, named", recipients=[BOB])
    [message] = got(events, theirs)
    assert message.content == b"for bob, named"
    assert [str(r.uri) for r in message.recipients] == ["sip:bob@sip.test"]
    assert arrivals(events, theirs)[0].data.private is False
    session.end()
    events.wait(by(answering, "SIPSessionDidEnd"))


@pytest.mark.integration
def test_private_messages_through_a_focus(accounts: dict[str, Account],
                                          events: Recorder) -> None:
    stream = ChatStream(accounts["alice"])
    session, answering, room = chat(events, accounts["alice"], stream,
                                    focus=["private-messages", "nickname"])
    assert "a=chatroom:private-messages nickname" in str(answering.local_sdp)
    assert session.remote_focus and answering.local_focus
    assert stream.chatroom_capabilities == ["private-messages", "nickname"]
    assert stream.private_messages_allowed and stream.nickname_allowed

    sent = stream.send_message("psst, carol", recipients=[CAROL], courtesy_recipients=[DAVE])
    [message] = got(events, room)
    assert isinstance(message, CPIMMessage) and message.content == b"psst, carol"
    assert [str(r.uri) for r in message.recipients] == ["sip:carol@sip.test"]
    assert [str(r.uri) for r in message.courtesy_recipients] == ["sip:dave@sip.test"]
    events.wait(lambda n: by(stream, "ChatStreamDidDeliverMessage")(n)
                and n.data.message_id == sent)
    stream.send_composing_indication("active", 20, recipients=[CAROL])
    composing = events.wait(by(room, "ChatStreamGotComposingIndication"))
    assert [str(r.uri) for r in composing.data.recipients] == ["sip:carol@sip.test"]

    # the room (the focus) may address anyone: to the room, and to alice alone
    assert room.private_messages_allowed
    room.send_message("to everyone", recipients=[BOB])
    room.send_message("to alice alone")
    room.send_message("carol says hi", recipients=[BOB], sender=CAROL)  # relayed
    public, private, relayed = got(events, stream, 3)
    assert (public.content, private.content) == (b"to everyone", b"to alice alone")
    assert [n.data.private for n in arrivals(events, stream)] == [False, True, False]
    assert relayed.content == b"carol says hi" and relayed.sender == CAROL
    with pytest.raises(ChatStreamError, match="focus"):  # alice is no room
        stream.send_message("as carol", sender=CAROL)
    session.end()
    events.wait(by(answering, "SIPSessionDidEnd"))


@pytest.mark.integration
def test_a_focus_without_private_messages_refuses_them(accounts: dict[str, Account],
                                                       events: Recorder) -> None:
    stream = ChatStream(accounts["alice"])
    session, answering, _ = chat(events, accounts["alice"], stream, focus=["nickname"])
    assert stream.nickname_allowed and not stream.private_messages_allowed
    with pytest.raises(ChatStreamError, match="private messages"):
        stream.send_message("psst", recipients=[CAROL])
    session.end()
    events.wait(by(answering, "SIPSessionDidEnd"))


@pytest.mark.integration
def test_nicknames_through_a_focus(accounts: dict[str, Account], events: Recorder) -> None:
    stream = ChatStream(accounts["alice"])
    session, answering, room = chat(events, accounts["alice"], stream, focus=["nickname"])
    asked = stream.set_local_nickname("Ally")
    request = events.wait(by(room, "ChatStreamGotNicknameRequest"))
    assert request.data.nickname == "Ally"
    room.answer_nickname(request.data.transaction_id)  # 200
    done = events.wait(by(stream, "ChatStreamDidSetNickname"))
    assert (done.data.message_id, done.data.nickname, done.data.code) == (asked, "Ally", 200)
    assert stream.local_nickname == "Ally"

    taken = stream.set_local_nickname('Bob "the builder"')
    request = events.wait(lambda n: by(room, "ChatStreamGotNicknameRequest")(n)
                          and n.data.nickname == 'Bob "the builder"')
    room.answer_nickname(request.data.transaction_id, 425)
    refused = events.wait(by(stream, "ChatStreamDidNotSetNickname"))
    assert (refused.data.message_id, refused.data.code) == (taken, 425)
    assert refused.data.reason == "Nickname Reserved or Already in Use"
    assert stream.local_nickname == "Ally"
    with pytest.raises(ChatStreamError):  # no Use-Nickname can carry it
        stream.set_local_nickname("two\nlines")
    session.end()
    events.wait(by(stream, "MediaStreamDidEnd"))
    with pytest.raises(ChatStreamError):
        stream.set_local_nickname("too late")
    events.wait(by(answering, "SIPSessionDidEnd"))


@pytest.mark.integration
def test_nicknames_need_a_room_that_takes_them(accounts: dict[str, Account],
                                               events: Recorder) -> None:
    stream = ChatStream(accounts["alice"])
    session, answering, _ = chat(events, accounts["alice"], stream)
    with pytest.raises(ChatStreamError, match="nicknames"):
        stream.set_local_nickname("Ally")
    # a NICKNAME reaching a stream that is no room is answered 501 by it
    assert stream.msrp_session_id is not None
    get_bus().call("msrp", "send_nickname", session_id=stream.msrp_session_id,
                   nickname="Ally", transaction_id="nick0501")
    answered = events.wait(lambda n: n.name == "msrp.nickname_answered"
                           and n.data.transaction_id == "nick0501")
    assert answered.data.code == 501
    assert not events.named("ChatStreamGotNicknameRequest")
    session.end()
    events.wait(by(answering, "SIPSessionDidEnd"))


@pytest.mark.integration
def test_a_focus_without_nicknames_refuses_them(accounts: dict[str, Account],
                                                events: Recorder) -> None:
    stream = ChatStream(accounts["alice"])
    session, answering, _ = chat(events, accounts["alice"], stream,
                                 focus=["private-messages"])
    with pytest.raises(ChatStreamError, match="nicknames"):
        stream.set_local_nickname("Ally")
    session.end()
    events.wait(by(answering, "SIPSessionDidEnd"))
