"""Read-only helpers shared by the mutable and the frozen model.

They read only fields both forms have, so a function written against one
form works with the other.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from sipsimple.core.sdp.grammar import DIRECTIONS

__all__ = ["MediaQueries", "SessionQueries", "ntp_now"]

_NTP_EPOCH_OFFSET = 2208988800  # seconds from 1900-01-01 to 1970-01-01


def ntp_now() -> int:
    """An NTP-format timestamp in seconds, as RFC 8866 suggests for o= fields."""
    return int(time.time()) + _NTP_EPOCH_OFFSET


def _direction(attributes: Any) -> str | None:
    for attribute in attributes:
        if attribute.name in DIRECTIONS:
            return str(attribute.name)
    return None


class MediaQueries:
    __slots__ = ()  # keeps the frozen dataclasses' slots effective
    port: int
    attributes: Any

    @property
    def disabled(self) -> bool:
        """Port 0: rejected in an answer, removed or not yet used in an offer."""
        return self.port == 0

    @property
    def direction(self) -> str | None:
        """The media-level direction attribute, None when there is none.

        The effective direction also depends on the session level: use
        `session.media_direction(index)`.
        """
        return _direction(self.attributes)

    @property
    def has_ice_attributes(self) -> bool:
        return "ice-ufrag" in self.attributes and "ice-pwd" in self.attributes

    @property
    def has_ice_candidates(self) -> bool:
        return "candidate" in self.attributes


class SessionQueries:
    __slots__ = ()
    attributes: Any
    connection: Any
    media: Sequence[Any]

    @property
    def direction(self) -> str | None:
        """The session-level direction attribute, None when there is none."""
        return _direction(self.attributes)

    def media_direction(self, index: int) -> str:
        """The direction of m-line `index`: media level, else session level, else sendrecv."""
        return self.media[index].direction or self.direction or "sendrecv"

    def media_connection(self, index: int) -> Any:
        """The c= that applies to m-line `index` (media level wins), or None."""
        return self.media[index].connection or self.connection

    @property
    def has_ice_attributes(self) -> bool:
        return "ice-ufrag" in self.attributes and "ice-pwd" in self.attributes
