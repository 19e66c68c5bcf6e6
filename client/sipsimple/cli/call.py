"""`sipsimple call URI` and `sipsimple devices`: audio calls from the shell.

It also holds what `sipsimple answer` (cli/answer.py) shares. Both commands
run the facade as a UI would: SIPApplication on the stored configuration
(the services started if they are not running), an account, Sessions with
an AudioStream. Status lines go to stdout as things happen; when stdin is
a terminal, single keys control the call:

    h  hang up        space  hold / unhold     m  mute / unmute
    r  record on/off  0-9 * # A-D  send DTMF   q  quit (hangs up)
"""

from __future__ import annotations

import contextlib
import os
import queue
import select
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from sipsimple.cli.config import _config_dir_option, _file_storage
from sipsimple.cli.output import table
from sipsimple.notification import Notification, NotificationCenter

__all__ = ["CallControl", "busy", "call", "check_wav", "devices"]

STOP_WAIT = 20.0
KEYS_HELP = "keys: h hangup, space hold, m mute, r record, 0-9*#A-D DTMF, q quit"
DTMF_KEYS = frozenset("0123456789*#ABCDabcd")

SHOWN = (
    "SIPSessionNewOutgoing", "SIPSessionNewIncoming", "SIPSessionGotRingIndication",
    "SIPSessionGotProvisionalResponse", "SIPSessionWillStart", "SIPSessionDidStart",
    "SIPSessionDidFail", "SIPSessionDidEnd", "SIPSessionDidChangeHoldState",
    "AudioStreamGotDTMF", "AudioStreamDidTimeout", "AudioStreamDidStartRecordingAudio",
    "AudioStreamDidStopRecordingAudio", "AudioStreamDidChangeRTPParameters",
    "AudioStreamICENegotiationDidSucceed", "AudioStreamICENegotiationDidFail",
    "MediaStreamDidFail",
)


def status(text: str) -> None:
    click.echo(f"{datetime.now():%H:%M:%S} {text}")


def describe_stream(stream: Any) -> str:
    srtp = "SRTP" if stream.srtp_active else "RTP (unencrypted)"
    return (f"{stream.codec}/{stream.sample_rate} Hz, {srtp}, "
            f"{stream.local_rtp_address}:{stream.local_rtp_port} <-> "
            f"{stream.remote_rtp_address_sdp}:{stream.remote_rtp_port_sdp}")


def describe_ice(valid_pairs: Any) -> str:
    """The pair ICE chose for RTP: local and remote candidate, their types."""
    for pair in valid_pairs or ():
        local, remote = pair.local_candidate, pair.remote_candidate
        if local.component == "RTP":
            return (f"ICE: {local.address}:{local.port} ({local.type.lower()}) <-> "
                    f"{remote.address}:{remote.port} ({remote.type.lower()})")
    return "ICE: no pair"


def describe_statistics(stats: dict[str, Any]) -> str:
    keys = ("packets_sent", "packets_received", "lost", "jitter_ms", "rtt_ms")
    shown = [f"{k.replace('_', ' ')} {stats[k]}" for k in keys if k in stats]
    return ", ".join(shown) if shown else "no statistics"


ENDS = ("SIPSessionDidFail", "SIPSessionDidEnd")


class Events:
    """Notifications of interest, queued for the command's main thread."""

    def __init__(self, *names: str) -> None:
        self.names = names or SHOWN
        self.items: queue.Queue[Notification] = queue.Queue()

    def handle_notification(self, notification: Notification) -> None:
        self.items.put(notification)

    @contextlib.contextmanager
    def observing(self) -> Iterator[Events]:
        center = NotificationCenter()
        for name in self.names:
            center.add_observer(self, name=name)
        try:
            yield self
        finally:
            for name in self.names:
                center.discard_observer(self, name=name)

    def get(self, timeout: float) -> Notification | None:
        try:
            return self.items.get(timeout=timeout)
        except queue.Empty:
            return None

    def next_for(self, session: Any, timeout: float) -> Notification:
        """The next notification (waited for in steps of `timeout`); another incoming
        session than `session` is refused busy on the way."""
        while True:
            notification = self.get(timeout)
            if notification is None:
                continue
            if notification.name == "SIPSessionNewIncoming" and notification.sender is not session:
                busy(notification.sender)
                continue
            return notification

    def wait_end(self, session: Any, timeout: float = 5) -> Notification | None:
        """After a hang-up: the session's end (DidEnd or DidFail); None when nothing
        came for `timeout` seconds."""
        while (n := self.get(timeout)) is not None:
            if n.sender is session and n.name in ENDS:
                return n
        return None


