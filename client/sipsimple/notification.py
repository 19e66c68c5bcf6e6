"""NotificationCenter: the facade's publish/subscribe hub.

Observers register for a notification name, a sender, both or neither and get
``handle_notification(notification)``. Delivery is synchronous on the posting
thread; notifications that come from the services are posted on the bus thread,
as the original SDK delivered them on its own thread.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["Any_", "Notification", "NotificationCenter", "NotificationData", "Observer"]

log = logging.getLogger(__name__)


class _AnyType:
    """Wildcard for name or sender (``None`` works too)."""

    def __repr__(self) -> str:
        return "Any"


Any_ = _AnyType()


class NotificationData:
    """Attribute bag carried by a notification."""

    def __init__(self, **kwargs: Any) -> None:
        self.__dict__.update(kwargs)

    def __getattr__(self, name: str) -> Any:  # only reached for missing attributes
        raise AttributeError(f"notification data has no attribute {name!r}")

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        return iter(self.__dict__.items())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NotificationData) and self.__dict__ == other.__dict__

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self.__dict__.items())
        return f"NotificationData({fields})"

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True)
class Notification:
    name: str
    sender: Any = None
    data: NotificationData = field(default_factory=NotificationData)


class Observer(Protocol):
    def handle_notification(self, notification: Notification) -> None: ...


def _key(value: Any) -> Any:
    # Senders may be unhashable; observe them by identity.
    return Any_ if value is None or value is Any_ else id(value)


class NotificationCenter:
    """Process-wide singleton hub."""

    _instance: NotificationCenter | None = None
    _instance_lock = threading.Lock()

    def __new__(cls) -> NotificationCenter:
        with cls._instance_lock:
            if cls._instance is None:
                instance = super().__new__(cls)
                instance._observers = {}
                instance._senders = {}
                instance._lock = threading.RLock()
                cls._instance = instance
            return cls._instance

    _observers: dict[tuple[Any, Any], list[Observer]]
    _senders: dict[int, Any]  # keeps observed senders alive while observed
    _lock: threading.RLock

    def add_observer(self, observer: Observer, name: Any = None, sender: Any = None) -> None:
        if not callable(getattr(observer, "handle_notification", None)):
            raise TypeError(f"{observer!r} has no handle_notification method")
        key = (Any_ if name is None else name, _key(sender))
        with self._lock:
            observers = self._observers.setdefault(key, [])
            if observer not in observers:
                observers.append(observer)
            if sender is not None and sender is not Any_:
                self._senders[id(sender)] = sender

    def remove_observer(self, observer: Observer, name: Any = None, sender: Any = None) -> None:
        key = (Any_ if name is None else name, _key(sender))
        with self._lock:
            observers = self._observers.get(key, [])
            try:
                observers.remove(observer)
            except ValueError:
                raise KeyError(f"{observer!r} is not observing {name!r} from {sender!r}") from None
            if not observers:
                del self._observers[key]
            if sender is not None and not any(k[1] == key[1] for k in self._observers):
                self._senders.pop(id(sender), None)

    def discard_observer(self, observer: Observer, name: Any = None, sender: Any = None) -> None:
        with contextlib.suppress(KeyError):
            self.remove_observer(observer, name, sender)

    def is_observed(self, name: str, sender: Any = None) -> bool:
        """Whether an observer asked for `name` (from `sender` or any sender), or for
        everything `sender` posts; observers of every notification do not count."""
        sender_key = _key(sender)
        with self._lock:
            keys: list[tuple[Any, Any]] = [(name, sender_key), (name, Any_)]
            if sender_key is not Any_:
                keys.append((Any_, sender_key))
            return any(self._observers.get(key) for key in keys)

    def post_notification(
        self, name: str, sender: Any = None, data: NotificationData | None = None
    ) -> None:
        if data is None:
            data = NotificationData()
        if "timestamp" not in data.__dict__:
            data.__dict__["timestamp"] = datetime.datetime.now()
        notification = Notification(name, sender, data)
        sender_key = _key(sender)
        with self._lock:
            keys: list[tuple[Any, Any]] = [(name, sender_key), (name, Any_)]
            if sender_key is not Any_:
                keys += [(Any_, sender_key)]
            keys.append((Any_, Any_))
            targets: list[Observer] = []
            for key in dict.fromkeys(keys):
                for observer in self._observers.get(key, ()):
                    if observer not in targets:
                        targets.append(observer)
        for observer in targets:
            try:
                observer.handle_notification(notification)
            except Exception:
                # One broken observer must not starve the others.
                log.exception("observer %r failed handling %s", observer, name)
