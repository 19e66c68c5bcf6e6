"""Small concurrency helpers shared by the facade."""

from __future__ import annotations

import threading
from typing import Any

__all__ = ["Singleton"]


class Singleton(type):
    """Metaclass: every instantiation of a class returns its one instance."""

    _instances: dict[type, Any] = {}
    _lock = threading.Lock()

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        instance = Singleton._instances.get(cls)
        if instance is None:
            with Singleton._lock:
                instance = Singleton._instances.get(cls)
                if instance is None:
                    instance = super().__call__(*args, **kwargs)
                    Singleton._instances[cls] = instance
        return instance
