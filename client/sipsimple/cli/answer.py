"""`sipsimple answer`: the answering agent, one audio call at a time until Ctrl-C.

Each call offered rings at once (180). With --auto it is accepted; else the
user is asked: y or Enter answers, n declines (486 Busy Here), no answer
within --ring-timeout seconds gives 480. A call the caller cancels meanwhile
says so. An INVITE without SDP is taken with an audio stream (our offer in
the 200, the answer in the ACK). Calls refused before they reach the agent
(no account for the user: 480; nothing acceptable offered: 488) are printed
with the reason. With --any the agent also takes calls to any other user at
its address (sip:anyone@ip, as softphones do). Page-mode messages to the
accounts are printed as they come (waiting, ringing or in a call).
"""

from __future__ import annotations

import os
import select
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from sipsimple.cli.call import (
    ENDS,
    SHOWN,
    Events,
    Keys,
    application,
    busy,
    check_wav,
    run_call,
    show,
    status,
)
from sipsimple.cli.config import _config_dir_option
from sipsimple.cli.message import MESSAGE_EVENTS, show_message
from sipsimple.notification import Notification

__all__ = ["answer"]

RING_TIMEOUT = 30.0
YES = frozenset({"y", "yes", ""})
NO = frozenset({"n", "no"})
KEYS = {"y": True, "\n": True, "\r": True, "n": False}  # single keys on a terminal


def show_refused(notification: Notification) -> None:
    """A call refused before any session reached the agent, with the reason."""
    data = notification.data
    caller = data.remote_identity or "unknown caller"
    detail = f" ({data.detail})" if data.detail else ""
    status(f"refused call from {caller} to {data.local_identity}: "
           f"{data.code} {data.reason or ''}{detail}".rstrip())


class Prompt:
    """The user's answer to "answer?", from the keys of a terminal or lines of a pipe."""

    def __init__(self, keys: Keys) -> None:
        self.keys = keys
        self.line = ""
        self.eof = False

    def read(self) -> bool | None:
        """True to answer, False to decline, None while the user has not said."""
        if self.keys.enabled:
            key = self.keys.read()
            return None if key is None else KEYS.get(key.lower())
        if self.eof or not select.select([sys.stdin], [], [], 0)[0]:
            return None
        chunk = os.read(sys.stdin.fileno(), 1024).decode(errors="ignore")
        if not chunk:
            self.eof = True  # nobody will say: the ring timeout decides
            return None
        self.line += chunk
        while "\n" in self.line:
            text, _, self.line = self.line.partition("\n")
            word = text.strip().lower()
            if word in YES or word in NO:
                return word in YES
        return None


def ask(session: Any, events: Events, timeout: float) -> str:
    """Ring until the user answers: "accept", "decline", "timeout" or "gone" (shown)."""
    deadline = time.monotonic() + timeout
    with Keys() as keys:
        status(f"answer? y or Enter answers, n declines ({timeout:g} s)")  # keys read from now
        prompt = Prompt(keys)
        while (left := deadline - time.monotonic()) > 0:
            notification = events.get(min(0.1, left))
            if notification is not None:
                if notification.sender is session and notification.name in ENDS:
                    show(notification)
                    return "gone"
                if notification.name == "SIPSessionNewIncoming":
                    busy(notification.sender)
                elif notification.name == "SIPSessionIncomingRefused":
                    show_refused(notification)
                elif notification.name in MESSAGE_EVENTS:
                    show_message(notification)
            said = prompt.read()
            if said is not None:
                return "accept" if said else "decline"
    return "timeout"


def recording_name(directory: str, session: Any) -> str:
    folder = Path(directory).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    caller = str(session.remote_identity.uri).replace(":", "_").replace("/", "_")
    return str(folder / f"{datetime.now():%Y%m%d-%H%M%S}-{caller}.wav")


def claim_any_user(account: Any, again: bool = False) -> None:
    """Have the signalling service give us calls to users no account claims (--any).

    Claimed `again` when the account is (a new signalling service): a failure then
    is said and the agent goes on, as the account's next activation claims again.
    """
    from sipsimple.bus.client import BusError, get_bus

    try:
        get_bus().call("signalling", "claim_account", aor=str(account.uri), any_user=True)
    except BusError as exc:
        if not again:
            raise click.ClickException(f"cannot take calls to any user: {exc}") from None
        status(f"error: cannot take calls to any user for now: {exc}")