class Keys:
    """Single key presses from a terminal on stdin (cbreak mode), None otherwise."""

    def __init__(self) -> None:
        self.enabled = sys.stdin.isatty()
        self._saved: Any = None

    def __enter__(self) -> Keys:
        if self.enabled:
            import termios
            import tty

            self._saved = termios.tcgetattr(sys.stdin.fileno())
            tty.setcbreak(sys.stdin.fileno(), termios.TCSANOW)  # keys typed ahead are kept
        return self

    def __exit__(self, *exc: object) -> None:
        if self._saved is not None:
            import termios

            termios.tcsetattr(sys.stdin.fileno(), termios.TCSADRAIN, self._saved)

    def read(self) -> str | None:
        if not self.enabled:
            return None
        ready, _, _ = select.select([sys.stdin], [], [], 0)
        return os.read(sys.stdin.fileno(), 1).decode(errors="ignore") if ready else None


class CallControl:
    """What a key or an option does to a connected call."""

    def __init__(self, session: Any, stream: Any) -> None:
        self.session = session
        self.stream = stream
        self.held = False

    def key(self, key: str) -> bool:
        """Act on one key; False means hang up. A key that cannot act now says why."""
        from sipsimple.audio import AudioError
        from sipsimple.session import IllegalStateError
        from sipsimple.streams import AudioStreamError

        if key in ("h", "q"):
            return False
        try:
            self._act(key)
        except (AudioError, AudioStreamError, IllegalStateError, ValueError) as exc:
            status(f"error: {exc}")
        return True

    def _act(self, key: str) -> None:
        if key == " ":
            self.held = not self.held
            (self.session.hold if self.held else self.session.unhold)()
            status("holding" if self.held else "resuming")
        elif key == "m":
            self.stream.set_muted(not self.stream.muted)
            status("muted" if self.stream.muted else "unmuted")
        elif key == "r":
            if self.stream.recording_filename:
                self.stream.stop_recording()
            else:
                self.stream.start_recording()
        elif key in DTMF_KEYS:
            self.stream.send_dtmf(key.upper())
            status(f"sent DTMF {key.upper()}")


# What each shown notification prints, from its data and its sender.
STATUS_LINES: dict[str, Callable[[Any, Any], str]] = {
    "SIPSessionGotRingIndication": lambda data, sender: "ringing",
    "SIPSessionGotProvisionalResponse": lambda data, sender: f"{data.code} {data.reason}",
    "SIPSessionNewIncoming": lambda data, sender: f"incoming call from {sender.remote_identity}",
    "SIPSessionDidEnd": lambda data, sender: (
        f"call ended by {data.originator} ({data.end_reason})"),
    "SIPSessionDidChangeHoldState": lambda data, sender: (
        f"{'on hold' if data.on_hold else 'off hold'} ({data.originator})"),
    "AudioStreamGotDTMF": lambda data, sender: f"received DTMF {data.digit}",
    "AudioStreamDidTimeout": lambda data, sender: "no RTP received for a while",
    "AudioStreamDidStartRecordingAudio": lambda data, sender: f"recording to {data.filename}",
    "AudioStreamDidStopRecordingAudio": lambda data, sender: (
        f"recording saved to {data.filename}"),
    "AudioStreamDidChangeRTPParameters": lambda data, sender: (
        f"audio: {describe_stream(sender)}"),
    "AudioStreamICENegotiationDidSucceed": lambda data, sender: describe_ice(data.valid_pairs),
    "AudioStreamICENegotiationDidFail": lambda data, sender: (
        f"ICE failed ({data.reason}): plain RTP to the SDP address"),
    "MediaStreamDidFail": lambda data, sender: f"media failed: {data.reason}",
}


