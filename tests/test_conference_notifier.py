"""ConferenceSubscriptions: what the room sends its conference subscribers (unit).

The signalling calls are recorded by a plain function standing in for the
bus; the integration tests (test_conference_room.py) run the real service.
"""

from __future__ import annotations

from typing import Any

from sipsimple.conference.notifier import ConferenceSubscriptions
from sipsimple.conference.roster import Participant, Roster
from sipsimple.payloads.conference import CONTENT_TYPE, Conference

ROOM = "sip:room@example.test"


class Calls:
    def __init__(self, failing: set[str] | None = None) -> None:
        self.made: list[tuple[str, dict[str, Any]]] = []
        self.failing = failing or set()

    def __call__(self, method: str, **params: Any) -> bool:
        self.made.append((method, params))
        return params.get("subscription_id") not in self.failing

    def documents(self, sid: str) -> list[Conference]:
        return [Conference.parse(p["body"]) for m, p in self.made
                if p.get("subscription_id") == sid and "body" in p]


def alice(key: str = "a") -> Participant:
    return Participant(key, "sip:alice@example.test", f"sip:alice@192.0.2.1;{key}")


def test_each_subscription_gets_the_full_state_then_its_own_versions() -> None:
    roster = Roster(ROOM)
    calls = Calls()
    subscriptions = ConferenceSubscriptions(roster, calls)
    subscriptions.incoming("s1", "conference", True)
    subscriptions.publish(roster.join(alice()))
    subscriptions.incoming("s2", "conference", True)
    subscriptions.publish(roster.leave("a"))
    first, second = calls.documents("s1"), calls.documents("s2")
    assert [(d.state, d.version) for d in first] == [("full", 1), ("partial", 2), ("partial", 3)]
    assert [(d.state, d.version) for d in second] == [("full", 1), ("partial", 2)]
    assert second[0].user("sip:alice@example.test") is not None
    assert {p["content_type"] for _, p in calls.made if "body" in p} == {CONTENT_TYPE}
    assert [m for m, _ in calls.made][:2] == ["accept_subscription", "notify"]


def test_other_packages_and_a_closing_room_are_refused() -> None:
    calls = Calls()
    subscriptions = ConferenceSubscriptions(Roster(ROOM), calls)
    subscriptions.incoming("p", "presence", True)
    subscriptions.incoming("c", "conference", False)
    assert calls.made == [("reject_subscription", {"subscription_id": "p", "code": 489}),
                          ("reject_subscription", {"subscription_id": "c", "code": 480})]
    assert len(subscriptions) == 0


def test_a_failed_notify_or_an_ended_subscription_is_dropped() -> None:
    roster = Roster(ROOM)
    calls = Calls(failing={"gone"})
    subscriptions = ConferenceSubscriptions(roster, calls)
    subscriptions.incoming("ok", "conference", True)
    subscriptions.incoming("later", "conference", True)
    calls.failing.add("later")
    subscriptions.publish(roster.join(alice()))
    assert len(subscriptions) == 1
    subscriptions.ended("ok")
    assert len(subscriptions) == 0
    subscriptions.incoming("x", "conference", True)
    subscriptions.end_all()
    assert calls.made[-1] == ("end_subscription", {"subscription_id": "x",
                                                   "reason": "noresource"})
    assert len(subscriptions) == 0
