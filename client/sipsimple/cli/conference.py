"""`sipsimple conference`: host a conference room, or join one and manage its participants.

`host ROOM` runs a `ConferenceRoom` for the account until Ctrl-C and prints
participants as they come and go. On the client side, `join ROOM` calls the
room with audio and prints its participants from the conference event
package whenever they change; `add ROOM URI` and `remove ROOM URI` join the
room, send the REFER (RFC 4579 5.5: a participant asks the focus, in its
dialog), print the progress and the outcome, and leave; they exit 1 when
the focus could not add or remove.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import click

from sipsimple.cli.call import (
    SHOWN,
    Events,
    application,
    check_wav,
    routes_to,
    run_call,
    show,
    status,
    target_uri,
)
from sipsimple.cli.config import _config_dir_option
from sipsimple.notification import Notification

__all__ = ["conference"]

JOIN_TIMEOUT = 30.0
REFER_TIMEOUT = 90.0  # the added party may ring for a while
ROOM_EVENTS = (
    "ConferenceRoomParticipantDidJoin", "ConferenceRoomParticipantDidLeave",
    "ConferenceRoomParticipantDidChange", "ConferenceRoomDidAddParticipant",
    "ConferenceRoomDidNotAddParticipant",
)
HANDLER_EVENTS = (
    "SIPSessionGotConferenceInfo",
    "SIPConferenceGotAddParticipantProgress", "SIPConferenceGotRemoveParticipantProgress",
    "SIPConferenceDidAddParticipant", "SIPConferenceDidNotAddParticipant",
    "SIPConferenceDidRemoveParticipant", "SIPConferenceDidNotRemoveParticipant",
)


def describe_participant(participant: Any) -> str:
    name = f'"{participant.display_name}" ' if participant.display_name else ""
    media = [f"audio {participant.audio}" if participant.audio else "",
             "chat" if participant.chat else "",
             f"nickname {participant.nickname}" if participant.nickname else ""]
    details = ", ".join(part for part in (participant.joining_method, *media) if part)
    return f"{name}<{participant.uri}> ({details})"


def show_room(notification: Notification) -> None:
    name, data = notification.name, notification.data
    if name == "ConferenceRoomParticipantDidJoin":
        status(f"joined: {describe_participant(data.participant)}")
    elif name == "ConferenceRoomParticipantDidLeave":
        status(f"left: {describe_participant(data.participant)}")
    elif name == "ConferenceRoomParticipantDidChange":
        status(f"changed: {describe_participant(data.participant)}")
    elif name == "ConferenceRoomDidAddParticipant":
        status(f"added {data.uri}")
    elif name == "ConferenceRoomDidNotAddParticipant":
        status(f"could not add {data.uri}: {data.code} {data.reason or ''}".rstrip())


def describe_conference(info: Any) -> str:
    users = []
    for user in info.users or ():
        name = f'"{user.display_text}" ' if user.display_text else ""
        users.append(f"{name}<{user.entity}>")
    return f"participants ({len(users)}): {', '.join(users) if users else 'none'}"


@click.group()
def conference() -> None:
    """Host a conference room, or join one and add or remove its participants."""


@conference.command()
@click.argument("room")
@click.option("--account", "-a", "account_id", metavar="ACCOUNT",
              help="Account hosting the room (default: the default account).")
@click.option("--subject", help="The conference's subject, as its participants see it.")
@_config_dir_option
def host(room: str, account_id: str | None, subject: str | None) -> None:
    """Host the conference room ROOM until Ctrl-C, printing who comes and goes.

    ROOM is a name (the room is NAME@ the account's domain) or a SIP URI.
    Every participant hears all the others; participants see each other in
    the conference event package and may add or remove others by REFER.
    """
    from sipsimple.conference import ConferenceRoom

    with Events(*ROOM_EVENTS).observing() as events, application(account_id) as account:
        try:
            hosted = ConferenceRoom(account, room, subject=subject)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="ROOM") from None
        hosted.start()
        try:
            status(f"hosting {hosted.uri} for {account.id} (Ctrl-C to stop)")
            while True:
                notification = events.get(0.5)
                if notification is not None and notification.sender is hosted:
                    show_room(notification)
        except KeyboardInterrupt:
            status(f"closing {hosted.uri}")
        finally:
            hosted.stop()


def _join(account: Any, room: str) -> tuple[Any, Any]:
    from sipsimple.core import ToHeader
    from sipsimple.session import Session
    from sipsimple.streams import AudioStream

    target = target_uri(room, account)
    status(f"joining {target} as {account.id}")
    routes = routes_to(account, target)
    session = Session(account)
    stream = AudioStream(account)
    session.connect(ToHeader(target), routes, [stream])
    return session, stream


def _show_conference(notification: Notification) -> None:
    name, data = notification.name, notification.data
    if name == "SIPSessionGotConferenceInfo":
        status(describe_conference(data.conference_info))
    elif name.endswith("ParticipantProgress"):
        what = "adding" if "Add" in name else "removing"
        status(f"{what} {data.participant}: {data.code} {data.reason or ''}".rstrip())
    elif name.startswith("SIPConferenceDidNot"):
        what = "add" if "Add" in name else "remove"
        status(f"could not {what} {data.participant}: {data.code} {data.reason or ''}".rstrip())
    elif name.startswith("SIPConferenceDid"):
        status(f"{'added' if 'Add' in name else 'removed'} {data.participant}")


@conference.command()
@click.argument("room")
@click.option("--account", "-a", "account_id", metavar="ACCOUNT",
              help="Account to join with (default: the default account).")
@click.option("--record", metavar="FILE", help="Record what you hear to this WAV file.")
@click.option("--play", metavar="FILE", help="Play this WAV file into the conference.")
@click.option("--auto-hangup", type=click.FloatRange(0, min_open=True), metavar="SECONDS",
              help="Leave this many seconds after joining.")
@_config_dir_option
def join(room: str, account_id: str | None, record: str | None, play: str | None,
         auto_hangup: float | None) -> None:
    """Join the conference ROOM with audio, printing its participants as they change.

    ROOM is sip:room@host, room@host, or a room of the account's domain.
    Exits 0 when the call connected, 1 when it failed.
    """
    if play:
        check_wav(play, "--play")

    class Printing(Events):
        def handle_notification(self, notification: Notification) -> None:
            if notification.name in HANDLER_EVENTS:
                _show_conference(notification)  # as they come: run_call shows the rest
            else:
                super().handle_notification(notification)

    with Printing(*SHOWN, *HANDLER_EVENTS).observing() as events, \
            application(account_id) as account:
        session, stream = _join(account, room)
        run_call(session, stream, events, record=record, play=play, auto_hangup=auto_hangup)
        if session.start_time is None:
            sys.exit(1)


def _refer(room: str, uri: str, account_id: str | None, remove: bool) -> None:
    kind = "Remove" if remove else "Add"
    with Events(*SHOWN, *HANDLER_EVENTS).observing() as events, \
            application(account_id) as account:
        session, _stream = _join(account, room)
        participant = target_uri(uri, account)
        deadline = time.monotonic() + JOIN_TIMEOUT
        succeeded: bool | None = None
        referred = False
        try:
            while succeeded is None:
                notification = events.get(0.2)
                if notification is None:
                    if time.monotonic() > deadline:
                        status("gave up waiting for the focus")
                        break
                    continue
                if notification.sender is not session:
                    continue
                name = notification.name
                if name in ("SIPSessionDidFail", "SIPSessionDidEnd"):
                    show(notification)
                    succeeded = False
                elif name == "SIPSessionDidStart":
                    show(notification)
                    if not session.remote_focus or session.conference is None:
                        status(f"{room} is no conference focus (no isfocus in its Contact)")
                        succeeded = False
                        break
                    referred = True
                    deadline = time.monotonic() + REFER_TIMEOUT
                    if remove:
                        session.conference.remove_participant(participant)
                    else:
                        session.conference.add_participant(participant)
                elif name in HANDLER_EVENTS and referred:
                    _show_conference(notification)
                    if name == f"SIPConferenceDid{kind}Participant":
                        succeeded = True
                    elif name == f"SIPConferenceDidNot{kind}Participant":
                        succeeded = False
        except KeyboardInterrupt:
            succeeded = False
        finally:
            if session.state not in (None, "terminated"):
                session.end()
                events.wait_end(session)
        if not succeeded:
            sys.exit(1)


@conference.command()
@click.argument("room")
@click.argument("uri")
@click.option("--account", "-a", "account_id", metavar="ACCOUNT",
              help="Account to join with (default: the default account).")
@_config_dir_option
def add(room: str, uri: str, account_id: str | None) -> None:
    """Have the focus of ROOM call URI into the conference (REFER), then leave.

    Exits 0 once URI is in the conference, 1 when the focus could not add it.
    """
    _refer(room, uri, account_id, remove=False)


@conference.command()
@click.argument("room")
@click.argument("uri")
@click.option("--account", "-a", "account_id", metavar="ACCOUNT",
              help="Account to join with (default: the default account).")
@_config_dir_option
def remove(room: str, uri: str, account_id: str | None) -> None:
    """Have the focus of ROOM end the call of URI (REFER with method=BYE), then leave.

    Exits 0 once URI is out of the conference, 1 when the focus could not remove it.
    """
    _refer(room, uri, account_id, remove=True)