def _media_refused(session: Any) -> str:
    """What our audio offer was, what a peer refusing it likely wants, and the setting."""
    encryption = session.account.rtp.encryption
    command = f"sipsimple accounts set {session.account.id}"
    if not encryption.enabled:
        offered, wanted = "RTP/AVP without SRTP", "one that requires SRTP wants RTP/SAVP"
        change = "rtp.encryption.enabled=true rtp.encryption.key_negotiation=sdes_mandatory"
    elif encryption.key_negotiation == "sdes_mandatory":
        offered, wanted = "RTP/SAVP (SRTP required)", "one without SRTP wants RTP/AVP"
        change = "rtp.encryption.key_negotiation=sdes_optional"
    else:
        offered = "RTP/AVP with optional SRTP (SDES crypto lines)"
        wanted = "one that requires SRTP wants RTP/SAVP"
        change = "rtp.encryption.key_negotiation=sdes_mandatory"
    return f"the peer refused our audio offer, {offered}; {wanted}: `{command} {change}`"


def describe_failure(data: Any, session: Any) -> list[str]:
    """The lines a failed call prints: a caller's CANCEL is no failure, a 488 says why."""
    code, reason = data.code or 0, data.reason or ""
    direction = getattr(session, "direction", None)
    if direction == "incoming" and data.originator == "remote" and code == 487:
        return ["call cancelled by the caller"]
    head = " ".join(part for part in (str(code) if code else "", reason) if part)
    text = f"call failed: {head}" if head else "call failed"
    if data.failure_reason and data.failure_reason != reason:
        text += f" ({data.failure_reason})"
    if code == 488 and data.originator == "remote" and direction == "outgoing":
        return [text, _media_refused(session)]
    return [text]


def show(notification: Notification) -> None:
    name, data, sender = notification.name, notification.data, notification.sender
    if name == "SIPSessionDidFail":
        for line in describe_failure(data, sender):
            status(line)
    elif name == "SIPSessionDidStart":
        status("connected")
        for stream in data.streams:
            if getattr(stream, "type", None) == "audio":
                status(f"audio: {describe_stream(stream)}")
    elif (text := STATUS_LINES.get(name)) is not None:
        status(text(data, sender))


# --- the application ----------------------------------------------------------


def _storage(account_id: str | None, only_one: bool) -> tuple[Any, str | None]:
    """An in-memory copy of the stored configuration, and the account to use.

    With `only_one`, the copy holds just that account (the given one, else the
    default): a `call` process must not claim, and so answer for, the others.
    Nothing is ever written back to the file.
    """
    from sipsimple.cli.accounts import _effective_default
    from sipsimple.configuration import ConfigurationManager, ConfigurationParseError
    from sipsimple.configuration.account import AccountSettings
    from sipsimple.storage import MemoryStorage

    stored = _file_storage(create=False)
    try:
        data = stored.configuration_backend.load()
    except ConfigurationParseError as exc:
        raise click.ClickException(f"{exc}; fix the file, or move it aside") from None
    found = data.get("Accounts")
    accounts: dict[str, Any] = found if isinstance(found, dict) else {}
    if account_id is not None:
        from sipsimple.cli.accounts import _account_id

        account_id = _account_id(account_id)
        if account_id not in accounts:
            raise click.ClickException(f"no account {account_id} in {stored.configuration_file}")
    elif only_one:
        memory = MemoryStorage()
        memory.configuration_backend.save(data)
        manager = ConfigurationManager()
        manager.start(memory)
        try:
            account_id = _effective_default([AccountSettings(i) for i in accounts])
        finally:
            manager.stop()
        if account_id is None:
            raise click.ClickException(
                f"no enabled account in {stored.configuration_file}: "
                "add one with `sipsimple accounts add`")
    if account_id is not None:
        data = {**{k: v for k, v in data.items() if k != "Accounts"},
                "Accounts": {account_id: accounts[account_id]}}
    memory = MemoryStorage()
    memory.configuration_backend.save(data)
    return memory, account_id


@contextlib.contextmanager
def application(account_id: str | None, only_one: bool = True,
                claim: bool = True) -> Iterator[Any]:
    """SIPApplication on a copy of the stored configuration; yields the account (or None).

    Without `claim` every account of the copy is disabled, so none is claimed
    or registered: a command that only sends (`message`) must not take the
    account's calls and messages away from the client that answers them.
    """
    from sipsimple.account import AccountManager
    from sipsimple.application import SIPApplication

    storage, account_id = _storage(account_id, only_one)
    if not claim:
        data = storage.configuration_backend.load()
        for settings in (data.get("Accounts") or {}).values():
            settings["enabled"] = "false"
        storage.configuration_backend.save(data)
    app = SIPApplication()
    ended = threading.Event()
    started = threading.Event()

    class Watch:
        def handle_notification(self, notification: Notification) -> None:
            (started if notification.name == "SIPApplicationDidStart" else ended).set()

    watch = Watch()
    center = NotificationCenter()
    center.add_observer(watch, name="SIPApplicationDidStart")
    center.add_observer(watch, name="SIPApplicationDidEnd")
    try:
        app.start(storage)
        if not started.wait(30):
            raise click.ClickException("the application did not start within 30 s")
        account = None
        if account_id is not None:
            account = AccountManager().get_account(account_id)
            if claim and not account.enabled:  # asked for by name: used even if disabled
                account.enabled = True
                account.save()
        yield account
    finally:
        if app.state not in (None, "stopped"):
            app.stop()
            ended.wait(STOP_WAIT)
        center.discard_observer(watch, name="SIPApplicationDidStart")
        center.discard_observer(watch, name="SIPApplicationDidEnd")


