"""`sipsimple send-file URI FILE` and the files `sipsimple receive` takes (RFC 5547).

The sender hashes the file first (the msrp service reads it), offers it in a
session of its own and shows the progress: a bar with bytes, rate and ETA on
a terminal, a line every few seconds on a pipe, or with --json one JSON
object per line (``progress``, then ``done`` or ``failed``; status lines go
to stderr then). It hangs up once the receiver's report says the whole file
arrived and exits 0, else 1. Sending a file again after an interruption
resumes it: the receiver asks for the part it still needs (a=file-range).

The receiver (`take_files`, from `receive`) accepts the offered files (asked
unless --auto), writes them under the directory given (else the configured
``file_transfer.directory``), and prints what it saved, with the size and
whether the SHA-1 matched; a file cut short says how much is kept for a
resume.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import click

from sipsimple.cli.call import (
    ENDS,
    STATUS_LINES,
    Events,
    application,
    busy,
    describe_failure,
    routes_to,
    status,
    target_uri,
)
from sipsimple.cli.config import _config_dir_option
from sipsimple.cli.message import _printable
from sipsimple.notification import Notification

__all__ = ["FILE_EVENTS", "Progress", "send_file", "take_files"]

FILE_EVENTS = (
    "SIPSessionNewIncoming", "SIPSessionGotRingIndication", "SIPSessionGotProvisionalResponse",
    "SIPSessionDidStart", "SIPSessionDidFail", "SIPSessionDidEnd", "MediaStreamDidFail",
    "FileTransferStreamDidDeliverChunk", "FileTransferStreamDidNotDeliverChunk",
    "FileTransferStreamGotChunk", "FileTransferStreamDidFinish",
)
PIPE_INTERVAL = 2.0  # seconds between progress lines on a pipe
BAR_WIDTH = 24
HANGUP_WAIT = 30.0  # seconds the receiver waits for the sender to hang up after the file


def human_bytes(count: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if abs(count) < 1000 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    raise AssertionError("unreachable")


def human_duration(seconds: float) -> str:
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else \
        f"{rest // 60}:{rest % 60:02d}"


@dataclass
class Progress:
    """Bytes moved of `size`, the rate of this run (a resumed transfer's earlier
    bytes are not counted in it: `start` is where this run began) and the ETA."""

    size: int
    start: int = 0
    began: float = 0.0  # monotonic time of the first report
    transferred: int = 0
    at: float = 0.0

    def update(self, transferred: int, now: float) -> None:
        if not self.began:
            self.began = now
        self.transferred, self.at = transferred, now

    @property
    def rate(self) -> float | None:
        """Bytes per second of this run, None before there is anything to tell."""
        elapsed = self.at - self.began
        moved = self.transferred - self.start
        return moved / elapsed if elapsed > 0 and moved > 0 else None

    @property
    def eta(self) -> float | None:
        rate = self.rate
        return None if rate is None else max(self.size - self.transferred, 0) / rate

    def as_json(self) -> dict[str, Any]:
        rate, eta = self.rate, self.eta
        return {"event": "progress", "transferred": self.transferred, "size": self.size,
                "rate": None if rate is None else round(rate),
                "eta": None if eta is None else round(eta, 1)}

    def line(self) -> str:
        """``[#####-----]  42%  8.4 MB / 20.0 MB  12.1 MB/s  ETA 0:01``"""
        fraction = self.transferred / self.size if self.size else 1.0
        filled = int(fraction * BAR_WIDTH)
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        rate, eta = self.rate, self.eta
        speed = f"{human_bytes(rate)}/s" if rate is not None else "--/s"
        left = f"ETA {human_duration(eta)}" if eta is not None else "ETA --"
        return (f"[{bar}] {fraction:4.0%}  {human_bytes(self.transferred)} / "
                f"{human_bytes(self.size)}  {speed}  {left}")


class Reporter:
    """Where the sender's output goes: a bar, pipe lines, or JSON lines."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self.terminal = not as_json and sys.stdout.isatty()
        self.bar_shown = False
        self.printed_at = 0.0

    def say(self, text: str) -> None:
        if self.bar_shown:
            click.echo("")
            self.bar_shown = False
        click.echo(f"{datetime.now():%H:%M:%S} {text}", err=self.as_json)

    def emit(self, record: dict[str, Any]) -> None:
        click.echo(json.dumps(record, sort_keys=True))

    def progress(self, progress: Progress, final: bool = False) -> None:
        if self.as_json:
            self.emit(progress.as_json())
        elif self.terminal:
            click.echo(f"\r\x1b[K{progress.line()}", nl=False)
            self.bar_shown = True
            if final:
                click.echo("")
                self.bar_shown = False
        elif final or progress.at - self.printed_at >= PIPE_INTERVAL:
            self.printed_at = progress.at
            click.echo(progress.line())

    def session_event(self, notification: Notification) -> None:
        name, data, sender = notification.name, notification.data, notification.sender
        if name == "SIPSessionDidFail":
            for line in describe_failure(data, sender):
                self.say(line.replace("call failed", "file transfer failed"))
        elif name == "SIPSessionDidStart":
            self.say("connected")
        elif (text := STATUS_LINES.get(name)) is not None:
            self.say(text(data, sender).replace("call ended", "session ended"))


@click.command("send-file")
@click.argument("uri")
@click.argument("filename", metavar="FILE", type=click.Path(exists=True, dir_okay=False,
                                                            readable=True))
@click.option("--account", "-a", "account_id", metavar="ACCOUNT",
              help="Account to send from (default: the default account).")
@click.option("--type", "content_type", metavar="MIME",
              help="The file's MIME type (default: application/octet-stream).")
@click.option("--json", "as_json", is_flag=True,
              help="Progress and outcome as JSON objects, one a line (status to stderr).")
@_config_dir_option
def send_file(uri: str, filename: str, account_id: str | None, content_type: str | None,
              as_json: bool) -> None:
    """Send FILE to URI over MSRP (RFC 5547) with a progress bar.

    The file is hashed first (SHA-1, checked by the receiver over the whole
    file). Progress shows bytes, rate and ETA. Sent again after an
    interruption, a file resumes where the receiver's copy stopped. Exits 0
    when the receiver reported the whole file, 1 otherwise.
    """
    from sipsimple.core import ToHeader
    from sipsimple.session import IllegalStateError, Session
    from sipsimple.streams import FileTransferStream
    from sipsimple.streams.msrp import MSRPStreamError, file_selector_for

    reporter = Reporter(as_json)
    with Events(*FILE_EVENTS).observing() as events, application(account_id) as account:
        target = target_uri(uri, account)
        routes = routes_to(account, target)
        reporter.say(f"hashing {click.format_filename(filename)}")
        try:
            selector = file_selector_for(filename, content_type)
        except (MSRPStreamError, ValueError) as exc:
            raise click.ClickException(str(exc)) from None
        assert selector.size is not None and selector.hash is not None
        reporter.say(f"sending {_printable(selector.name or '')} ({selector.size} bytes, "
                     f"SHA-1 {selector.hash.hex()}) to {target} from {account.id}")
        session = Session(account)
        stream = FileTransferStream(account, selector)
        session.connect(ToHeader(target), routes, [stream])
        error = _run_sender(session, stream, events, reporter, selector.size)
    record: dict[str, Any] = {"size": selector.size, "sha1": selector.hash.hex(),
                              "resumed_from": stream.file_range.start if stream.file_range
                              else 0}
    if error is None:
        reporter.say(f"delivered {selector.size} bytes" + (
            f" (resumed from byte {record['resumed_from']})" if record["resumed_from"] else ""))
        if as_json:
            reporter.emit({"event": "done", **record})
        return
    reporter.say(f"not delivered: {error}")
    if as_json:
        reporter.emit({"event": "failed", "error": error, **record})
    with contextlib.suppress(IllegalStateError):
        session.end()
    sys.exit(1)


def _run_sender(session: Any, stream: Any, events: Events, reporter: Reporter,
                size: int) -> str | None:
    """Drive the sending session until the file's outcome and the hang-up; the error."""
    from sipsimple.session import IllegalStateError

    progress: Progress | None = None
    error: str | None = "the session ended before the file was delivered"
    finished = False
    try:
        while True:
            notification = events.next_for(session, 0.25)
            name, sender = notification.name, notification.sender
            if sender is stream and name == "FileTransferStreamDidDeliverChunk":
                if progress is None:
                    start = stream.file_range.start if stream.file_range else 0
                    if start:
                        reporter.say(f"resuming: the receiver has {start} bytes already")
                    progress = Progress(size, start)
                    progress.update(start, time.monotonic())
                progress.update(notification.data.transferred_bytes, time.monotonic())
                reporter.progress(progress, final=progress.transferred >= size)
            elif sender is stream and name == "FileTransferStreamDidFinish":
                finished, error = True, notification.data.error
                with contextlib.suppress(IllegalStateError):
                    session.end()
            elif sender is stream and name == "MediaStreamDidFail":
                reporter.say(f"media failed: {notification.data.reason}")
            elif sender is session:
                reporter.session_event(notification)
                if name in ENDS:
                    if finished:
                        return error
                    return "the session failed" if name == "SIPSessionDidFail" else error
    except KeyboardInterrupt:
        reporter.say("interrupted: hanging up (sending the file again resumes it)")
        with contextlib.suppress(IllegalStateError):
            session.end()
        events.wait_end(session)
        return "interrupted"


# --- receive --------------------------------------------------------------------------


def describe_offer(stream: Any) -> str:
    selector = stream.file_selector
    name = _printable(selector.name or "file") if selector else "file"
    size = f"{selector.size} bytes" if selector and selector.size is not None else "size unknown"
    return f"{name!r} ({size})"


def take_files(session: Any, notification: Notification, events: Events, *, auto: bool,
               ring_timeout: float, directory: str | None) -> None:
    """An offered session with files: accepted (asked unless `auto`), the files saved
    under `directory` (None: the configured one) and said; hung up at Ctrl-C."""
    from sipsimple.cli.answer import ring_and_ask
    from sipsimple.session import IllegalStateError

    files = [s for s in notification.data.streams if getattr(s, "type", None) == "file-transfer"]
    caller = session.remote_identity
    for stream in files:
        status(f"incoming file {describe_offer(stream)} from {caller}")
        stream.directory = directory
    try:
        if not ring_and_ask(session, events, auto=auto, ring_timeout=ring_timeout):
            return
        session.accept(files)
    except IllegalStateError:
        pass  # the caller cancelled meanwhile: the session's end is shown below
    _run_receiver(session, files, events)


def _run_receiver(session: Any, files: list[Any], events: Events) -> None:
    from sipsimple.session import IllegalStateError

    pending = set(files)
    done_at: float | None = None
    try:
        while True:
            notification = events.get(0.25)
            if done_at is not None and time.monotonic() - done_at > HANGUP_WAIT:
                with contextlib.suppress(IllegalStateError):
                    session.end()  # the sender did not hang up: we do
                done_at = None
            if notification is None:
                continue
            name, sender = notification.name, notification.sender
            if name == "SIPSessionNewIncoming" and sender is not session:
                busy(sender)
            elif sender in pending and name == "FileTransferStreamDidFinish":
                pending.discard(sender)
                _said_finished(sender, notification.data)
                if not pending:
                    done_at = time.monotonic()
            elif sender is session and name == "SIPSessionDidStart":
                for stream in files:
                    if stream.partial is not None and stream.file_range is not None:
                        status(f"resuming {describe_offer(stream)} from byte "
                               f"{stream.file_range.start} (a part was kept)")
            elif sender is session and name in ENDS:
                if name == "SIPSessionDidFail":
                    for line in describe_failure(notification.data, session):
                        status(line.replace("call failed", "file transfer failed"))
                break
    except KeyboardInterrupt:
        status("hanging up")
        with contextlib.suppress(IllegalStateError):
            session.end()
        events.wait_end(session)
        raise
    for stream in pending:  # their DidFinish came with the end; say so once
        status(f"file {describe_offer(stream)} not received: the session ended")


def _said_finished(stream: Any, data: Any) -> None:
    selector = stream.file_selector
    if data.error is None:
        size = selector.size if selector and selector.size is not None else None
        check = "SHA-1 ok" if selector and selector.hash else "no SHA-1 to check"
        shown = f"{size} bytes, " if size is not None else ""
        status(f"saved {click.format_filename(data.file_path)} ({shown}{check})")
        return
    line = f"file {describe_offer(stream)} not received: {data.error}"
    kept = _kept(stream)
    if kept:
        line += f" ({kept} bytes kept: sending the same file again resumes it)"
    status(line)


def _kept(stream: Any) -> int:
    """The bytes of the file the msrp service kept for a resume (0: none)."""
    from sipsimple.streams.msrp import MSRPStreamError
    from sipsimple.streams.msrp.base import msrp_call

    selector = stream.file_selector
    if not (selector and selector.size and selector.hash):
        return 0
    try:
        found = msrp_call("find_partial", directory=stream._directory(), size=selector.size,
                          hash=selector.hash)
    except (MSRPStreamError, OSError):
        return 0
    return int(found.get("received") or 0)
