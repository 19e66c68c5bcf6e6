"""`sipsimple chat URI`: an MSRP chat session (ChatStream) from the shell.

What `receive` shares lives here too (`ChatConsole`, `run_chat`). Lines typed
go as messages (text/plain, CPIM-wrapped when the peer takes it); the peer's
messages are printed with the sender and the time (sent, from CPIM, when it
differs from the time received). On a terminal the keys are read one by one,
so that typing sends an is-composing indication (RFC 3994: "active" when a
line is begun, refreshed every REFRESH seconds while typing, "idle" after
IDLE seconds without a key or when the line is erased); a sent message needs
no "idle" (the peer's idle state follows from the message). From a pipe,
lines are read as they come and no indication is sent.

Each message sent is followed by "delivered" (the success REPORT came) or
"not delivered" with the code and reason. Ctrl-D on an empty line (or the end
of a piped stdin) waits for the outcome of the messages in flight, then hangs
up; Ctrl-C hangs up at once. Page-mode messages that reach the account are
printed too. Exits 0 when the chat connected and every message was
delivered, 1 otherwise.
"""

from __future__ import annotations

import codecs
import os
import select
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import click

from sipsimple.cli.call import (
    ENDS,
    Events,
    Keys,
    application,
    busy,
    routes_to,
    show,
    status,
    target_uri,
)
from sipsimple.cli.config import _config_dir_option
from sipsimple.cli.message import MESSAGE_EVENTS, _printable, describe_message
from sipsimple.notification import Notification

__all__ = ["CHAT_EVENTS", "ChatConsole", "chat", "describe_chat_message", "run_chat"]

REFRESH = 60  # seconds: the composing refresh we announce (RFC 3994's default is 120)
IDLE = 15.0  # seconds without a key before "idle" (RFC 3994's default)
OUTCOME_WAIT = 45.0  # a message's outcome comes within the msrp service's 30 s timeout
CHAT_EVENTS = (
    "SIPSessionNewIncoming", "SIPSessionGotRingIndication", "SIPSessionGotProvisionalResponse",
    "SIPSessionDidStart", "SIPSessionDidFail", "SIPSessionDidEnd", "MediaStreamDidFail",
    "ChatStreamGotMessage", "ChatStreamGotComposingIndication", "ChatStreamDidDeliverMessage",
    "ChatStreamDidNotDeliverMessage", *MESSAGE_EVENTS,
)
ERASE = frozenset({"\x7f", "\b"})


def _who(identity: Any) -> str:
    if identity is None:
        return "unknown sender"
    uri = getattr(identity, "uri", identity)
    name = getattr(identity, "display_name", None)
    return f"{_printable(name)} <{uri}>" if name else f"<{uri}>"


def describe_chat_message(message: Any) -> list[str]:
    """The lines that show one received chat message (a CPIMMessage or a ChatMessage)."""
    sent = ""
    timestamp = getattr(message, "timestamp", None)
    if timestamp is not None:
        sent = f" (sent {timestamp.astimezone():%Y-%m-%d %H:%M:%S})"
    head = f"{_who(message.sender)}{sent}"
    content, content_type = message.content, message.content_type or ""
    if content_type.lower().startswith("text/"):
        text = content.decode("utf-8", errors="replace") if isinstance(content, bytes) \
            else content
        lines = _printable(text).splitlines() or [""]
        return [f"{head}: {lines[0]}", *(f"  {line}" for line in lines[1:])]
    return [f"{head}: {_printable(content_type)}, {len(content)} bytes"]


def _show(notification: Notification) -> None:
    """A session's progress as `call` shows it, said of a chat."""
    from sipsimple.cli.call import STATUS_LINES, describe_failure

    if notification.name == "SIPSessionDidFail":
        lines = describe_failure(notification.data, notification.sender)
    elif (text := STATUS_LINES.get(notification.name)) is not None:
        lines = [text(notification.data, notification.sender)]
    else:
        show(notification)
        return
    for line in lines:
        status(line.replace("call failed", "chat failed").replace("call ended", "chat ended")
                   .replace("call cancelled", "chat cancelled"))


