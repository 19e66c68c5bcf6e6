"""Media streams: the interface the Session drives, and the registry of stream types.

Stream implementations live in modules of this package (audio, MSRP chat, file
transfer, desktop sharing arrive with their issues) and are importable from
``sipsimple.streams`` directly. An application registers its own stream type
by declaring it with the registrar metaclass::

    class MyStream(IMediaStream, metaclass=MediaStreamRegistrar):
        type = "x-mine"
        priority = 1
        ...

after which incoming sessions offer its m-lines to ``MyStream.new_from_sdp``
and ``MediaStreamRegistry.MyStream`` names it.
"""

from sipsimple.streams.interface import IMediaStream, InvalidStreamError, UnknownStreamError
from sipsimple.streams.msrp import (
    ChatStream,
    ChatStreamError,
    DesktopSharingStream,
    ExternalVNCServerHandler,
    ExternalVNCViewerHandler,
    FileSelector,
    FileTransferStream,
    IDesktopSharingHandler,
    InternalVNCServerHandler,
    InternalVNCViewerHandler,
    MSRPStreamBase,
)
from sipsimple.streams.registry import MediaStreamRegistrar, MediaStreamRegistry
from sipsimple.streams.rtp.audio import AudioStream, AudioStreamError

__all__ = [
    "AudioStream",
    "AudioStreamError",
    "ChatStream",
    "ChatStreamError",
    "DesktopSharingStream",
    "ExternalVNCServerHandler",
    "ExternalVNCViewerHandler",
    "FileSelector",
    "FileTransferStream",
    "IDesktopSharingHandler",
    "IMediaStream",
    "InternalVNCServerHandler",
    "InternalVNCViewerHandler",
    "InvalidStreamError",
    "MSRPStreamBase",
    "MediaStreamRegistrar",
    "MediaStreamRegistry",
    "UnknownStreamError",
]
