"""Desktop sharing: RFB (the VNC protocol) over an MSRP stream, and its handlers.

``m=application <port> TCP/MSRP *`` with ``a=accept-types:application/x-rfb``
and ``a=rfbsetup:active`` on the side of the VNC viewer, ``passive`` on the
side of the VNC server (an offer without it is a viewer's, as the original
SDK read it). The RFB bytes travel as SENDs of ``application/x-rfb`` without
reports (``Failure-Report: partial``), in order, one message per read.

A `DesktopSharingStream` has one `IDesktopSharingHandler`, which decides where
the bytes come from and go:

- `InternalVNCViewerHandler` / `InternalVNCServerHandler`: the application
  speaks RFB itself: `send(data)` and ``DesktopSharingStreamGotData``; these
  bytes cross the bus (the application asked for them).
- `ExternalVNCViewerHandler`: a VNC viewer connects to `address` (the msrp
  service listens there from the handler's creation; one connection only,
  within `connect_timeout` seconds of the MSRP connection).
- `ExternalVNCServerHandler`: the msrp service connects to a running VNC
  server at `address` once the MSRP connection is up.

With the external handlers the msrp service moves the bytes between the TCP
connection and the MSRP session itself (``splice_session``): frame data never
crosses the bus. A handler that fails posts ``DesktopSharingHandlerDidFail``
(``context``: ``connecting``, ``reading`` or ``sending``; ``failure``: a
`DesktopSharingError`; ``reason``), and its stream fails with that reason.
The external handlers also post ``DesktopSharingHandlerDidConnect``
(``address``: the VNC peer's) once their TCP connection is up.
"""

from __future__ import annotations

import logging
import queue
import threading
from abc import ABC, abstractmethod
from typing import Any, ClassVar

from sipsimple.core.sdp import FrozenSDPSession, SDPAttribute, SDPMediaStream
from sipsimple.notification import Notification, NotificationCenter, NotificationData
from sipsimple.streams.interface import InvalidStreamError, UnknownStreamError
from sipsimple.streams.msrp.base import MSRPStreamBase, MSRPStreamError, msrp_call
from sipsimple.streams.msrp.sdp import contains_mime_type

__all__ = [
    "RFB_TYPE",
    "DesktopSharingError",
    "DesktopSharingStream",
    "ExternalVNCServerHandler",
    "ExternalVNCViewerHandler",
    "IDesktopSharingHandler",
    "InternalVNCServerHandler",
    "InternalVNCViewerHandler",
]

log = logging.getLogger(__name__)

RFB_TYPE = "application/x-rfb"
MAX_SEND = 512 * 1024  # bytes per send_message: well under the bus's message limit
FAILED = "DesktopSharingHandlerDidFail"


class DesktopSharingError(Exception):
    """Why a desktop-sharing handler failed (the ``failure`` of its DidFail)."""


class IDesktopSharingHandler(ABC):
    """Consumes and produces the RFB bytes a `DesktopSharingStream` carries.

    `type` is ``"active"`` for a VNC viewer, ``"passive"`` for a VNC server.
    `initialize(stream)` is called once the stream has started (its MSRP
    connection is up): then RFB data flows.
    """

    type: ClassVar[str]

    @abstractmethod
    def initialize(self, stream: DesktopSharingStream) -> None: ...

    # What the stream asks of its handler (the four handlers below implement them).

    def _splice_parameters(self) -> dict[str, Any] | None:
        """The msrp service's ``splice_session`` parameters, for a handler whose bytes
        stay in the service; None: they come to the stream (its queues)."""
        return None

    def _spliced(self) -> None:  # noqa: B027 (optional hook)
        """The service took the splice: what the handler made there is the session's now."""

    def _splice_event(self, what: str, data: NotificationData) -> None:  # noqa: B027
        """``splice_connected`` or ``splice_failed`` from the service (bus thread)."""

    def _stream_ended(self) -> None:  # noqa: B027 (optional hook)
        """The stream ended: release what is left."""


