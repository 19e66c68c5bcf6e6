"""MSRP streams: MSRPStreamBase, ChatStream and FileTransferStream.

The msrp service runs the MSRP sessions; these classes write and read the
SDP and turn the service's events into notifications (`docs/msrp.md`).
"""

from sipsimple.streams.msrp.base import MSRPStreamBase, MSRPStreamError
from sipsimple.streams.msrp.chat import (
    ChatMessage,
    ChatStream,
    ChatStreamError,
    choose_wrapping,
)
from sipsimple.streams.msrp.fileselector import FileRange, FileSelector
from sipsimple.streams.msrp.filetransfer import (
    FileTransferStream,
    file_selector_for,
    transfer_directory,
)
from sipsimple.streams.msrp.sdp import MSRPMedia, build_media, contains_mime_type, read_media

__all__ = [
    "ChatMessage",
    "ChatStream",
    "ChatStreamError",
    "FileRange",
    "FileSelector",
    "FileTransferStream",
    "MSRPMedia",
    "MSRPStreamBase",
    "MSRPStreamError",
    "build_media",
    "choose_wrapping",
    "contains_mime_type",
    "file_selector_for",
    "read_media",
    "transfer_directory",
]
