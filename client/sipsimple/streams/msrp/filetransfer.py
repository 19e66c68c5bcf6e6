"""FileTransferStream: one file over MSRP (RFC 5547), sendonly or recvonly.

The msrp service hashes, reads and writes the file (`docs/msrp.md`, Files);
the stream writes and reads ``a=file-selector``, ``a=file-transfer-id`` and
``a=file-disposition`` and turns the service's events into the seed's
notifications. The sender's selector comes from `file_selector_for(path)`
(the service hashes first, RFC 5547 section 8.1); the receiver writes into
``file_transfer.directory`` (created if missing) under a safe unique name.

Notifications (sender on the left, receiver on the right):
``FileTransferStreamDidDeliverChunk`` (``message_id``, ``transferred_bytes``
sent so far, ``file_size``, ``code`` 200, ``reason``, ``chunk`` None: a few a
second, not one per chunk), ``FileTransferStreamDidNotDeliverChunk``
(``message_id``, ``code``, ``reason``, ``chunk`` None),
``FileTransferStreamGotChunk`` (``content`` None: the bytes stay in the
service, unless `deliver_content` was set before the stream started: then
one per piece received with its bytes, ``content_type``,
``transferred_bytes``, ``file_size``), and
``FileTransferStreamDidFinish`` on both sides (``error``: None or the reason;
the receiver's ``file_path`` where the file now is; an interrupted receiver's
``partial`` file and ``received`` bytes, kept to resume).

Resume (RFC 5547 8.2): the sender's offer carries ``a=file-range``
(``1-*``, or the `file_range` given); a receiver that kept part of the same
file (same size and SHA-1: the service names a kept part after the hash)
answers with the range it still needs (``N+1-*``), continues its partial
file and checks size and SHA-1 over the whole file; the sender sends from
the answered start. A new offer of an interrupted file is all it takes.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from typing import Any

from sipsimple.bus.client import BusError, get_bus
from sipsimple.core.sdp import FrozenSDPSession, SDPAttribute, SDPMediaStream
from sipsimple.notification import NotificationData
from sipsimple.streams.interface import InvalidStreamError, UnknownStreamError
from sipsimple.streams.msrp.base import MSRPStreamBase, MSRPStreamError, msrp_call
from sipsimple.streams.msrp.fileselector import (
    FileRange,
    FileSelector,
    format_file_range,
    parse_file_range,
    parse_file_transfer_id,
)

__all__ = ["FileTransferStream", "file_selector_for", "transfer_directory", "use_directories"]

log = logging.getLogger(__name__)

HASH_TIMEOUT = 3600.0  # seconds: hashing reads the whole file
DEFAULT_TYPE = "application/octet-stream"


# The directories this process's transfers use: the msrp service reads and
# writes files only inside those its client configured (docs/msrp.md, Paths).
_directories: set[str] = set()
_directories_lock = threading.Lock()


def use_directories(*directories: str) -> None:
    """Let the msrp service use `directories` (absolute) for this process's transfers,
    besides those given before: the application's own choices (a file it sends, the
    directory it receives into), never a path a peer named."""
    with _directories_lock:
        _directories.update(os.path.realpath(directory) for directory in directories)
        chosen = sorted(_directories)
    msrp_call("configure", directories=chosen)


def file_selector_for(path: str, content_type: str | None = None) -> FileSelector:
    """The selector of a local file: the msrp service reads it for its size and SHA-1.
    The file's directory becomes one this process may send from."""
    path = os.path.abspath(os.path.expanduser(path))
    use_directories(os.path.dirname(os.path.realpath(path)))
    try:
        reply = get_bus().call("msrp", "hash_file", timeout=HASH_TIMEOUT, path=path)
    except BusError as exc:
        raise MSRPStreamError(f"cannot read {path}: {exc}") from exc
    return FileSelector(str(reply["name"]), content_type or DEFAULT_TYPE, int(reply["size"]),
                        bytes(reply["hash"]), path=path)


def transfer_directory() -> str:
    """``file_transfer.directory`` as an absolute path, made if missing."""
    from sipsimple.configuration.settings import SIPSimpleSettings

    setting = SIPSimpleSettings().file_transfer.directory
    directory = os.path.abspath(os.path.expanduser(str(setting.normalized)))
    os.makedirs(directory, exist_ok=True)
    return directory