def ring_and_ask(session: Any, events: Events, *, auto: bool, ring_timeout: float) -> bool:
    """Ring, and unless `auto` ask the user: whether to accept. A declined (486) or
    unanswered (480) session is rejected here, and said so."""
    session.send_ring_indication()
    if auto:
        return True
    decision = ask(session, events, ring_timeout)
    if decision == "decline":
        status("declined: 486 Busy Here")
        session.reject(486)
    elif decision == "timeout":
        status(f"not answered within {ring_timeout:g} s: 480 Temporarily Unavailable")
        session.reject(480)
    return decision == "accept"


def offered_audio(session: Any, notification: Notification) -> Any:
    """The audio stream to accept the call with, None if the offer has none."""
    from sipsimple.streams import AudioStream

    streams = notification.data.streams
    audio = [s for s in streams if getattr(s, "type", None) == "audio"]
    if audio:
        return audio[0]
    if not streams:  # an INVITE without SDP: we offer audio in the 200
        return AudioStream(session.account)
    return None


def take(session: Any, notification: Notification, events: Events, *, auto: bool,
         ring_timeout: float, echo: bool, play: str | None, record: str | None) -> bool:
    """One offered call: ring, ask (unless --auto), accept and run it, or refuse it.
    Returns whether Ctrl-C hung it up (then the command stops)."""
    from sipsimple.session import IllegalStateError

    show(notification)
    stream = offered_audio(session, notification)
    try:
        if stream is None:
            kinds = ", ".join(sorted({str(getattr(s, "type", "?")) for s in
                                      notification.data.streams}))
            status(f"refused: no audio stream offered (only {kinds}): 488 Not Acceptable Here")
            session.reject(488)
            return False
        if ring_and_ask(session, events, auto=auto, ring_timeout=ring_timeout):
            session.accept([stream])
    except IllegalStateError:
        pass  # the caller cancelled meanwhile: run_call shows the session's end
    if stream is None:
        return False
    filename = recording_name(record, session) if record else None
    return run_call(session, stream, events, record=filename, play=play, echo=echo)


@click.command()
@click.option("--account", "-a", "account_id", metavar="ACCOUNT",
              help="Answer for this account only (default: every enabled account).")
@click.option("--auto", is_flag=True, help="Accept every call at once (else ask).")
@click.option("--any", "any_user", is_flag=True,
              help="Also take calls to any other user at this address (direct IP calls), "
                   "for the account (default: the default account).")
@click.option("--ring-timeout", type=click.FloatRange(0, min_open=True), default=RING_TIMEOUT,
              show_default=True, metavar="SECONDS",
              help="Without --auto: answer 480 when not answered within this time.")
@click.option("--echo", is_flag=True, help="Send the caller's audio back to the caller.")
@click.option("--play", metavar="FILE", help="Play this WAV file into each call.")
@click.option("--record", metavar="DIR", type=click.Path(file_okay=False),
              help="Record each call into this directory.")
@_config_dir_option
def answer(account_id: str | None, auto: bool, any_user: bool, ring_timeout: float,
           echo: bool, play: str | None, record: str | None) -> None:
    """Wait for incoming audio calls and answer them, one at a time, until Ctrl-C
    (which hangs up a call in progress first).

    Each call rings at once. Without --auto you are asked: y or Enter answers,
    n declines (486 Busy Here); no answer within --ring-timeout gives 480.
    Calls refused before they reach you are printed with the reason.
    """
    if play:
        check_wav(play, "--play")
    names = (*SHOWN, "SIPSessionIncomingRefused", "SIPAccountDidActivate", *MESSAGE_EVENTS)
    with Events(*names).observing() as events, \
            application(account_id, only_one=any_user) as account:
        if any_user:
            claim_any_user(account)
        target = account.id if account else "every enabled account"
        status(f"waiting for calls to {target}{' and any user at this address' if any_user else ''}"
               " (Ctrl-C to stop)")
        try:
            while True:
                notification = events.get(0.5)
                if notification is None:
                    continue
                if notification.name == "SIPSessionIncomingRefused":
                    show_refused(notification)
                elif notification.name in MESSAGE_EVENTS:
                    show_message(notification)
                elif notification.name == "SIPAccountDidActivate":
                    if any_user and notification.sender is account:
                        claim_any_user(account, again=True)  # maybe a new service
                elif notification.name == "SIPSessionNewIncoming" and take(
                        notification.sender, notification, events, auto=auto,
                        ring_timeout=ring_timeout, echo=echo, play=play, record=record):
                    return  # Ctrl-C in a call: hung up, and the user wants to stop
        except KeyboardInterrupt:
            return  # the application ends a call still ringing