class _Handler(IDesktopSharingHandler):
    def __init__(self) -> None:
        self.stream: DesktopSharingStream | None = None
        self._failed = False

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.type}>"

    def initialize(self, stream: DesktopSharingStream) -> None:
        self.stream = stream

    def _fail(self, context: str, reason: str) -> None:
        if self._failed:
            return
        self._failed = True
        log.info("%r failed (%s): %s", self, context, reason)
        NotificationCenter().post_notification(FAILED, self, NotificationData(
            context=context, failure=DesktopSharingError(reason), reason=reason))

    def _splice_event(self, what: str, data: NotificationData) -> None:
        if what == "splice_connected":
            address = getattr(data, "address", None)
            peer = tuple(address) if isinstance(address, list | tuple) else None
            NotificationCenter().post_notification(
                "DesktopSharingHandlerDidConnect", self, NotificationData(address=peer))
        elif what == "splice_failed":
            self._fail(str(getattr(data, "context", "reading")),
                       str(getattr(data, "reason", "failed")))


class _InternalHandler(_Handler):
    """The application's own RFB side: `send(data)` and ``DesktopSharingStreamGotData``
    (``data``: bytes, posted by the handler from a thread of its own, in order)."""

    def __init__(self) -> None:
        super().__init__()
        self._reader: threading.Thread | None = None

    def initialize(self, stream: DesktopSharingStream) -> None:
        super().initialize(stream)
        if self._reader is None:
            self._reader = threading.Thread(target=self._read, args=(stream,), daemon=True,
                                            name=f"rfb-{type(self).__name__}")
            self._reader.start()

    def send(self, data: bytes) -> None:
        """RFB bytes for the peer (queued in order; sent from the stream's thread once
        the MSRP connection is up)."""
        stream = self.stream
        if stream is None:
            raise DesktopSharingError("the handler belongs to no stream yet")
        if stream.state == "ended":
            raise DesktopSharingError("the stream has ended")
        stream.outgoing_queue.put(bytes(data))

    def _read(self, stream: DesktopSharingStream) -> None:
        center = NotificationCenter()
        while (data := stream.incoming_queue.get()) is not None:
            center.post_notification("DesktopSharingStreamGotData", self,
                                     NotificationData(data=data))


class InternalVNCViewerHandler(_InternalHandler):
    type = "active"


class InternalVNCServerHandler(_InternalHandler):
    type = "passive"


def _host_port(address: tuple[str, int] | list[Any], what: str) -> tuple[str, int]:
    try:
        host, port = address
    except (TypeError, ValueError):
        raise ValueError(f"{what} is a (host, port) pair, not {address!r}") from None
    if not isinstance(host, str) or not host or isinstance(port, bool) \
            or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValueError(f"{what} is a (host, port) pair, not {address!r}")
    return host, port