class FileTransferStream(MSRPStreamBase):
    type = "file-transfer"
    priority = 10  # before ChatStream: an m=message with a file-selector is ours

    media_type = "message"
    accept_types = ["*"]
    accept_wrapped_types = ["*"]
    # The receiver's GotChunk carries the bytes (they cross the bus: costly
    # for large files); set before the stream starts.
    deliver_content = False

    # Where the receiver writes: None is ``file_transfer.directory``; set it (an
    # absolute path, the application's choice) before the stream starts.
    directory: str | None = None
    # The receiver continues what an interrupted transfer of the same file (same
    # size and SHA-1) kept, when the offer carries a=file-range (RFC 5547 8.2).
    resume = True

    def __init__(self, account: Any, file_selector: FileSelector | None = None,
                 direction: str = "sendonly", file_range: FileRange | None = None) -> None:
        if direction not in ("sendonly", "recvonly"):
            raise ValueError(f"a file transfer is sendonly or recvonly, not {direction}")
        if direction == "sendonly" and (file_selector is None or file_selector.path is None):
            raise ValueError("sending needs the selector of a local file (file_selector_for)")
        super().__init__(account, direction)
        self.file_selector = file_selector
        self.transfer_id = uuid.uuid4().hex
        self.message_id: str | None = None
        self.file_path: str | None = None  # the receiver's final file
        # The part of the file this transfer moves: the sender offers it (the whole
        # file by default) and sends what the answer asks for; the receiver asks
        # for what it still needs. None: no a=file-range (a peer without it).
        if file_range is None and direction == "sendonly":
            file_range = FileRange()
        self.file_range: FileRange | None = file_range
        self.partial: str | None = None  # the receiver's kept part it continues
        self._range_chosen = False
        self._finished = False

    @classmethod
    def new_from_sdp(cls, account: Any, remote_sdp: FrozenSDPSession,
                     stream_index: int) -> FileTransferStream:
        media = remote_sdp.media[stream_index]
        if media.media != "message" or "file-selector" not in media.attributes:
            raise UnknownStreamError("no a=file-selector: not a file transfer")
        offer = cls._read_offer(remote_sdp, stream_index)
        if offer.direction != "sendonly":
            raise InvalidStreamError("only receiving an offered file is supported "
                                     f"(the offer is {offer.direction})")
        try:
            selector = FileSelector.parse(media.attributes.getfirst("file-selector") or "")
            transfer_id = media.attributes.getfirst("file-transfer-id")
            offered_range = media.attributes.getfirst("file-range")
            stream = cls(account, selector, "recvonly",
                         parse_file_range(offered_range) if offered_range else None)
            if transfer_id:
                stream.transfer_id = parse_file_transfer_id(transfer_id)
        except ValueError as exc:
            raise InvalidStreamError(f"bad file transfer attributes: {exc}") from None
        stream._remote_offer = offer
        return stream

    def get_local_media(self, for_offer: bool) -> SDPMediaStream:
        media = super().get_local_media(for_offer)
        selector = self.file_selector if self.file_selector is not None else FileSelector()
        media.attributes.append(SDPAttribute("file-selector", str(selector)))
        media.attributes.append(SDPAttribute("file-transfer-id", self.transfer_id))
        media.attributes.append(SDPAttribute("file-disposition", "attachment"))
        if self.direction == "recvonly" and not for_offer:
            self._choose_range()
        if self.file_range is not None:
            media.attributes.append(SDPAttribute("file-range",
                                                 format_file_range(self.file_range)))
        return media

    def _choose_range(self) -> None:
        """The receiver's answer: the part still needed (RFC 5547 8.2). An offer with
        a=file-range lets us ask for the rest of a kept part of the same file; else
        the whole file (no a=file-range: the peer does not know it)."""
        if self.file_range is None or self._range_chosen:
            return
        self._range_chosen = True
        selector = self.file_selector
        found: dict[str, Any] = {}
        if self.resume and selector is not None and selector.size and selector.hash:
            try:
                found = msrp_call("find_partial", directory=self._directory(),
                                  size=selector.size, hash=selector.hash)
            except (MSRPStreamError, OSError) as exc:
                log.info("%r: no resume: %s", self, exc)
        if found.get("partial"):
            self.partial = str(found["partial"])
            self.file_range = FileRange(int(found["received"]))
        else:
            self.file_range = FileRange()

    def start(self, local_sdp: FrozenSDPSession, remote_sdp: FrozenSDPSession,
              stream_index: int) -> None:
        if self.direction == "recvonly" and self.msrp_session_id is not None:
            selector = self.file_selector or FileSelector()
            try:
                msrp_call("receive_file", session_id=self.msrp_session_id,
                          directory=self._directory(), name=selector.name or "file",
                          size=selector.size, hash=selector.hash, partial=self.partial,
                          content=bool(self.deliver_content))
            except (MSRPStreamError, OSError) as exc:
                self._post("MediaStreamDidFail", reason=f"cannot receive the file: {exc}")
                return
        elif self.direction == "sendonly":
            answered = remote_sdp.media[stream_index].attributes.getfirst("file-range")
            if answered:
                try:
                    self.file_range = parse_file_range(answered)
                except ValueError as exc:
                    self._post("MediaStreamDidFail", reason=f"bad a=file-range answer: {exc}")
                    return
        super().start(local_sdp, remote_sdp, stream_index)

    def _directory(self) -> str:
        """The receiver's directory, made if missing and given to the msrp service."""
        if self.directory is None:
            directory = transfer_directory()
        else:
            directory = os.path.abspath(os.path.expanduser(self.directory))
            os.makedirs(directory, exist_ok=True)
        use_directories(directory)
        return directory

    def _session_ready(self) -> None:
        if self.direction != "sendonly" or self.msrp_session_id is None:
            return
        assert self.file_selector is not None and self.file_selector.path is not None
        try:  # the application's file, even with a selector it made itself
            use_directories(os.path.dirname(os.path.realpath(self.file_selector.path)))
        except MSRPStreamError as exc:
            self._finish(str(exc))
            return
        offset = self.file_range.start if self.file_range is not None else 0
        size = self.file_selector.size
        if size is not None and offset > size:
            self._finish(f"the peer asked for bytes from {offset + 1}, past the end "
                         f"of the file ({size} bytes)")
            return
        try:
            reply = msrp_call("send_file", session_id=self.msrp_session_id,
                              path=self.file_selector.path,
                              content_type=self.file_selector.type or DEFAULT_TYPE,
                              offset=offset)
        except MSRPStreamError as exc:
            self._finish(str(exc))
            return
        self.message_id = str(reply["message_id"])

    # --- msrp events (bus thread) ---------------------------------------------------

    def _msrp_event(self, name: str, data: NotificationData) -> None:
        what = name.partition(".")[2]
        size = self.file_selector.size if self.file_selector is not None else None
        if what == "file_progress":
            transferred = getattr(data, "transferred", 0)
            if self.direction == "sendonly":
                self._post("FileTransferStreamDidDeliverChunk",
                           message_id=getattr(data, "message_id", None), chunk=None, code=200,
                           reason="OK", transferred_bytes=transferred, file_size=size)
            elif not self.deliver_content:
                self._post("FileTransferStreamGotChunk", content=None,
                           content_type=self.file_selector.type if self.file_selector else None,
                           transferred_bytes=transferred, file_size=size)
        elif what == "file_data":
            data_bytes = getattr(data, "data", b"")
            offset = getattr(data, "offset", 0)
            self._post("FileTransferStreamGotChunk", content=data_bytes,
                       content_type=self.file_selector.type if self.file_selector else None,
                       transferred_bytes=offset + len(data_bytes), file_size=size)
        elif what == "file_received":
            self.file_path = str(getattr(data, "path", ""))
            self._finish(None)
        elif what == "file_failed":
            self._finish(str(getattr(data, "reason", "failed")),
                         partial=getattr(data, "partial", None),
                         received=getattr(data, "received", 0))
        else:
            super()._msrp_event(name, data)

    def _message_outcome(self, message_id: str, delivered: bool, code: int, reason: str) -> None:
        if message_id != self.message_id:
            return
        if not delivered:
            self._post("FileTransferStreamDidNotDeliverChunk", message_id=message_id, chunk=None,
                       code=code, reason=reason)
        self._finish(None if delivered else f"{code} {reason}".strip())

    def _stream_ended(self) -> None:
        self._finish("the stream ended before the transfer finished")

    def _finish(self, error: str | None, **extra: Any) -> None:
        with self._lock:
            if self._finished:
                return
            self._finished = True
        if error is not None:
            log.info("%r: file transfer failed: %s", self, error)
        self._post("FileTransferStreamDidFinish", error=error, file_path=self.file_path,
                   **extra)
