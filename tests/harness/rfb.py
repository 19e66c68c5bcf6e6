"""RFB (RFC 6143, version 3.8, no security, raw encoding) written for the tests.

Both ends over any byte channel: a TCP socket (`SocketChannel`) or an internal
desktop-sharing handler (`HandlerChannel`: `send` and
``DesktopSharingStreamGotData``). `RFBServer` serves a fixed framebuffer to one
client in a thread and records the key and pointer events it gets; `RFBViewer`
does the client's handshake and asks for full-screen raw updates. Only what
the tests need: a server sends raw rectangles whatever the client asked, in
its own pixel format (32 bits, depth 24, little-endian, red at bit 16).
"""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import threading
import time
from dataclasses import dataclass
from typing import Any, Protocol

from sipsimple.notification import Notification, NotificationCenter

VERSION = b"RFB 003.008\n"
# bits per pixel, depth, big-endian, true colour, max r g b, shifts r g b, padding
PIXEL_FORMAT = struct.pack(">BBBBHHHBBB3x", 32, 24, 0, 1, 255, 255, 255, 16, 8, 0)


class Channel(Protocol):
    def read(self, size: int) -> bytes: ...

    def write(self, data: bytes) -> None: ...


class SocketChannel:
    def __init__(self, sock: socket.socket, timeout: float = 30) -> None:
        self.sock = sock
        sock.settimeout(timeout)

    def read(self, size: int) -> bytes:
        parts, left = [], size
        while left:
            data = self.sock.recv(min(left, 1 << 20))
            if not data:
                raise EOFError(f"the connection closed with {left} of {size} bytes unread")
            parts.append(data)
            left -= len(data)
        return b"".join(parts)

    def write(self, data: bytes) -> None:
        self.sock.sendall(data)

    def close(self) -> None:
        """Shut down first: a thread blocked reading it wakes (close alone may not wake it)."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()


class HandlerChannel:
    """An internal handler's bytes: what it got (DesktopSharingStreamGotData), read in order."""

    def __init__(self, handler: Any, timeout: float = 30) -> None:
        self.handler = handler
        self.timeout = timeout
        self._buffer = bytearray()
        self._arrived = threading.Condition()
        NotificationCenter().add_observer(self, name="DesktopSharingStreamGotData",
                                          sender=handler)

    def handle_notification(self, notification: Notification) -> None:
        with self._arrived:
            self._buffer += notification.data.data
            self._arrived.notify_all()

    def read(self, size: int) -> bytes:
        deadline = time.monotonic() + self.timeout
        with self._arrived:
            while len(self._buffer) < size:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{len(self._buffer)} of {size} bytes came")
                self._arrived.wait(remaining)
            data = bytes(self._buffer[:size])
            del self._buffer[:size]
            return data

    def write(self, data: bytes) -> None:
        self.handler.send(data)

    def close(self) -> None:
        NotificationCenter().discard_observer(self, name="DesktopSharingStreamGotData",
                                              sender=self.handler)


@dataclass(frozen=True)
class ServerInit:
    width: int
    height: int
    pixel_format: bytes
    name: str


def pattern(width: int, height: int) -> bytes:
    """Random pixels: any byte lost, added or misplaced on the way shows."""
    return os.urandom(width * height * 4)


