"""The room's side of the `conference` event package (RFC 4575): its subscriptions.

Each subscription counts its own versions: the full state as version 1 when
it is accepted, then one partial document per change (RFC 4575 4.6). The
SIP side (the 200, the NOTIFYs, refreshes, the final NOTIFY) is the
signalling service's notifier; this keeps which subscriptions there are and
what each was sent last, and says what to send.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sipsimple.payloads.conference import CONTENT_TYPE

from .roster import Roster

__all__ = ["EVENT", "ConferenceSubscriptions"]

EVENT = "conference"

# a signalling call: (method, **params) -> whether it succeeded
Signalling = Callable[..., bool]


class ConferenceSubscriptions:
    def __init__(self, roster: Roster, signalling: Signalling) -> None:
        self.roster = roster
        self._signalling = signalling
        self._versions: dict[str, int] = {}  # subscription id -> the last version sent

    def __len__(self) -> int:
        return len(self._versions)

    def incoming(self, sid: str, event: str, open_: bool) -> None:
        """A new SUBSCRIBE to the room: accepted with the full state, or refused
        (489 for another package, 480 for a room that is closing)."""
        if event != EVENT or not open_:
            self._signalling("reject_subscription", subscription_id=sid,
                             code=489 if event != EVENT else 480)
            return
        if self._signalling("accept_subscription", subscription_id=sid,
                            body=self.roster.full(1).encode(), content_type=CONTENT_TYPE):
            self._versions[sid] = 1

    def publish(self, uri: str, left: str | None = None) -> None:
        """User `uri` changed: a partial document to every subscription, each its next
        version (`left`: an endpoint of the user that left while others stay)."""
        for sid, version in list(self._versions.items()):
            version += 1
            body = self.roster.partial(uri, version, left=left).encode()
            if self._signalling("notify", subscription_id=sid, body=body,
                                content_type=CONTENT_TYPE):
                self._versions[sid] = version
            else:
                self._versions.pop(sid, None)

    def ended(self, sid: Any) -> None:
        """The service ended the subscription (unsubscribed, expired, failed)."""
        self._versions.pop(sid, None)

    def end_all(self) -> None:
        """The room closes: every subscription gets its final NOTIFY."""
        for sid in list(self._versions):
            self._signalling("end_subscription", subscription_id=sid, reason="noresource")
        self._versions.clear()

    def forget_all(self) -> None:
        """The service that held them is gone: nothing to end."""
        self._versions.clear()
