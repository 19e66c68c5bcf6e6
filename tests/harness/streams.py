"""A media stream defined by the tests, to exercise sessions before audio and MSRP exist.

`ProbeStream` is an `IMediaStream` registered through `MediaStreamRegistrar`,
as any application stream would be. Its m-line is ``m=application <port>
udp x-probe`` on a real UDP socket bound on loopback; it supports hold (the
direction attribute says it) and records every call the Session makes, so a
test can check the order. Switches make it fail on purpose.
"""

from __future__ import annotations

import socket
from typing import Any, ClassVar

from sipsimple.core import FrozenSDPSession, SDPAttribute, SDPConnection, SDPMediaStream
from sipsimple.notification import NotificationCenter, NotificationData
from sipsimple.streams import IMediaStream, MediaStreamRegistrar

FORMAT = "x-probe"


class ProbeStream(IMediaStream, metaclass=MediaStreamRegistrar):
    type = "probe"
    priority = 1
    hold_supported = True

    # class-wide switches for tests of failures (reset by the fixture)
    fail_initialize: ClassVar[bool] = False
    fail_start: ClassVar[bool] = False
    decline: ClassVar[bool] = False

    def __init__(self, account: Any) -> None:
        self.account = account
        self.calls: list[str] = []
        self.session: Any = None
        self.direction: str | None = None
        self.socket: socket.socket | None = None
        self.remote_port: int | None = None
        self.on_hold_by_local = False
        self.on_hold_by_remote = False
        self.ended = False
        self.start_error: str | None = None  # this stream alone fails to start, saying so

    def __repr__(self) -> str:
        return f"<ProbeStream {id(self):x} {self.calls[-1] if self.calls else 'new'}>"

    @classmethod
    def new_from_sdp(cls, account: Any, remote_sdp: FrozenSDPSession,
                     stream_index: int) -> ProbeStream | None:
        media = remote_sdp.media[stream_index]
        if media.media != "application" or FORMAT not in media.formats or cls.decline:
            return None
        stream = cls(account)
        stream.remote_port = media.port
        return stream

    @property
    def port(self) -> int:
        assert self.socket is not None
        return int(self.socket.getsockname()[1])

    def get_local_media(self, for_offer: bool) -> SDPMediaStream:
        self.calls.append("get_local_media")
        if self.on_hold_by_local:
            direction = "inactive" if self.on_hold_by_remote else "sendonly"
        else:
            direction = "sendrecv"
        return SDPMediaStream("application", self.port, "udp", formats=[FORMAT],
                              connection=SDPConnection("127.0.0.1"),
                              attributes=[SDPAttribute(direction, "")])

    def initialize(self, session: Any, direction: str) -> None:
        self.calls.append("initialize")
        self.session, self.direction = session, direction
        if self.fail_initialize:
            self._post("MediaStreamDidFail", reason="initialize failed on purpose")
            return
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind(("127.0.0.1", 0))
        self._post("MediaStreamDidInitialize")

    def start(self, local_sdp: FrozenSDPSession, remote_sdp: FrozenSDPSession,
              stream_index: int) -> None:
        self.calls.append("start")
        if self.fail_start or self.start_error is not None:
            self._post("MediaStreamDidFail", reason=self.start_error or "start failed on purpose")
            return
        self._apply(remote_sdp, stream_index)
        self._post("MediaStreamDidStart")

    def validate_update(self, remote_sdp: FrozenSDPSession, stream_index: int) -> bool:
        self.calls.append("validate_update")
        return remote_sdp.media[stream_index].media == "application"

    def update(self, local_sdp: FrozenSDPSession, remote_sdp: FrozenSDPSession,
               stream_index: int) -> None:
        self.calls.append("update")
        self._apply(remote_sdp, stream_index)

    def _apply(self, remote_sdp: FrozenSDPSession, stream_index: int) -> None:
        self.remote_port = remote_sdp.media[stream_index].port
        direction = remote_sdp.media_direction(stream_index)
        self.on_hold_by_remote = direction in ("sendonly", "inactive")

    def hold(self) -> None:
        self.calls.append("hold")
        self.on_hold_by_local = True

    def unhold(self) -> None:
        self.calls.append("unhold")
        self.on_hold_by_local = False

    def deactivate(self) -> None:
        self.calls.append("deactivate")

    def end(self) -> None:
        self.calls.append("end")
        if self.ended:
            return
        self.ended = True
        self._post("MediaStreamWillEnd")
        if self.socket is not None:
            self.socket.close()
        self._post("MediaStreamDidEnd")

    def _post(self, name: str, **data: Any) -> None:
        NotificationCenter().post_notification(name, self, NotificationData(**data))
