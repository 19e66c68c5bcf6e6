"""relay: who gets a chat message a participant sent to the room, and as what (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from sipsimple.conference.chat import composing, nickname_answer, relay
from sipsimple.payloads.cpim import CPIMIdentity, CPIMMessage
from sipsimple.payloads.iscomposing import IsComposingMessage
from sipsimple.streams.msrp import ChatMessage

ROOM = CPIMIdentity("sip:room@example.test", "Room")
MEMBERS = {key: CPIMIdentity(f"sip:{name}@example.test", name.title())
           for key, name in (("a", "alice"), ("b", "bob"), ("c", "carol"))}
WHEN = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def cpim(*to: CPIMIdentity, sender: CPIMIdentity | None = None) -> CPIMMessage:
    return CPIMMessage(b"hi", "text/plain", (("charset", "utf-8"),), sender=sender,
                       recipients=to, timestamp=WHEN)


def test_a_message_to_the_room_goes_to_every_other_participant_from_its_sender() -> None:
    forged = CPIMIdentity("sip:mallory@example.test")
    relayed = relay(cpim(ROOM, sender=forged), "a", MEMBERS["a"], ROOM, MEMBERS)
    assert not relayed.private and relayed.unknown == ()
    assert [key for key, _ in relayed.messages] == ["b", "c"]
    for _, message in relayed.messages:
        assert message.sender == MEMBERS["a"]  # the session's identity, not the claim
        assert message.recipients == (ROOM,)
        assert message.content == b"hi" and message.timestamp == WHEN
        assert CPIMMessage.decode(message.encode()).sender == MEMBERS["a"]


def test_no_recipient_or_a_plain_message_is_for_the_room() -> None:
    assert [k for k, _ in relay(cpim(), "b", MEMBERS["b"], ROOM, MEMBERS).messages] == ["a", "c"]
    plain = ChatMessage("héllo", "text/plain; charset=utf-8", None, (), None, "m1")
    relayed = relay(plain, "c", MEMBERS["c"], ROOM, MEMBERS)
    assert [k for k, _ in relayed.messages] == ["a", "b"]
    message = relayed.messages[0][1]
    assert message.content == "héllo".encode() and message.content_type == "text/plain"
    assert message.timestamp is not None


def test_a_private_message_goes_to_its_recipients_only() -> None:
    bob = CPIMIdentity("sip:bob@EXAMPLE.test")
    relayed = relay(cpim(bob), "a", MEMBERS["a"], ROOM, MEMBERS)
    assert relayed.private and [k for k, _ in relayed.messages] == ["b"]
    assert relayed.messages[0][1].recipients == (MEMBERS["b"],)
    stranger = CPIMIdentity("sip:dave@example.test")
    relayed = relay(cpim(stranger, MEMBERS["c"]), "a", MEMBERS["a"], ROOM, MEMBERS)
    assert [k for k, _ in relayed.messages] == ["c"] and relayed.unknown == (stranger,)
    # to oneself: nobody (the sender never gets its own message back)
    assert relay(cpim(MEMBERS["a"]), "a", MEMBERS["a"], ROOM, MEMBERS).messages == ()


@given(st.lists(st.sampled_from(["a", "b", "c", "room", "dave"]), max_size=4),
       st.sampled_from(["a", "b", "c"]))
def test_never_back_to_the_sender_and_only_to_members(to: list[str], sender: str) -> None:
    named = {"room": ROOM, "dave": CPIMIdentity("sip:dave@example.test"), **MEMBERS}
    relayed = relay(cpim(*(named[n] for n in to)), sender, MEMBERS[sender], ROOM, MEMBERS)
    keys = [key for key, _ in relayed.messages]
    assert sender not in keys and set(keys) <= set(MEMBERS)
    private = [n for n in to if n != "room"]
    if not private:
        assert set(keys) == set(MEMBERS) - {sender}
    else:
        assert set(keys) == {n for n in private if n in MEMBERS} - {sender}


def test_a_composing_indication_is_relayed_like_a_message() -> None:
    indication = composing("active", 60, None, "text/plain", [ROOM])
    relayed = relay(indication, "a", MEMBERS["a"], ROOM, MEMBERS)
    assert [key for key, _ in relayed.messages] == ["b", "c"]
    message = relayed.messages[0][1]
    assert message.content_type == "application/im-iscomposing+xml"
    assert message.sender == MEMBERS["a"]
    parsed = IsComposingMessage.parse(message.content)
    assert (parsed.state, parsed.refresh, parsed.content_type) == ("active", 60, "text/plain")
    private = relay(composing("idle", None, None, None, [MEMBERS["c"]]), "a", MEMBERS["a"],
                    ROOM, MEMBERS)
    assert [key for key, _ in private.messages] == ["c"]


def test_a_nickname_is_unique_in_the_room_whatever_its_case() -> None:
    taken = {"a": "Ali", "b": "bobby"}
    assert nickname_answer("ALI", "c", taken)[0] == 425
    assert nickname_answer("Ali", "a", taken) == (200, "OK")  # asked again by its owner
    assert nickname_answer("carol", "c", taken) == (200, "OK")
    assert nickname_answer("  ", "c", taken)[0] == 424