class RFBServer:
    """Serves `pixels` (width x height, 4 bytes each) to one client over `channel`."""

    def __init__(self, channel: Channel, width: int, height: int, pixels: bytes,
                 name: str = "test desktop") -> None:
        assert len(pixels) == width * height * 4
        self.channel, self.width, self.height = channel, width, height
        self.pixels, self.name = pixels, name
        self.keys: list[tuple[bool, int]] = []
        self.pointer: list[tuple[int, int, int]] = []
        self.updates = 0
        self.error: BaseException | None = None
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True, name="rfb-server")

    def start(self) -> RFBServer:
        self.thread.start()
        return self

    def _run(self) -> None:
        try:
            self.serve()
        except (EOFError, OSError, TimeoutError) as exc:
            self.error = exc
        finally:
            self.done.set()

    def serve(self) -> None:
        ch = self.channel
        ch.write(VERSION)
        if ch.read(12) != VERSION:
            raise EOFError("the client speaks another RFB version")
        ch.write(b"\x01\x01")  # one security type: None
        if ch.read(1) != b"\x01":
            raise EOFError("the client chose another security type")
        ch.write(b"\x00\x00\x00\x00")  # SecurityResult OK
        ch.read(1)  # ClientInit (shared flag)
        name = self.name.encode()
        ch.write(struct.pack(">HH", self.width, self.height) + PIXEL_FORMAT
                 + struct.pack(">I", len(name)) + name)
        while True:
            kind = ch.read(1)[0]
            if kind == 0:  # SetPixelFormat (ignored: we send ours)
                ch.read(19)
            elif kind == 2:  # SetEncodings
                _, count = struct.unpack(">BH", ch.read(3))
                ch.read(4 * count)
            elif kind == 3:  # FramebufferUpdateRequest: the whole screen, raw
                ch.read(9)
                self.updates += 1
                ch.write(struct.pack(">BxH", 0, 1)
                         + struct.pack(">HHHHi", 0, 0, self.width, self.height, 0))
                ch.write(self.pixels)
            elif kind == 4:  # KeyEvent
                down, key = struct.unpack(">B2xI", ch.read(7))
                self.keys.append((bool(down), key))
            elif kind == 5:  # PointerEvent
                self.pointer.append(struct.unpack(">BHH", ch.read(5)))
            elif kind == 6:  # ClientCutText
                _, length = struct.unpack(">3sI", ch.read(7))
                ch.read(length)
            else:
                raise EOFError(f"unknown client message {kind}")


class RFBViewer:
    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.init: ServerInit | None = None

    def handshake(self) -> ServerInit:
        ch = self.channel
        version = ch.read(12)
        assert version.startswith(b"RFB 003."), version
        ch.write(VERSION)
        count = ch.read(1)[0]
        assert count, "the server refused the connection"
        types = ch.read(count)
        assert 1 in types, f"no security type None among {list(types)}"
        ch.write(b"\x01")
        assert ch.read(4) == b"\x00\x00\x00\x00", "security failed"
        ch.write(b"\x01")  # shared
        width, height = struct.unpack(">HH", ch.read(4))
        pixel_format = ch.read(16)
        (length,) = struct.unpack(">I", ch.read(4))
        self.init = ServerInit(width, height, pixel_format, ch.read(length).decode())
        ch.write(b"\x02\x00\x00\x01" + struct.pack(">i", 0))  # SetEncodings: raw only
        return self.init

    def frame(self, incremental: bool = False) -> bytes:
        """Ask for the whole screen; its pixels (raw rectangles put in place)."""
        assert self.init is not None
        width, height = self.init.width, self.init.height
        ch = self.channel
        ch.write(struct.pack(">BBHHHH", 3, int(incremental), 0, 0, width, height))
        screen = bytearray(width * height * 4)
        while True:
            kind = ch.read(1)[0]
            if kind == 0:
                break
            if kind == 2:  # Bell
                continue
            if kind == 3:  # ServerCutText
                _, length = struct.unpack(">3sI", ch.read(7))
                ch.read(length)
                continue
            raise AssertionError(f"unexpected server message {kind}")
        (rectangles,) = struct.unpack(">xH", ch.read(3))
        for _ in range(rectangles):
            x, y, w, h, encoding = struct.unpack(">HHHHi", ch.read(12))
            if encoding == -223:  # DesktopSize pseudo-encoding: no pixels
                continue
            assert encoding == 0, f"encoding {encoding} is not raw"
            data = ch.read(w * h * 4)
            for row in range(h):
                start = ((y + row) * width + x) * 4
                screen[start:start + w * 4] = data[row * w * 4:(row + 1) * w * 4]
        return bytes(screen)

    def key(self, keysym: int) -> None:
        for down in (1, 0):
            self.channel.write(struct.pack(">BBxxI", 4, down, keysym))

    def pointer(self, x: int, y: int, buttons: int = 0) -> None:
        self.channel.write(struct.pack(">BBHH", 5, buttons, x, y))
