"""A minimal media stream for bench/session_setup.py (benches do not import the tests tree).

``BenchStream`` is an application stream registered through
`MediaStreamRegistrar`, as any application's would be: its m-line is ``m=application
<port> udp x-bench`` on a real UDP socket bound on loopback in ``initialize``
(so the session pays for a transport, as pjsua2 pays for its RTP socket), and
it reports ``initialize``/``start``/``end`` at once. ``BenchStream.live``
counts the streams whose socket is still open, so the bench can tell that
nothing leaked.
"""

from __future__ import annotations

import socket
import threading
from typing import Any, ClassVar

from sipsimple.core import FrozenSDPSession, SDPAttribute, SDPConnection, SDPMediaStream
from sipsimple.notification import NotificationCenter, NotificationData
from sipsimple.streams import IMediaStream, MediaStreamRegistrar

FORMAT = "x-bench"


class BenchStream(IMediaStream, metaclass=MediaStreamRegistrar):
    type = "x-bench"
    priority = 1
    hold_supported = False

    live: ClassVar[int] = 0  # streams with an open socket
    _count_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, account: Any) -> None:
        self.account = account
        self.session: Any = None
        self.direction: str | None = None
        self.socket: socket.socket | None = None
        self.remote_port: int | None = None

    @classmethod
    def new_from_sdp(cls, account: Any, remote_sdp: FrozenSDPSession,
                     stream_index: int) -> BenchStream | None:
        media = remote_sdp.media[stream_index]
        if media.media != "application" or FORMAT not in media.formats:
            return None
        stream = cls(account)
        stream.remote_port = media.port
        return stream

    def get_local_media(self, for_offer: bool) -> SDPMediaStream:
        assert self.socket is not None
        port = int(self.socket.getsockname()[1])
        return SDPMediaStream("application", port, "udp", formats=[FORMAT],
                              connection=SDPConnection("127.0.0.1"),
                              attributes=[SDPAttribute("sendrecv", "")])

    def initialize(self, session: Any, direction: str) -> None:
        self.session, self.direction = session, direction
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind(("127.0.0.1", 0))
        with self._count_lock:
            BenchStream.live += 1
        self._post("MediaStreamDidInitialize")

    def start(self, local_sdp: FrozenSDPSession, remote_sdp: FrozenSDPSession,
              stream_index: int) -> None:
        self.remote_port = remote_sdp.media[stream_index].port
        self._post("MediaStreamDidStart")

    def validate_update(self, remote_sdp: FrozenSDPSession, stream_index: int) -> bool:
        return False  # the bench never renegotiates

    def update(self, local_sdp: FrozenSDPSession, remote_sdp: FrozenSDPSession,
               stream_index: int) -> None:
        pass

    def deactivate(self) -> None:
        pass

    def end(self) -> None:
        if self.socket is None:
            return
        self._post("MediaStreamWillEnd")
        self.socket.close()
        self.socket = None
        with self._count_lock:
            BenchStream.live -= 1
        self._post("MediaStreamDidEnd")

    def _post(self, name: str, **data: Any) -> None:
        NotificationCenter().post_notification(name, self, NotificationData(**data))
