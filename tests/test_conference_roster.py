"""Roster: the hosted room's participants as RFC 4575 documents (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipsimple.conference.roster import Participant, Roster
from sipsimple.payloads.conference import Conference, merge

ROOM = "sip:room@example.test"


def participant(key: str, user: str = "alice", **changes: object) -> Participant:
    fields: dict[str, object] = {"key": key, "uri": f"sip:{user}@example.test",
                                 "endpoint": f"sip:{user}@192.0.2.1;ep={key}",
                                 "audio": "sendrecv"}
    fields.update(changes)
    return Participant(**fields)  # type: ignore[arg-type]


def test_full_document_lists_users_with_their_endpoints_and_the_count() -> None:
    roster = Roster(ROOM, "Room", "weekly")
    roster.join(participant("a", display_name="Alice"))
    roster.join(participant("b", "bob", chat=True, audio=None))
    roster.join(participant("c"))  # alice again, from another device
    document = Conference.parse(roster.full(1).encode())
    assert document.state == "full" and document.version == 1 and document.entity == ROOM
    assert document.conference_state is not None and document.conference_state.user_count == 2
    assert document.conference_description is not None
    assert document.conference_description.subject == "weekly"
    alice = document.user("sip:alice@example.test")
    assert alice is not None and alice.display_text == "Alice"
    assert [e.entity for e in alice.endpoints] == [
        "sip:alice@192.0.2.1;ep=a", "sip:alice@192.0.2.1;ep=c"]
    assert [m.status for m in alice.endpoints[0].media] == ["sendrecv"]
    bob = document.user("sip:bob@example.test")
    assert bob is not None and [m.type for m in bob.endpoints[0].media] == ["message"]


def test_partial_documents_carry_only_the_changed_user() -> None:
    roster = Roster(ROOM)
    roster.join(participant("a"))
    state = roster.full(1)
    uri = roster.join(participant("b", "bob"))
    joined = roster.partial(uri, 2)
    assert joined.state == "partial" and joined.users is not None
    assert [u.entity for u in joined.users] == ["sip:bob@example.test"]
    state = merge(state, Conference.parse(joined.encode()))
    uri = roster.update("a", audio="recvonly")
    state = merge(state, Conference.parse(roster.partial(uri, 3).encode()))
    alice = state.user("sip:alice@example.test")
    assert alice is not None and alice.endpoints[0].media[0].status == "recvonly"
    uri = roster.leave("b")
    left = roster.partial(uri, 4)
    assert left.users is not None and left.users.users[0].state == "deleted"
    state = merge(state, Conference.parse(left.encode()))
    assert state.user("sip:bob@example.test") is None
    assert state.conference_state is not None and state.conference_state.user_count == 1


def test_one_endpoint_of_a_user_leaving_keeps_the_user() -> None:
    roster = Roster(ROOM)
    roster.join(participant("a"))
    roster.join(participant("c"))
    state = roster.full(1)
    uri = roster.leave("a")
    state = merge(state, roster.partial(uri, 2, left="sip:alice@192.0.2.1;ep=a"))
    alice = state.user("sip:alice@example.test")
    assert alice is not None and [e.entity for e in alice.endpoints] == [
        "sip:alice@192.0.2.1;ep=c"]


def test_find_compares_addresses_not_text() -> None:
    roster = Roster(ROOM)
    roster.join(participant("a"))
    assert [p.key for p in roster.find("<sip:alice@EXAMPLE.test:5060;transport=udp>")] == ["a"]
    assert roster.find("sip:bob@example.test") == []
    assert roster.find("not a uri") == []
    with pytest.raises(ValueError):
        roster.join(participant("a"))


_steps = st.lists(st.tuples(st.sampled_from(["join", "leave", "mute", "hold"]),
                            st.integers(0, 5), st.sampled_from(["alice", "bob", "carol"])),
                  max_size=30)


@given(_steps)
def test_partials_merged_in_order_give_the_full_state(steps: list[tuple[str, int, str]]) -> None:
    """What a subscriber merges is what a new subscriber would be sent."""
    roster = Roster(ROOM)
    state = merge(None, Conference.parse(roster.full(1).encode()))
    version = 1
    for action, number, user in steps:
        key = str(number)
        if action == "join" and key not in roster:
            changed, left = roster.join(participant(key, user)), None
        elif action in ("mute", "hold") and key in roster:
            changed = roster.update(key, audio="recvonly" if action == "mute" else "inactive")
            left = None
        elif action == "leave" and key in roster:
            gone = roster.get(key)
            assert gone is not None
            changed = roster.leave(key)
            left = gone.endpoint if roster.find(changed) else None
        else:
            continue
        version += 1
        state = merge(state, Conference.parse(roster.partial(changed, version, left).encode()))
    expected = merge(None, Conference.parse(roster.full(version).encode()))
    assert state.version == expected.version
    assert sorted(u.entity for u in state.users or ()) == sorted(
        u.entity for u in expected.users or ())
    for user in expected.users or ():
        merged = state.user(user.entity)
        assert merged is not None
        assert sorted(merged.endpoints, key=lambda e: e.entity) == sorted(
            user.endpoints, key=lambda e: e.entity)
    assert state.conference_state == expected.conference_state