def routes_to(account: Any, target: Any) -> list[Any]:
    """The routes to `target` for `account` (RFC 3263), or a one-line error."""
    from sipsimple.lookup import DNSLookupError
    from sipsimple.session.transfer import routes_for

    try:
        routes: list[Any] = routes_for(account, target)
    except DNSLookupError as exc:
        raise click.ClickException(f"no route to {target}: {exc}") from None
    if not routes:
        raise click.ClickException(f"no route to {target}")
    return routes


def target_uri(text: str, account: Any) -> Any:
    from sipsimple.core import SIPURI, SIPURIError

    if not text.lower().startswith(("sip:", "sips:")):
        text = f"sip:{text}" if "@" in text else f"sip:{text}@{account.domain}"
    try:
        return SIPURI.parse(text)
    except SIPURIError as exc:
        raise click.BadParameter(f"invalid SIP URI: {exc}", param_hint="URI") from None


def check_wav(filename: str, option: str) -> None:
    """Refuse a file to play that is missing or no WAV before any call starts."""
    import wave

    path = Path(filename).expanduser()
    try:
        with wave.open(str(path), "rb") as source:
            source.getnframes()
    except FileNotFoundError:
        raise click.ClickException(f"{option} {filename}: no such file") from None
    except IsADirectoryError:
        raise click.ClickException(f"{option} {filename}: is a directory") from None
    except (wave.Error, EOFError) as exc:
        raise click.ClickException(f"{option} {filename}: not a WAV file ({exc})") from None
    except OSError as exc:
        raise click.ClickException(f"{option} {filename}: {exc.strerror or exc}") from None


def play_into(stream: Any, filename: str) -> Any:
    from sipsimple.audio import WavePlayer

    player = WavePlayer(stream.mixer, str(Path(filename).expanduser().absolute()))
    stream.bridge.add(player)
    player.start()
    return player


def _start_media(stream: Any, record: str | None, play: str | None, echo: bool) -> Any:
    """Recording, playing and echo for a call that just connected; the player, if any.

    A failure of one is reported and the call goes on without it.
    """
    from sipsimple.audio import AudioError
    from sipsimple.streams import AudioStreamError

    player = None
    try:
        if record:
            stream.start_recording(record)
        if play:
            player = play_into(stream, play)
        if echo:
            stream.mixer.connect(stream, stream)
    except (AudioError, AudioStreamError, ValueError) as exc:
        status(f"error: {exc}")
    return player


def hang_up(session: Any, events: Events) -> None:
    """Ctrl-C: end `session`, and show its end when it comes."""
    status("hanging up")
    session.end()
    if (n := events.wait_end(session)) is not None:
        show(n)


def busy(session: Any) -> None:
    """Another call while one is offered or connected: 486 (one call at a time), said."""
    from sipsimple.session import IllegalStateError

    status(f"refused call from {session.remote_identity}: busy with another call (486)")
    with contextlib.suppress(IllegalStateError):  # the caller gave up meanwhile
        session.reject(486)


