"""`sipsimple receive`: page-mode messages and chat sessions to the accounts, until Ctrl-C.

Page-mode messages (SIP MESSAGE) are printed as they come: the sender, the
time received and, for CPIM, the time sent. A chat session offered (an
INVITE with a ChatStream) rings at once; with --auto it is accepted, else the
user is asked as `answer` asks (y or Enter, n: 486, no answer within
--ring-timeout: 480). One chat at a time: another offered meanwhile gets 486.
In a chat, the lines typed go to the peer and its messages are printed, as in
`sipsimple chat` (cli/chat.py); Ctrl-D on an empty line hangs the chat up and
waits for the next one. Offers without a chat (audio calls) are refused with
488: calls are `sipsimple answer`'s.

A session offering files (FileTransferStream, e.g. `sipsimple send-file`) is
taken the same way: the files are written under --dir (default: the
configured ``file_transfer.directory``) with safe unique names, and each one
saved is printed with its path, size and whether its SHA-1 matched; an
interrupted one keeps its part, which the same file sent again continues
(cli/files.py).
"""

from __future__ import annotations

from typing import Any

import click

from sipsimple.cli.answer import RING_TIMEOUT, ring_and_ask, show_refused
from sipsimple.cli.call import Events, Keys, application, status
from sipsimple.cli.chat import CHAT_EVENTS, ChatConsole, run_chat
from sipsimple.cli.config import _config_dir_option
from sipsimple.cli.files import FILE_EVENTS, take_files
from sipsimple.cli.message import MESSAGE_EVENTS, describe_message
from sipsimple.notification import Notification

__all__ = ["receive"]


def take_chat(session: Any, notification: Notification, events: Events, console: ChatConsole,
              *, auto: bool, ring_timeout: float) -> None:
    """One offered session: its chat accepted (asked unless --auto) and run, or refused."""
    from sipsimple.session import IllegalStateError

    streams = notification.data.streams
    chats = [s for s in streams if getattr(s, "type", None) == "chat"]
    caller = session.remote_identity
    try:
        if not chats:
            kinds = ", ".join(sorted({str(getattr(s, "type", "?")) for s in streams})) or "none"
            status(f"refused session from {caller}: no chat offered (only {kinds}; calls are "
                   "for `sipsimple answer`): 488 Not Acceptable Here")
            session.reject(488)
            return
        status(f"incoming chat from {caller}")
        if ring_and_ask(session, events, auto=auto, ring_timeout=ring_timeout):
            session.accept([chats[0]])
    except IllegalStateError:
        pass  # the caller cancelled meanwhile: run_chat shows the session's end
    run_chat(session, chats[0], events, console, end_on_eof=console.keys.enabled)
    status("waiting for messages and chats")


@click.command()
@click.option("--account", "-a", "account_id", metavar="ACCOUNT",
              help="Receive for this account only (default: every enabled account).")
@click.option("--auto", is_flag=True, help="Accept every chat and file at once (else ask).")
@click.option("--dir", "directory", metavar="DIR",
              type=click.Path(file_okay=False, writable=True),
              help="Save received files here (default: the file_transfer.directory setting).")
@click.option("--ring-timeout", type=click.FloatRange(0, min_open=True), default=RING_TIMEOUT,
              show_default=True, metavar="SECONDS",
              help="Without --auto: answer 480 when not answered within this time.")
@_config_dir_option
def receive(account_id: str | None, auto: bool, directory: str | None,
            ring_timeout: float) -> None:
    """Print the messages that reach the accounts, take chats and files, until Ctrl-C.

    Page-mode messages show the sender, the time they arrived (and when they
    were sent, if the sender said so in CPIM) and the text; other content is
    described. A chat offered is accepted with --auto, else you are asked;
    in a chat, lines typed go to the peer (Ctrl-D on an empty line hangs up).
    Files offered are saved under --dir (default: the configured file
    transfer directory) and each one saved is printed with its size and
    whether its SHA-1 matched.
    """
    import os

    if directory is not None:
        directory = os.path.abspath(os.path.expanduser(directory))
    names = tuple(dict.fromkeys((*CHAT_EVENTS, *FILE_EVENTS, "SIPSessionIncomingRefused")))
    with Events(*names).observing() as events, \
            application(account_id, only_one=False) as account:
        target = account.id if account else "every enabled account"
        status(f"waiting for messages and chats to {target} (Ctrl-C to stop)")
        if directory is not None:
            status(f"files go to {click.format_filename(directory)}")
        with Keys() as keys:
            console = ChatConsole(keys)
            try:
                while True:
                    notification = events.get(0.1)
                    if notification is not None:
                        if notification.name in MESSAGE_EVENTS:
                            for line in describe_message(notification):
                                console.print(line)
                        elif notification.name == "SIPSessionIncomingRefused":
                            show_refused(notification)
                        elif notification.name == "SIPSessionNewIncoming":
                            if any(getattr(s, "type", None) == "file-transfer"
                                   for s in notification.data.streams):
                                take_files(notification.sender, notification, events,
                                           auto=auto, ring_timeout=ring_timeout,
                                           directory=directory)
                                status("waiting for messages and chats")
                            else:
                                take_chat(notification.sender, notification, events, console,
                                          auto=auto, ring_timeout=ring_timeout)
                    for what, _text in console.read():
                        if what == "line":
                            console.print("no chat in progress: the line was not sent")
            except KeyboardInterrupt:
                return
