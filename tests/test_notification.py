from __future__ import annotations

import datetime

import pytest

from sipsimple.notification import Notification, NotificationCenter, NotificationData


class Recorder:
    def __init__(self) -> None:
        self.seen: list[Notification] = []

    def handle_notification(self, notification: Notification) -> None:
        self.seen.append(notification)


class Broken:
    def handle_notification(self, notification: Notification) -> None:
        raise RuntimeError("observer bug")


def test_singleton() -> None:
    assert NotificationCenter() is NotificationCenter()


def test_filters_by_name_and_sender() -> None:
    center = NotificationCenter()
    sender_a, sender_b = object(), object()
    by_name, by_sender, by_both, everything = Recorder(), Recorder(), Recorder(), Recorder()
    center.add_observer(by_name, name="TestA")
    center.add_observer(by_sender, sender=sender_a)
    center.add_observer(by_both, name="TestA", sender=sender_b)
    center.add_observer(everything)
    try:
        center.post_notification("TestA", sender_a, NotificationData(x=1))
        center.post_notification("TestA", sender_b)
        center.post_notification("TestB", sender_a)
    finally:
        for observer, kwargs in (
            (by_name, {"name": "TestA"}),
            (by_sender, {"sender": sender_a}),
            (by_both, {"name": "TestA", "sender": sender_b}),
            (everything, {}),
        ):
            center.remove_observer(observer, **kwargs)
    assert [(n.name, n.sender) for n in by_name.seen] == [("TestA", sender_a), ("TestA", sender_b)]
    assert [(n.name, n.sender) for n in by_sender.seen] == [
        ("TestA", sender_a),
        ("TestB", sender_a),
    ]
    assert [(n.name, n.sender) for n in by_both.seen] == [("TestA", sender_b)]
    assert len([n for n in everything.seen if n.name.startswith("Test")]) == 3
    assert by_name.seen[0].data.x == 1


def test_is_observed() -> None:
    center = NotificationCenter()
    account, other = object(), object()
    everything, by_name, by_sender = Recorder(), Recorder(), Recorder()
    center.add_observer(everything)
    try:
        assert not center.is_observed("TestObserved", account)  # everything does not count
        center.add_observer(by_name, name="TestObserved")
        assert center.is_observed("TestObserved", account)
        assert center.is_observed("TestObserved")
        center.remove_observer(by_name, name="TestObserved")
        center.add_observer(by_sender, sender=account)
        assert center.is_observed("TestObserved", account)
        assert not center.is_observed("TestObserved", other)
        center.remove_observer(by_sender, sender=account)
        center.add_observer(by_name, name="TestObserved", sender=other)
        assert not center.is_observed("TestObserved", account)
        assert center.is_observed("TestObserved", other)
        center.remove_observer(by_name, name="TestObserved", sender=other)
    finally:
        center.discard_observer(everything)


def test_every_notification_has_a_timestamp() -> None:
    center = NotificationCenter()
    recorder = Recorder()
    center.add_observer(recorder, name="TestStamp")
    center.post_notification("TestStamp")
    center.remove_observer(recorder, name="TestStamp")
    assert isinstance(recorder.seen[0].data.timestamp, datetime.datetime)


def test_a_raising_observer_does_not_stop_the_others() -> None:
    center = NotificationCenter()
    broken, recorder = Broken(), Recorder()
    center.add_observer(broken, name="TestBroken")
    center.add_observer(recorder, name="TestBroken")
    center.post_notification("TestBroken")
    center.remove_observer(broken, name="TestBroken")
    center.remove_observer(recorder, name="TestBroken")
    assert len(recorder.seen) == 1


def test_remove_unknown_observer_raises_and_discard_does_not() -> None:
    center = NotificationCenter()
    with pytest.raises(KeyError):
        center.remove_observer(Recorder(), name="Nope")
    center.discard_observer(Recorder(), name="Nope")


def test_observer_without_handler_is_refused() -> None:
    with pytest.raises(TypeError):
        NotificationCenter().add_observer(object())  # type: ignore[arg-type]


def test_notification_data() -> None:
    data = NotificationData(a=1, b="x")
    assert data.a == 1 and dict(data) == {"a": 1, "b": "x"}
    assert data == NotificationData(a=1, b="x")
    with pytest.raises(AttributeError):
        _ = data.missing