def _preview(text: str) -> str:
    shown = _printable(text.replace("\n", " "))
    return repr(shown if len(shown) <= 40 else shown[:37] + "...")


class ChatConsole:
    """What the user types: keys on a terminal (with composing), lines from a pipe.

    On a terminal the line being typed is echoed after a "> " prompt and
    printed again below any status line that interrupts it.
    """

    def __init__(self, keys: Keys) -> None:
        self.keys = keys
        self.line = ""
        self.buffer = ""  # a pipe's bytes read and not yet a whole line
        self.eof = False
        self.decoder = codecs.getincrementaldecoder("utf-8")("replace")  # UTF-8 split by reads

    def print(self, text: str) -> None:
        if self.keys.enabled and self.line:
            click.echo("\r\x1b[K", nl=False)
        status(text)
        if self.keys.enabled and self.line:
            click.echo(f"> {self.line}", nl=False)

    def read(self) -> list[tuple[str, str]]:
        """What happened since the last call: typed, erased, (line, text) or eof."""
        if self.eof:
            return []
        if not select.select([sys.stdin], [], [], 0)[0]:
            return []
        if not self.keys.enabled:
            data = b""
            while True:  # what the pipe has now, up to the 1 MiB a message may have
                piece = os.read(sys.stdin.fileno(), 65536)
                data += piece
                if not piece or len(data) >= 1024 * 1024 \
                        or not select.select([sys.stdin], [], [], 0)[0]:
                    break
            chunk = self.decoder.decode(data, final=not data)
            if not data:
                self.eof = True
                rest, self.buffer = self.buffer + chunk, ""
                return [("line", rest), ("eof", "")] if rest else [("eof", "")]
            self.buffer += chunk
            found: list[tuple[str, str]] = []
            while "\n" in self.buffer:
                text, _, self.buffer = self.buffer.partition("\n")
                found.append(("line", text.rstrip("\r")))
            return found
        found = []
        for key in self.decoder.decode(os.read(sys.stdin.fileno(), 4096)):
            was_empty = not self.line
            if key in ("\n", "\r"):
                text, self.line = self.line, ""
                click.echo("")
                found.append(("line", text))
            elif key == "\x04":  # Ctrl-D: the end, on an empty line
                if not self.line:
                    found.append(("eof", ""))
                    break
            elif key in ERASE:
                if self.line:
                    self.line = self.line[:-1]
                    click.echo("\b \b", nl=False)
                    if not self.line:
                        found.append(("erased", ""))
            elif key.isprintable():
                self.line += key
                click.echo(key if not was_empty else f"> {key}", nl=False)
                found.append(("typed", ""))
        return found


@dataclass
class ChatState:
    """Messages sent and their outcomes, and what composing state we told the peer."""

    sent: dict[str, str] = field(default_factory=dict)  # message id -> text, awaiting outcome
    failed: int = 0
    composing: bool = False
    composing_at: float = 0.0  # when "active" was last sent
    last_key: float = 0.0


def _composing(stream: Any, state: ChatState, active: bool) -> None:
    from sipsimple.streams import ChatStreamError

    try:
        stream.send_composing_indication("active" if active else "idle",
                                         REFRESH if active else None)
    except ChatStreamError:
        return  # the stream ended: its end is shown
    state.composing = active
    state.composing_at = time.monotonic()


def _typed(console: ChatConsole, stream: Any, state: ChatState, what: str, text: str) -> None:
    from sipsimple.streams import ChatStreamError

    now = time.monotonic()
    if what == "typed":
        state.last_key = now
        if not state.composing or now - state.composing_at > REFRESH / 2:
            _composing(stream, state, True)
    elif what == "erased" and state.composing:
        _composing(stream, state, False)
    elif what == "line":
        state.composing = False  # the message itself ends the composing state
        if not text.strip():
            return
        try:
            message_id = stream.send_message(text)
        except ChatStreamError as exc:
            console.print(f"not sent: {exc}")
            state.failed += 1
            return
        state.sent[message_id] = text


def _outcome(console: ChatConsole, state: ChatState, notification: Notification) -> None:
    data = notification.data
    text = state.sent.pop(data.message_id, None)
    if text is None:
        return
    if notification.name == "ChatStreamDidDeliverMessage":
        console.print(f"delivered: {_preview(text)}")
    else:
        state.failed += 1
        console.print(f"not delivered: {_preview(text)}: {data.code} {data.reason}".rstrip())


