"""When successive readings of the local address mean that it changed: a sans-IO rule.

A reading is the address the kernel would use now (or None). A new value
counts once it has been read again, unchanged, `settle` seconds after it was
first seen (the original SDK's 5 s): an interface coming up takes several
steps (the old address gone, no route for a moment, the new address), and
the sessions should react once, to where it settled, not to every step. A
reading back to the current address before then cancels the change.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SETTLE", "AddressChanged", "AddressWatch"]

SETTLE = 5.0


@dataclass(frozen=True)
class AddressChanged:
    old: str | None
    new: str | None


class AddressWatch:
    def __init__(self, current: str | None, settle: float = SETTLE) -> None:
        if settle < 0:
            raise ValueError("settle must not be negative")
        self.current = current
        self.settle = settle
        self._candidate: str | None = None
        self._since: float | None = None  # when the candidate was first read

    @property
    def pending(self) -> str | None:
        """The new value being waited on, if any."""
        return self._candidate if self._since is not None else None

    def reading(self, now: float, address: str | None) -> AddressChanged | None:
        """One reading at `now`; the change once a new value has settled."""
        if address == self.current:
            self._candidate, self._since = None, None
            return None
        if self._since is None or address != self._candidate:
            self._candidate, self._since = address, now
        if now - self._since < self.settle:
            return None
        change = AddressChanged(self.current, address)
        self.current = address
        self._candidate, self._since = None, None
        return change