def run_call(session: Any, stream: Any, events: Events, *, dtmf: str = "",
             record: str | None = None, play: str | None = None,
             auto_hangup: float | None = None, echo: bool = False) -> bool:
    """Show a call's progress and drive it until it ends; hang up on Ctrl-C.
    Returns whether it was Ctrl-C that ended it (the user wants to stop)."""
    interrupted = False
    connected_at: float | None = None
    pending_dtmf = list(dtmf)
    control = CallControl(session, stream)
    player = None
    ended = False
    audio_line = ""  # the "audio: ..." line shown: printed again only when it changes
    with Keys() as keys:
        try:
            while not ended:
                notification = events.get(0.1)
                if notification is not None and notification.name == "SIPSessionNewIncoming" \
                        and notification.sender is not session:
                    busy(notification.sender)
                    continue
                if notification is not None and notification.name in (
                        "SIPEngineGotMessage", "SIPEngineGotComposingIndication"):
                    from sipsimple.cli.message import show_message

                    show_message(notification)  # observed by `answer`, which prints them
                    continue
                if notification is not None and notification.sender in (session, stream):
                    if notification.name != "AudioStreamDidChangeRTPParameters":
                        show(notification)
                    elif describe_stream(stream) != audio_line:  # not what is shown already
                        audio_line = describe_stream(stream)
                        show(notification)
                    if notification.name in ("SIPSessionDidFail", "SIPSessionDidEnd"):
                        ended = True
                        continue
                    if notification.name == "SIPSessionDidStart":
                        audio_line = describe_stream(stream)
                        connected_at = time.monotonic()
                        player = _start_media(stream, record, play, echo)
                        if keys.enabled:
                            status(KEYS_HELP)
                if connected_at is None:
                    continue
                if pending_dtmf and time.monotonic() - connected_at > 1:
                    control.key(pending_dtmf.pop(0))
                    connected_at = time.monotonic() - 0.75  # the next one 250 ms later
                if auto_hangup is not None and time.monotonic() - connected_at >= auto_hangup:
                    status("hanging up (--auto-hangup)")
                    session.end()
                    auto_hangup = None
                key = keys.read()
                if key is not None and not control.key(key):
                    status("hanging up")
                    session.end()
        except KeyboardInterrupt:
            interrupted = True
            hang_up(session, events)
        finally:
            if player is not None:
                player.stop()
    if session.start_time is not None:  # a call that never connected has none to tell
        status(f"statistics: {describe_statistics(stream.statistics)}")
    return interrupted


@click.command()
@click.argument("uri")
@click.option("--account", "-a", "account_id", metavar="ACCOUNT",
              help="Account to call from (default: the default account).")
@click.option("--record", metavar="FILE", help="Record the call to this WAV file.")
@click.option("--play", metavar="FILE", help="Play this WAV file into the call.")
@click.option("--dtmf", metavar="DIGITS", default="",
              help="Send these DTMF digits once connected (0-9, A-D, *, #).")
@click.option("--auto-hangup", type=click.FloatRange(0, min_open=True), metavar="SECONDS",
              help="Hang up this many seconds after the call connects.")
@_config_dir_option
def call(uri: str, account_id: str | None, record: str | None, play: str | None,
         dtmf: str, auto_hangup: float | None) -> None:
    """Call URI with audio and show the call's progress.

    URI is sip:user@host, user@host, or a user of the account's domain.
    Exits 0 when the call connected, 1 when it failed.
    """
    from sipsimple.core import ToHeader
    from sipsimple.session import Session
    from sipsimple.streams import AudioStream

    bad = [d for d in dtmf if d not in DTMF_KEYS]
    if bad:
        raise click.BadParameter(f"not DTMF digits: {''.join(bad)}", param_hint="--dtmf")
    if play:
        check_wav(play, "--play")
    with Events().observing() as events, application(account_id) as account:
        target = target_uri(uri, account)
        status(f"calling {target} from {account.id}")
        routes = routes_to(account, target)
        session = Session(account)
        stream = AudioStream(account)
        session.connect(ToHeader(target), routes, [stream])
        run_call(session, stream, events, dtmf=dtmf, record=record, play=play,
                 auto_hangup=auto_hangup)
        if session.start_time is None:
            sys.exit(1)


@click.command()
def devices() -> None:
    """List the audio devices the media service sees, the defaults and the ones in use.

    The null device (silence in, nothing out) is always there; it is what the
    settings' None means and what a missing device falls back to.
    """
    from sipsimple.audio import AudioMixer

    found = AudioMixer.list_devices()
    default = found.get("default") or {}
    current = found.get("current") or {}
    rows = []
    for kind, uses in (("input", ("input",)), ("output", ("output", "alert"))):
        for name in found.get(kind, []):
            used = [use for use in uses if current.get(use) == name]
            rows.append([kind, name, "yes" if name == default.get(kind) else "",
                         ", ".join(used)])
    table(["KIND", "DEVICE", "DEFAULT", "IN USE FOR"], rows)