def run_chat(session: Any, stream: Any, events: Events, console: ChatConsole,
             end_on_eof: bool = True) -> bool:
    """Show a chat session and drive it until it ends; True if it connected and all went."""
    state = ChatState()
    hangup_at: float | None = None  # Ctrl-D / end of stdin: hang up once the outcomes came
    hung_up = False
    # Messages typed before the end wait for their outcome and for the session's start
    # (all may be delivered before it is posted; ending before it would cancel it).
    started = wait_start = False
    try:
        while True:
            notification = events.get(0.1)
            if notification is not None:
                name, sender = notification.name, notification.sender
                if name == "SIPSessionNewIncoming" and sender is not session:
                    busy(sender)
                elif name in MESSAGE_EVENTS:
                    for line in describe_message(notification):
                        console.print(line)
                elif sender is stream and name == "ChatStreamGotMessage":
                    for line in describe_chat_message(notification.data.message):
                        console.print(line)
                elif sender is stream and name == "ChatStreamGotComposingIndication":
                    who = _who(notification.data.sender)
                    console.print(f"{who} is typing" if notification.data.state == "active"
                                  else f"{who} stopped typing")
                elif sender is stream and name in ("ChatStreamDidDeliverMessage",
                                                   "ChatStreamDidNotDeliverMessage"):
                    _outcome(console, state, notification)
                elif sender is session and name == "SIPSessionDidStart":
                    started = True
                    show(notification)
                    console.print("type a line and Enter to send it; Ctrl-D on an empty "
                                  "line hangs up")
                elif sender in (session, stream):
                    _show(notification)
                    if name in ENDS:
                        break
            if hangup_at is not None:
                if not hung_up and ((not state.sent and (started or not wait_start))
                                    or time.monotonic() > hangup_at):
                    hung_up = True
                    console.print("hanging up")
                    session.end()
                continue
            for what, text in console.read():
                if what == "eof" and not end_on_eof:
                    continue
                if what == "eof":
                    hangup_at = time.monotonic() + OUTCOME_WAIT
                    wait_start = bool(state.sent)
                    if state.sent:
                        console.print(f"waiting for the outcome of {len(state.sent)} "
                                      "message(s)")
                    break
                _typed(console, stream, state, what, text)
            if state.composing and time.monotonic() - state.last_key > IDLE \
                    and console.line:
                _composing(stream, state, False)
    except KeyboardInterrupt:
        console.print("hanging up")
        session.end()
        if (n := events.wait_end(session)) is not None:
            _show(n)
    for text in state.sent.values():  # the stream's end fails them; shown if not seen
        console.print(f"not delivered: {_preview(text)}: the chat ended")
    return session.start_time is not None and not state.failed and not state.sent


@click.command()
@click.argument("uri")
@click.option("--account", "-a", "account_id", metavar="ACCOUNT",
              help="Account to chat from (default: the default account).")
@_config_dir_option
def chat(uri: str, account_id: str | None) -> None:
    """Chat with URI in an MSRP session: lines typed go, the peer's messages show.

    URI is sip:user@host, user@host, or a user of the account's domain. On a
    terminal the peer sees you typing (is-composing). Each message is marked
    delivered or not delivered. Ctrl-D on an empty line (or the end of a
    piped stdin) hangs up once the messages sent have their outcome; Ctrl-C
    at once. Exits 0 when the chat connected and every message was
    delivered, 1 otherwise.
    """
    from sipsimple.core import ToHeader
    from sipsimple.session import Session
    from sipsimple.streams import ChatStream

    with Events(*CHAT_EVENTS).observing() as events, application(account_id) as account:
        target = target_uri(uri, account)
        routes = routes_to(account, target)
        status(f"chatting with {target} from {account.id}")
        session = Session(account)
        stream = ChatStream(account)
        session.connect(ToHeader(target), routes, [stream])
        with Keys() as keys:
            ok = run_chat(session, stream, events, ChatConsole(keys))
    if not ok:
        sys.exit(1)