def _timeout(value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 3600:
        raise ValueError(f"connect_timeout is a number of seconds in (0, 3600], not {value!r}")
    return float(value)


class ExternalVNCViewerHandler(_Handler):
    """A VNC viewer connects to `address` (the msrp service listens there from now on,
    for one connection); `close()` releases the address of a handler no stream used."""

    type = "active"

    def __init__(self, address: tuple[str, int] = ("localhost", 0),
                 connect_timeout: float = 3) -> None:
        super().__init__()
        host, port = _host_port(address, "address")
        self.connect_timeout = _timeout(connect_timeout)
        try:
            reply = msrp_call("splice_listen", address=host, port=port)
        except MSRPStreamError as exc:
            raise DesktopSharingError(str(exc)) from exc
        self.address: tuple[str, int] = (str(reply["address"]), int(reply["port"]))
        self._listener_id: str | None = str(reply["listener_id"])

    def _splice_parameters(self) -> dict[str, Any] | None:
        if self._listener_id is None:
            raise DesktopSharingError("this handler's address was used or closed already")
        return {"mode": "viewer", "listener_id": self._listener_id,
                "connect_timeout": self.connect_timeout}

    def _spliced(self) -> None:
        self._listener_id = None

    def _stream_ended(self) -> None:
        self.close()

    def close(self) -> None:
        listener_id, self._listener_id = self._listener_id, None
        if listener_id is not None:
            try:
                msrp_call("splice_close", listener_id=listener_id)
            except MSRPStreamError as exc:
                log.info("%r: %s", self, exc)


class ExternalVNCServerHandler(_Handler):
    """The msrp service connects to the VNC server at `address` when the stream starts."""

    type = "passive"

    def __init__(self, address: tuple[str, int], connect_timeout: float = 3) -> None:
        super().__init__()
        self.address = _host_port(address, "address")
        self.connect_timeout = _timeout(connect_timeout)

    def _splice_parameters(self) -> dict[str, Any] | None:
        host, port = self.address
        return {"mode": "server", "host": host, "port": port,
                "connect_timeout": self.connect_timeout}


class DesktopSharingStream(MSRPStreamBase):
    """RFB over MSRP. `handler` (an `IDesktopSharingHandler`) is given to the constructor,
    or set by the application before an incoming stream starts (its type must be the one
    the offer leaves: `rfbsetup`).

    `incoming_queue` and `outgoing_queue` are the seed's eventlet queues as thread-safe
    `queue.Queue`s of bytes: the stream puts what the peer sent on `incoming_queue` and
    sends what the handler puts on `outgoing_queue`, in order; None on either marks the
    end of the stream. Only an internal handler's bytes pass through them: an external
    handler's stay in the msrp service.
    """

    type = "desktop-sharing"
    priority = 1

    media_type = "application"
    accept_types: ClassVar[list[str]] = [RFB_TYPE]
    accept_wrapped_types: ClassVar[list[str]] = []

    def __init__(self, account: Any, handler: IDesktopSharingHandler | None = None) -> None:
        super().__init__(account, "sendrecv")
        self.incoming_queue: queue.Queue[bytes | None] = queue.Queue()
        self.outgoing_queue: queue.Queue[bytes | None] = queue.Queue()
        self._handler: IDesktopSharingHandler | None = None
        self._required: str | None = None  # the rfbsetup an incoming offer leaves us
        self._sender: threading.Thread | None = None
        self._failed = False
        self._spliced = False  # the handler's bytes stay in the msrp service
        if handler is not None:
            self.handler = handler

    @property
    def handler(self) -> IDesktopSharingHandler | None:
        return self._handler

    @handler.setter
    def handler(self, handler: IDesktopSharingHandler) -> None:
        if not isinstance(handler, IDesktopSharingHandler):
            raise TypeError(f"{handler!r} is not an IDesktopSharingHandler")
        if self._state not in ("new", "initializing", "initialized"):
            raise DesktopSharingError("the handler is set before the stream starts")
        if self._required is not None and handler.type != self._required:
            wanted = "viewer (active)" if self._required == "active" else "server (passive)"
            raise ValueError(f"the offer asks us for a VNC {wanted}; {handler!r} is not one")
        center = NotificationCenter()
        if self._handler is not None:
            center.discard_observer(self, name=FAILED, sender=self._handler)
        self._handler = handler
        center.add_observer(self, name=FAILED, sender=handler)
        if isinstance(handler, _Handler):
            handler.stream = self  # an internal handler's send() queues from now on

    @property
    def rfbsetup(self) -> str | None:
        """Our ``a=rfbsetup``: ``active`` with the viewer, ``passive`` with the server."""
        if self._handler is not None:
            return self._handler.type
        return self._required

    # --- SDP --------------------------------------------------------------------------

    @classmethod
    def new_from_sdp(cls, account: Any, remote_sdp: FrozenSDPSession,
                     stream_index: int) -> DesktopSharingStream:
        media = remote_sdp.media[stream_index]
        if media.media != "application":
            raise UnknownStreamError("not an m=application line")
        offer = cls._read_offer(remote_sdp, stream_index)
        if not contains_mime_type(offer.accept_types, RFB_TYPE):
            raise UnknownStreamError(f"the MSRP m-line does not take {RFB_TYPE}")
        remote = (media.attributes.getfirst("rfbsetup") or "").strip().lower() or "active"
        if remote not in ("active", "passive"):
            raise InvalidStreamError(f"invalid a=rfbsetup:{remote}")
        stream = cls(account)
        stream._required = "passive" if remote == "active" else "active"
        stream._remote_offer = offer
        return stream

    def get_local_media(self, for_offer: bool) -> SDPMediaStream:
        rfbsetup = self.rfbsetup
        if rfbsetup is None:
            raise MSRPStreamError(f"{self!r} has no handler: its rfbsetup is unknown")
        media = super().get_local_media(for_offer)
        media.attributes.append(SDPAttribute("rfbsetup", rfbsetup))
        return media

    # --- life -------------------------------------------------------------------------

    def start(self, local_sdp: FrozenSDPSession, remote_sdp: FrozenSDPSession,
              stream_index: int) -> None:
        handler = self._handler
        if handler is None:
            self._post("MediaStreamDidFail", reason="no desktop-sharing handler: the "
                       "application sets stream.handler before the stream starts")
            return
        remote = remote_sdp.media[stream_index].attributes.getfirst("rfbsetup")
        if remote is not None and remote.strip().lower() == handler.type:
            side = "viewers" if handler.type == "active" else "servers"
            self._post("MediaStreamDidFail", reason=f"both sides are VNC {side} "
                       f"(a=rfbsetup:{handler.type} on both)")
            return
        try:
            parameters = handler._splice_parameters()
            if parameters is not None and self.msrp_session_id is not None:
                msrp_call("splice_session", session_id=self.msrp_session_id, **parameters)
                handler._spliced()
                self._spliced = True
        except (MSRPStreamError, DesktopSharingError) as exc:
            self._post("MediaStreamDidFail", reason=f"desktop sharing: {exc}")
            return
        super().start(local_sdp, remote_sdp, stream_index)

    def _session_ready(self) -> None:
        if not self._spliced:  # the handler's bytes come through outgoing_queue
            self._sender = threading.Thread(target=self._send_loop, daemon=True,
                                            name="rfb-sender")
            self._sender.start()

    def _send_loop(self) -> None:
        session_id = self.msrp_session_id
        while (data := self.outgoing_queue.get()) is not None:
            # what queued meanwhile goes along (fewer bus calls), in order
            parts, size = [data], len(data)
            while size < MAX_SEND:
                try:
                    more = self.outgoing_queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self.outgoing_queue.put(None)
                    break
                parts.append(more)
                size += len(more)
            joined = b"".join(parts)
            for start in range(0, len(joined), MAX_SEND):
                try:
                    msrp_call("send_message", session_id=session_id, content_type=RFB_TYPE,
                              body=joined[start:start + MAX_SEND], failure_report="partial")
                except MSRPStreamError as exc:
                    if self._state != "ended":
                        self._fail(f"sending RFB data failed: {exc}")
                    return

    def _msrp_event(self, name: str, data: NotificationData) -> None:
        what = name.partition(".")[2]
        if what.startswith("splice_"):
            if self._handler is not None:
                self._handler._splice_event(what, data)
            return
        was = self._state
        super()._msrp_event(name, data)
        if what == "session_started" and was != "started" and self._state == "started" \
                and self._handler is not None:
            self._handler.initialize(self)

    def _message_received(self, message_id: str, content_type: str | None, body: bytes) -> None:
        if body:
            self.incoming_queue.put(body)

    def handle_notification(self, notification: Notification) -> None:
        if notification.name == FAILED and notification.sender is self._handler:
            data = notification.data
            self._fail(f"{getattr(data, 'reason', 'failed')} "
                       f"({getattr(data, 'context', 'unknown')})")

    def _msrp_lost(self, reason: str) -> None:
        if not self._failed:
            super()._msrp_lost(reason)

    def _fail(self, reason: str) -> None:
        with self._lock:
            if self._failed or self._deactivated or \
                    self._state not in ("initialized", "starting", "started"):
                return
            self._failed = True
        self._post("MediaStreamDidFail", reason=reason)

    def _stream_ended(self) -> None:
        self.incoming_queue.put(None)
        self.outgoing_queue.put(None)
        handler = self._handler
        if handler is not None:
            NotificationCenter().discard_observer(self, name=FAILED, sender=handler)
            handler._stream_ended()
