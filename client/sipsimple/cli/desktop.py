"""`sipsimple share-desktop URI` and `sipsimple view-desktop URI`: desktop sharing.

share-desktop offers our screen (a DesktopSharingStream whose handler is an
ExternalVNCServerHandler): an `x11vnc` started here on the X display given
(``--display :N``, else ``$DISPLAY``), listening on loopback only, without a
password (only the msrp service connects to it), ended with the session; or
an existing VNC server (``--vnc HOST:PORT``). view-desktop asks to see the
peer's screen (ExternalVNCViewerHandler): it prints the loopback address a
VNC viewer connects to, or starts the viewer command given (``--viewer
CMD``: ``{host}`` and ``{port}`` in it are replaced; without them
``HOST::PORT`` is appended, as vncviewer takes it). `sipsimple receive` takes
offers too (`take_desktop`). Both run until the session ends; Ctrl-C hangs up.
Exit 0 when the session connected and ended without a failure, 1 otherwise.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import click

from sipsimple.cli.call import (
    ENDS,
    Events,
    application,
    hang_up,
    routes_to,
    show,
    status,
    target_uri,
)
from sipsimple.cli.config import _config_dir_option

__all__ = ["DESKTOP_EVENTS", "run_desktop", "share_desktop", "start_viewer", "view_desktop",
           "x11vnc_server"]

DESKTOP_EVENTS = (
    "SIPSessionNewIncoming", "SIPSessionGotRingIndication", "SIPSessionGotProvisionalResponse",
    "SIPSessionDidStart", "SIPSessionDidFail", "SIPSessionDidEnd", "MediaStreamDidFail",
    "DesktopSharingHandlerDidConnect", "DesktopSharingHandlerDidFail",
)
X11VNC_START = 30.0  # seconds for x11vnc to open the display and listen
VIEWER_TIMEOUT = 60.0  # seconds a person has to start a VNC viewer once the call is up
VIEWER_CLOSED = "the VNC viewer closed the connection"  # the splice's reason
DISPLAY = re.compile(r"[A-Za-z0-9.\-]*:\d+(\.\d+)?")


def host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise click.BadParameter(f"{text!r} is not HOST:PORT")
    return host, int(port)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def x11vnc_server(display: str | None) -> Iterator[tuple[str, int]]:
    """x11vnc on `display` (None: $DISPLAY), on loopback: its address; a clear error
    when x11vnc or the display is missing."""
    display = display or os.environ.get("DISPLAY")
    if not display:
        raise click.ClickException("no X display to share: give --display :N (or set "
                                   "DISPLAY), or --vnc HOST:PORT for a running VNC server")
    if not DISPLAY.fullmatch(display):
        raise click.ClickException(f"{display!r} is not an X display (:N or HOST:N)")
    program = shutil.which("x11vnc")
    if program is None:
        raise click.ClickException("x11vnc is not installed (Debian package x11vnc): it "
                                   "serves the display; or give --vnc HOST:PORT")
    port = _free_port()
    # loopback only and no password: the msrp service is its one client
    process = subprocess.Popen(
        [program, "-display", display, "-rfbport", str(port), "-localhost", "-nopw",
         "-forever", "-shared", "-quiet", "-noipv6"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_listening(process, port, display)
        status(f"x11vnc serves display {display} on 127.0.0.1:{port}")
        yield "127.0.0.1", port
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stderr is not None:
            process.stderr.close()


def _wait_listening(process: subprocess.Popen[bytes], port: int, display: str) -> None:
    deadline = time.monotonic() + X11VNC_START
    while True:
        if process.poll() is not None:
            assert process.stderr is not None
            lines = [line for line in process.stderr.read().decode(errors="replace")
                     .splitlines() if line.strip()]
            said = next((line.strip() for line in lines if "display" in line.lower()),
                        lines[-1].strip() if lines else f"exit status {process.returncode}")
            raise click.ClickException(f"x11vnc cannot share display {display}: {said}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                process.kill()
                raise click.ClickException(
                    f"x11vnc did not listen within {X11VNC_START:g} s") from None
            time.sleep(0.1)


def start_viewer(command: str, address: tuple[str, int]) -> subprocess.Popen[bytes]:
    host, port = address
    if "{host}" in command or "{port}" in command:
        argv = shlex.split(command.replace("{host}", host).replace("{port}", str(port)))
    else:
        argv = [*shlex.split(command), f"{host}::{port}"]
    try:
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL)
    except OSError as exc:
        raise click.ClickException(f"cannot start the viewer {argv[0]!r}: {exc}") from None
    status(f"started the viewer: {shlex.join(argv)}")
    return process


def run_desktop(session: Any, stream: Any, events: Events,
                viewer: str | None = None) -> bool:
    """Show a desktop-sharing session until it ends (Ctrl-C hangs up); with `viewer`, start
    it once connected. True when it connected and nothing failed."""
    from sipsimple.streams import ExternalVNCViewerHandler

    handler = stream.handler
    failed = closed = False
    process: subprocess.Popen[bytes] | None = None
    try:
        while True:
            notification = events.next_for(session, 0.2)
            name, sender = notification.name, notification.sender
            if sender is handler and name == "DesktopSharingHandlerDidConnect":
                host, port = notification.data.address or ("?", 0)
                who = "VNC viewer" if handler.type == "active" else "VNC server"
                status(f"{who} connected ({host}:{port})")
            elif sender is handler and name == "DesktopSharingHandlerDidFail":
                data = notification.data
                if data.context == "reading" and data.reason == VIEWER_CLOSED:
                    status("the VNC viewer closed: hanging up")  # how a viewer ends it
                    closed = True
                else:
                    status(f"desktop sharing failed ({data.context}): {data.reason}")
                    failed = True
            elif sender is stream and name == "MediaStreamDidFail":
                # (posted from within the handler's DidFail: it may come first)
                failed |= not (closed or str(notification.data.reason).startswith(VIEWER_CLOSED))
            elif sender is session:
                show(notification)
                if name == "SIPSessionDidStart" and isinstance(handler,
                                                               ExternalVNCViewerHandler):
                    host, port = handler.address
                    if viewer is not None:
                        process = start_viewer(viewer, handler.address)
                    else:
                        status(f"connect a VNC viewer to {host}:{port} (e.g. vncviewer "
                               f"{host}::{port}) within {handler.connect_timeout:g} s")
                if name in ENDS:
                    failed |= name == "SIPSessionDidFail"
                    break
    except KeyboardInterrupt:
        hang_up(session, events)
    finally:
        if process is not None and process.poll() is None:
            process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(5)
    return session.start_time is not None and not failed


def _call(account: Any, uri: str, stream: Any) -> Any:
    from sipsimple.core import ToHeader
    from sipsimple.session import Session

    target = target_uri(uri, account)
    routes = routes_to(account, target)
    session = Session(account)
    session.connect(ToHeader(target), routes, [stream])
    return session, target


@click.command("share-desktop")
@click.argument("uri")
@click.option("--display", metavar=":N", help="The X display to share (default: $DISPLAY), "
              "served by an x11vnc started for the session.")
@click.option("--vnc", metavar="HOST:PORT", help="Share what a running VNC server serves.")
@click.option("--account", "-a", "account_id", metavar="ACCOUNT",
              help="Account to call from (default: the default account).")
@_config_dir_option
def share_desktop(uri: str, display: str | None, vnc: str | None,
                  account_id: str | None) -> None:
    """Show URI our desktop (RFB over MSRP) until the session ends; Ctrl-C hangs up.

    The X display (--display, else $DISPLAY) is served by x11vnc, started on
    loopback for this session only; or --vnc names a running VNC server.
    """
    from sipsimple.streams import DesktopSharingStream, ExternalVNCServerHandler

    if display is not None and vnc is not None:
        raise click.UsageError("--display and --vnc exclude each other")
    address = host_port(vnc) if vnc is not None else None
    with contextlib.ExitStack() as stack:
        if address is None:
            address = stack.enter_context(x11vnc_server(display))
        events = stack.enter_context(Events(*DESKTOP_EVENTS).observing())
        account = stack.enter_context(application(account_id))
        stream = DesktopSharingStream(account, ExternalVNCServerHandler(address))
        session, target = _call(account, uri, stream)
        status(f"sharing the desktop with {target} from {account.id}")
        ok = run_desktop(session, stream, events)
    if not ok:
        raise SystemExit(1)


@click.command("view-desktop")
@click.argument("uri")
@click.option("--viewer", metavar="CMD", help="A VNC viewer command to start once connected "
              "({host} and {port} are replaced, else HOST::PORT is appended).")
@click.option("--connect-timeout", type=click.FloatRange(0, 3600, min_open=True),
              default=VIEWER_TIMEOUT, show_default=True, metavar="SECONDS",
              help="How long the VNC viewer has to connect once the session is up.")
@click.option("--account", "-a", "account_id", metavar="ACCOUNT",
              help="Account to call from (default: the default account).")
@_config_dir_option
def view_desktop(uri: str, viewer: str | None, connect_timeout: float,
                 account_id: str | None) -> None:
    """Ask to see URI's desktop: a local VNC viewer connects to the address printed (or
    the --viewer command is started); until the session ends, Ctrl-C hangs up."""
    from sipsimple.streams import DesktopSharingStream, ExternalVNCViewerHandler
    from sipsimple.streams.msrp import DesktopSharingError

    with Events(*DESKTOP_EVENTS).observing() as events, application(account_id) as account:
        try:
            handler = ExternalVNCViewerHandler(("127.0.0.1", 0), connect_timeout)
        except DesktopSharingError as exc:
            raise click.ClickException(str(exc)) from None
        stream = DesktopSharingStream(account, handler)
        session, target = _call(account, uri, stream)
        status(f"asking to see the desktop of {target} from {account.id}")
        ok = run_desktop(session, stream, events, viewer)
    if not ok:
        raise SystemExit(1)


@contextlib.contextmanager
def sharing_source(display: str | None, vnc: str | None) -> Iterator[tuple[str, int] | None]:
    """What `receive` shares when a peer asks to see our desktop (None: nothing)."""
    if vnc is not None:
        yield host_port(vnc)
    elif display is not None:
        with x11vnc_server(display) as address:
            yield address
    else:
        yield None


def take_desktop(session: Any, stream: Any, events: Events, *, auto: bool,
                 ring_timeout: float, share: tuple[str, int] | None,
                 viewer: str | None) -> None:
    """An offered desktop-sharing stream (`sipsimple receive`): the peer shows us theirs (a
    VNC viewer of ours connects to the address printed, or `viewer` is started), or asks
    to see ours (only what `share` serves; without it, 488)."""
    from sipsimple.session import IllegalStateError
    from sipsimple.streams import ExternalVNCServerHandler, ExternalVNCViewerHandler
    from sipsimple.streams.msrp import DesktopSharingError

    caller = session.remote_identity
    handler: Any
    try:
        if stream.rfbsetup == "passive":  # the peer's is the viewer: it asks for ours
            if share is None:
                status(f"refused session from {caller}: it asks to see this desktop, and "
                       "receive shares none (--share-display or --share-vnc): "
                       "488 Not Acceptable Here")
                session.reject(488)
                return
            handler = ExternalVNCServerHandler(share)
            status(f"{caller} asks to see this desktop")
        else:
            try:
                handler = ExternalVNCViewerHandler(("127.0.0.1", 0), VIEWER_TIMEOUT)
            except DesktopSharingError as exc:
                status(f"refused session from {caller}: {exc}: 500")
                session.reject(500)
                return
            status(f"{caller} offers to show their desktop")
        stream.handler = handler
        from sipsimple.cli.answer import ring_and_ask
        if ring_and_ask(session, events, auto=auto, ring_timeout=ring_timeout):
            session.accept([stream])
    except IllegalStateError:
        pass  # the caller cancelled meanwhile: run_desktop shows the session's end
    run_desktop(session, stream, events, viewer)
    if isinstance(stream.handler, ExternalVNCViewerHandler):
        stream.handler.close()  # unused when declined
