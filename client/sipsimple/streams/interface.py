"""IMediaStream: what the Session calls on a stream, as the Middleware API defines it."""

from __future__ import annotations

import weakref
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Literal

if TYPE_CHECKING:
    from sipsimple.core import FrozenSDPSession, SDPMediaStream

__all__ = ["IMediaStream", "InvalidStreamError", "UnknownStreamError"]

Direction = Literal["incoming", "outgoing"]


class UnknownStreamError(Exception):
    """Raised by new_from_sdp: this class does not handle the m-line; try the next one."""


class InvalidStreamError(Exception):
    """Raised by new_from_sdp: the m-line is this class's but malformed; reject it."""


class IMediaStream(ABC):
    """The API by which a Session communicates with its streams.

    Streams post MediaStreamDidInitialize, MediaStreamDidStart,
    MediaStreamDidFail, MediaStreamWillEnd and MediaStreamDidEnd with
    themselves as sender. The hold attributes default to a stream without hold
    support; streams that support hold override them.
    """

    type: ClassVar[str]  # e.g. "audio", "chat"
    # Relative to other stream types, higher first when an incoming m-line is
    # offered to the registered classes; None keeps a class out of the registry
    # (an abstract base for other streams).
    priority: ClassVar[int | None] = None

    hold_supported: bool = False
    on_hold_by_local: bool = False
    on_hold_by_remote: bool = False

    _session_ref: Callable[[], Any] | None = None

    @property
    def session(self) -> Any:
        """The session the stream belongs to (None before `initialize`).

        Held weakly: the session holds its streams, and the cycle of the two kept a
        whole ended call (bridge, SDP, headers, MSRP queues) alive until the garbage
        collector's next full pass, which raised the facade's heap high-water mark
        in the soak (bench/README.md)."""
        return None if self._session_ref is None else self._session_ref()

    @session.setter
    def session(self, session: Any) -> None:
        try:
            self._session_ref = None if session is None else weakref.ref(session)
        except TypeError:  # an object without weak references (a test's stand-in)
            self._session_ref = lambda: session

    @property
    def on_hold(self) -> bool:
        return self.on_hold_by_local or self.on_hold_by_remote

    @abstractmethod
    def __init__(self, account: Any) -> None: ...

    @classmethod
    @abstractmethod
    def new_from_sdp(
        cls, account: Any, remote_sdp: FrozenSDPSession, stream_index: int
    ) -> IMediaStream | None:
        """A stream for m-line `stream_index` of a remote offer, or None to decline it.

        Raising UnknownStreamError also declines (the next class is tried);
        raising InvalidStreamError rejects the m-line outright.
        """

    @abstractmethod
    def get_local_media(self, for_offer: bool) -> SDPMediaStream:
        """The m-line for an offer (`for_offer`) or for the answer to the remote offer."""

    @abstractmethod
    def initialize(self, session: Any, direction: Direction) -> None:
        """Prepare the transport; post MediaStreamDidInitialize or MediaStreamDidFail."""

    @abstractmethod
    def start(
        self, local_sdp: FrozenSDPSession, remote_sdp: FrozenSDPSession, stream_index: int
    ) -> None:
        """Start the media; post MediaStreamDidStart or MediaStreamDidFail."""

    @abstractmethod
    def validate_update(self, remote_sdp: FrozenSDPSession, stream_index: int) -> bool:
        """Whether a re-INVITE's change to this stream is acceptable (changes nothing)."""

    @abstractmethod
    def update(
        self, local_sdp: FrozenSDPSession, remote_sdp: FrozenSDPSession, stream_index: int
    ) -> None:
        """Apply a successful renegotiation."""

    # Deliberately not abstract: a stream without hold support ignores both.
    def hold(self) -> None:  # noqa: B027
        """Stop sending and receiving; get_local_media() then reflects the hold."""

    def unhold(self) -> None:  # noqa: B027
        """Resume; get_local_media() then reflects it."""

    @abstractmethod
    def deactivate(self) -> None:
        """The stream is about to be removed: a transport closed by the peer is no error now."""

    @abstractmethod
    def end(self) -> None:
        """Close the transport; post MediaStreamWillEnd now and MediaStreamDidEnd when done."""
