"""A real X desktop for the desktop-sharing tests: Xvfb, a known picture, x11vnc.

`xdisplay()` starts Xvfb (Debian ``xvfb``) on a free display (``-displayfd``)
and an X client of the test (python-xlib) that covers the screen with a
window showing `picture(width, height)` and records the key presses and
button presses the display delivers to it (it grabs the keyboard): what a VNC
viewer's input does, seen from the X side. `x11vnc(display)` serves that
display (Debian ``x11vnc``) on a free loopback port, without a password,
without drawing the cursor into the picture.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TypeVar

from harness import peers
from harness.processes import stop_process

T = TypeVar("T")

X11VNC_PEER = "x11vnc (Debian x11vnc)"
XVFB_PEER = "Xvfb (Debian xvfb)"
VNCDO_PEER = "vncdo (PyPI vncdotool, the test extra)"


def have_xvfb() -> bool:
    return shutil.which("Xvfb") is not None


def have_x11vnc() -> bool:
    return shutil.which("x11vnc") is not None


def vncdo() -> str | None:
    """The vncdotool command of this environment's Python, if installed."""
    candidate = os.path.join(os.path.dirname(sys.executable), "vncdo")
    return candidate if os.access(candidate, os.X_OK) else shutil.which("vncdo")


def needs_desktop(test: T) -> T:
    """Marks a test that runs Xvfb, x11vnc and vncdotool: skipped without them, failed
    when the peers are required (CI)."""
    for mark in (peers.needs(XVFB_PEER, have_xvfb()), peers.needs(X11VNC_PEER, have_x11vnc()),
                 peers.needs(VNCDO_PEER, vncdo() is not None)):
        test = mark(test)
    return test


def picture(width: int, height: int) -> bytes:
    """RGB bytes of a picture with sharp edges everywhere: eight colour bars, a
    gradient in each, a white diagonal; a shifted or misread pixel shows."""
    bars = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0),
            (0, 255, 255), (255, 0, 255), (0, 0, 0), (128, 64, 32)]
    out = bytearray(width * height * 3)
    for y in range(height):
        for x in range(width):
            r, g, b = bars[x * len(bars) // width]
            if x == y:
                r = g = b = 255
            else:
                shade = (y * 255) // max(1, height - 1)
                r, g, b = r ^ (shade & 0x3F), g ^ (shade & 0x1F), b ^ (x & 0x0F)
            i = (y * width + x) * 3
            out[i:i + 3] = bytes((r, g, b))
    return bytes(out)


@dataclass
class XDisplay:
    name: str  # ":N"
    width: int
    height: int
    rgb: bytes  # the picture shown
    keys: list[str] = field(default_factory=list)  # keysym names pressed
    buttons: list[tuple[int, int, int]] = field(default_factory=list)  # (button, x, y)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def wait(self, check: object, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        with self.arrived:
            while not check():  # type: ignore[operator]
                remaining = deadline - time.monotonic()
                assert remaining > 0, f"not seen on the display: keys {self.keys}, " \
                                      f"buttons {self.buttons}"
                self.arrived.wait(remaining)

    def pointer(self) -> tuple[int, int]:
        from Xlib import display as xdisplay
        conn = xdisplay.Display(self.name)
        try:
            reply = conn.screen().root.query_pointer()
            return int(reply.root_x), int(reply.root_y)
        finally:
            conn.close()


@contextlib.contextmanager
def xdisplay(width: int = 320, height: int = 240) -> Iterator[XDisplay]:
    """Xvfb with the picture on it (a window of the test's X client)."""
    from Xlib import XK, X
    from Xlib import display as xdisplay_module

    read, write = os.pipe()
    xvfb = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0",
                             f"{width}x{height}x24", "-nolisten", "tcp", "-noreset"],
                            pass_fds=(write,), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    os.close(write)
    try:
        with os.fdopen(read) as numbers:
            number = numbers.readline().strip()  # Xvfb writes it once it accepts clients
        assert number, "Xvfb did not start"
        name = f":{number}"
        rgb = picture(width, height)
        shown = XDisplay(name, width, height, rgb)
        conn = xdisplay_module.Display(name)
        screen = conn.screen()
        depth = screen.root_depth
        pixmap = screen.root.create_pixmap(width, height, depth)
        gc = pixmap.create_gc()
        # ZPixmap at depth 24 is 4 bytes a pixel, blue first (little-endian)
        data = bytearray(width * height * 4)
        data[0::4], data[1::4], data[2::4] = rgb[2::3], rgb[1::3], rgb[0::3]
        step = width * 4 * 16
        for top in range(0, height, 16):  # in pieces: one request has a size limit
            rows = min(16, height - top)
            pixmap.put_image(gc, 0, top, width, rows, X.ZPixmap, depth, 0,
                             bytes(data[top * width * 4:top * width * 4 + step]))
        window = screen.root.create_window(
            0, 0, width, height, 0, depth, X.InputOutput, X.CopyFromParent,
            background_pixmap=pixmap, override_redirect=True,
            event_mask=X.KeyPressMask | X.ButtonPressMask | X.StructureNotifyMask)
        window.map()
        conn.sync()
        while conn.next_event().type != X.MapNotify:
            pass
        window.set_input_focus(X.RevertToParent, X.CurrentTime)
        grabbed = window.grab_keyboard(True, X.GrabModeAsync, X.GrabModeAsync, X.CurrentTime)
        assert grabbed == X.GrabSuccess, grabbed
        conn.sync()
        stop = threading.Event()

        def record() -> None:
            while not stop.is_set():
                try:
                    event = conn.next_event()
                except Exception:  # the display went away: the test is over
                    return
                with shown.arrived:
                    if event.type == X.KeyPress:
                        keysym = conn.keycode_to_keysym(event.detail, 0)
                        shown.keys.append(XK.keysym_to_string(keysym) or str(keysym))
                    elif event.type == X.ButtonPress:
                        shown.buttons.append((event.detail, event.root_x, event.root_y))
                    shown.arrived.notify_all()

        reader = threading.Thread(target=record, daemon=True, name="x-events")
        reader.start()
        try:
            yield shown
        finally:
            stop.set()
            with contextlib.suppress(Exception):
                conn.close()
    finally:
        stop_process(xvfb)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_listening(port: int, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        assert process.poll() is None, f"the process exited with {process.returncode}"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            assert time.monotonic() < deadline, f"nothing listens on port {port}"
            time.sleep(0.1)


X11VNC_OPTIONS = ["-localhost", "-nopw", "-forever", "-shared", "-nocursor", "-nocursorshape",
                  "-nocursorpos", "-noxdamage", "-quiet", "-noipv6"]


@contextlib.contextmanager
def x11vnc(display: str) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """x11vnc serving `display` on a free loopback port: (process, port)."""
    port = free_port()
    process = subprocess.Popen(["x11vnc", "-display", display, "-rfbport", str(port),
                                *X11VNC_OPTIONS],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # x11vnc waits for no viewer: a probe connection that closes at once is fine
        wait_listening(port, process)
        yield process, port
    finally:
        stop_process(process)
