"""RFC 3264 section 8: offers that modify a session, and the o= version.

- `next_version` keeps the o= line of the previous local description and
  raises its version by one exactly when something else changed (8: "the
  version ... MUST increment by one"; an unchanged description keeps it).
- `build_offer` lays out an offer: existing m-lines keep their positions,
  removed streams become port 0 in place (8.2), and `free_media_index`
  picks where a new stream goes: a port-0 m-line, preferably of the same
  media type, before appending (8.1 allows reusing any of them).
- `validate_reoffer` and `compare_media` classify a received re-offer.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sipsimple.core.sdp.connections import compact_connections
from sipsimple.core.sdp.errors import SDPNegotiationError
from sipsimple.core.sdp.frozen import FrozenSDPMediaStream, FrozenSDPSession
from sipsimple.core.sdp.mutable import SDPMediaStream, SDPSession
from sipsimple.core.sdp.offer_answer import disabled_media, validate_offer

__all__ = [
    "MediaChanges",
    "build_offer",
    "compare_media",
    "free_media_index",
    "next_version",
    "sdp_changed",
    "validate_reoffer",
]

_ORIGIN = ("user", "id", "net_type", "address_type", "address")


def next_version(previous: FrozenSDPSession | None, new: Any) -> FrozenSDPSession:
    """`new`, frozen, with the o= line of `previous` and the right version.

    Without a previous description `new` is returned as it is (its own o=).
    """
    current = FrozenSDPSession.new(new)
    if previous is None:
        return current
    same_origin = dataclasses.replace(
        current, version=previous.version, **{f: getattr(previous, f) for f in _ORIGIN}
    )
    if same_origin == previous:
        return previous
    return dataclasses.replace(same_origin, version=previous.version + 1)


def sdp_changed(previous: FrozenSDPSession, new: FrozenSDPSession) -> bool:
    """Whether `new` differs from `previous` in anything but the o= version.

    Content decides, not the version alone: some peers raise the version on
    every refresh and a few forget to raise it on a change.
    """
    return dataclasses.replace(new, version=previous.version) != previous


def free_media_index(
    media: Sequence[Any], media_type: str, taken: Collection[int] = ()
) -> int:
    """The m-line index for a new stream of `media_type` in the next offer.

    `media` is the previous local description's m-lines; `taken` the indexes
    already given to other new streams of the same offer.
    """
    free = [i for i, m in enumerate(media) if m.port == 0 and i not in taken]
    for index in free:
        if media[index].media == media_type:
            return index
    if free:
        return free[0]
    return max([len(media) - 1, *taken]) + 1


def build_offer(
    local: Any, media: Mapping[int, Any], previous: FrozenSDPSession | None = None
) -> FrozenSDPSession:
    """An offer with `local`'s session-level fields and the streams of `media`.

    `media` maps m-line indexes to the m-lines of the streams in use. An
    index of `previous` not in `media` is disabled (port 0, kept in place);
    indexes past its end must follow on without gaps. The result carries the
    o= of `previous` and a version raised only if something changed.
    """
    previous_media: tuple[FrozenSDPMediaStream, ...] = previous.media if previous else ()
    count = max(len(previous_media), max(media, default=-1) + 1)
    offer = SDPSession.new(local)
    offer.media = []
    for index in range(count):
        if index in media:
            offer.media.append(SDPMediaStream.new(media[index]))
        elif index < len(previous_media):
            offer.media.append(disabled_media(previous_media[index]))
        else:
            raise ValueError(f"no stream for m-line {index}")
    compact_connections(offer)
    return next_version(previous, offer)


@dataclass(frozen=True, slots=True)
class MediaChanges:
    """How a description's m-lines changed; each field holds m-line indexes."""

    added: tuple[int, ...] = ()  # port 0 or absent before, in use now
    removed: tuple[int, ...] = ()  # in use before, port 0 now
    modified: tuple[int, ...] = ()  # in use in both, the m-line section differs

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.modified)


def compare_media(previous: Any, new: Any) -> MediaChanges:
    added: list[int] = []
    removed: list[int] = []
    modified: list[int] = []
    for index, media in enumerate(new.media):
        before = previous.media[index] if index < len(previous.media) else None
        active_before = before is not None and before.port != 0
        if media.port == 0:
            if active_before:
                removed.append(index)
        elif not active_before or before is None:
            added.append(index)
        elif FrozenSDPMediaStream.new(before) != FrozenSDPMediaStream.new(media):
            modified.append(index)
    return MediaChanges(tuple(added), tuple(removed), tuple(modified))


def validate_reoffer(previous: FrozenSDPSession, offer: FrozenSDPSession) -> MediaChanges:
    """Check a received re-offer against the previous remote description.

    Raises `SDPNegotiationError` (488) when it cannot be answered: fewer
    m-lines than before (8: m-lines are never removed) or an m-line in use
    that changed its media type (a new type needs a new or a disabled slot).
    """
    validate_offer(offer)
    if len(offer.media) < len(previous.media):
        raise SDPNegotiationError(
            f"the offer has {len(offer.media)} m-lines, the session had {len(previous.media)}",
            warning="m-lines cannot be removed from a session",
        )
    for index, (before, now) in enumerate(zip(previous.media, offer.media, strict=False)):
        if before.port != 0 and now.port != 0 and before.media != now.media:
            raise SDPNegotiationError(
                f"m-line {index} changed from {before.media!r} to {now.media!r}",
                warning="media type of a stream in use changed",
            )
    return compare_media(previous, offer)
