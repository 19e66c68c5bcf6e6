"""`sipsimple message URI [TEXT]`: page-mode messages from the shell (`receive`: cli/receive.py).

`message` sends one MESSAGE (RFC 3428) from an account: TEXT, or stdin when
it is not given; wrapped in CPIM (RFC 3862) unless --no-cpim. The routes come
from RFC 3263 (`DNSLookup`, through the account's outbound proxy if it has
one), tried in order while they fail locally; digest challenges are answered
with the account's credentials. It exits 0 only on a 2xx.

`receive` (cli/receive.py) prints the messages that reach the accounts (the
sender, the time received and, for CPIM, the time sent); `answer` and `chat`
print them too.
Text is printed with control characters escaped, so that a message cannot
drive the terminal; other content is described (type and size).
"""

from __future__ import annotations

import sys
from typing import Any

import click

from sipsimple.cli.call import Events, application, routes_to, status, target_uri
from sipsimple.cli.config import _config_dir_option
from sipsimple.notification import Notification

__all__ = ["MESSAGE_EVENTS", "describe_message", "message", "show_message"]

MESSAGE_EVENTS = ("SIPEngineGotMessage", "SIPEngineGotComposingIndication")
OUTCOMES = ("SIPMessageDidSucceed", "SIPMessageDidFail")
SEND_TIMEOUT = 40.0  # per response, as the service's default
MAX_STDIN = 1024 * 1024  # the service's limit on a message body


def _printable(text: str) -> str:
    """`text` with control characters (ANSI escapes too) shown as escapes; newlines kept."""
    return "".join(ch if ch in "\n\t" or (ch.isprintable()) else
                   ch.encode("unicode_escape").decode("ascii") for ch in text)


def _sender(data: Any) -> str:
    sender = getattr(data, "sender", None)
    if sender is None:
        return "unknown sender"
    if sender.display_name:
        return f"{_printable(sender.display_name)} <{sender.uri}>"
    return f"<{sender.uri}>"


def describe_message(notification: Notification) -> list[str]:
    """The lines that show one incoming message or composing indication."""
    data = notification.data
    account = getattr(data.account, "id", data.account)
    who = _sender(data)
    if notification.name == "SIPEngineGotComposingIndication":
        doing = "is typing" if data.state == "active" else f"is {_printable(data.state)}"
        return [f"{who} {doing} (to {account})"]
    cpim = getattr(data, "cpim", None)
    sent = ""
    if cpim is not None and cpim.timestamp is not None:
        sent = f", sent {cpim.timestamp.astimezone():%Y-%m-%d %H:%M:%S}"
    head = f"message from {who} to {account}{sent}"
    if data.content_type.startswith("text/"):
        text = data.body.decode(data.charset or "utf-8", errors="replace")
        lines = _printable(text).splitlines() or [""]
        return [f"{head}: {lines[0]}", *(f"  {line}" for line in lines[1:])]
    return [f"{head}: {data.content_type}, {len(data.body)} bytes"]


def show_message(notification: Notification) -> None:
    for line in describe_message(notification):
        status(line)


@click.command()
@click.argument("uri")
@click.argument("text", required=False)
@click.option("--account", "-a", "account_id", metavar="ACCOUNT",
              help="Account to send from (default: the default account).")
@click.option("--content-type", "-t", default="text/plain", show_default=True,
              help="The content type of TEXT.")
@click.option("--no-cpim", is_flag=True, help="Send the text as it is, not wrapped in CPIM.")
@click.option("--timeout", type=click.FloatRange(0, min_open=True), default=SEND_TIMEOUT,
              show_default=True, metavar="SECONDS", help="Wait this long for each response.")
@_config_dir_option
def message(uri: str, text: str | None, account_id: str | None, content_type: str,
            no_cpim: bool, timeout: float) -> None:
    """Send TEXT (or stdin) to URI as a page-mode message (SIP MESSAGE).

    URI is sip:user@host, user@host, or a user of the account's domain. The
    text goes wrapped in CPIM (RFC 3862) unless --no-cpim. Exits 0 when the
    recipient's side answered 2xx, 1 otherwise.
    """
    from sipsimple.core import FromHeader, Message, SIPParseError, ToHeader

    if text is None:
        if sys.stdin.isatty():
            status("type the message, then Ctrl-D")
        body = sys.stdin.buffer.read(MAX_STDIN + 1)
        if len(body) > MAX_STDIN:
            raise click.ClickException(f"the message is over {MAX_STDIN} bytes")
    else:
        body = text.encode("utf-8")
    try:
        from sipsimple.core import ContentTypeHeader

        ContentTypeHeader.parse(content_type)
    except SIPParseError as exc:
        raise click.BadParameter(str(exc), param_hint="--content-type") from None
    if not body:
        raise click.ClickException("nothing to send: the message is empty")
    # claim=False: sending needs no claim, and this process must not take the
    # account's incoming messages (nobody here would read them) from `receive`
    with Events(*OUTCOMES).observing() as events, \
            application(account_id, claim=False) as account:
        target = target_uri(uri, account)
        routes = routes_to(account, target)
        outgoing = Message(FromHeader(account.uri, account.display_name or None),
                           ToHeader(target), routes, content_type, body,
                           credentials=account.credentials, use_cpim=not no_cpim)
        status(f"sending to {target} from {account.id}")
        outgoing.send(timeout)
        outcome = None
        while outcome is None:  # the Message always ends (the bus call has its own timeout)
            notification = events.get(1.0)
            if notification is not None and notification.sender is outgoing:
                outcome = notification
        notification, data = outcome, outcome.data
        if notification.name == "SIPMessageDidSucceed":
            status(f"delivered: {data.code} {data.reason}".rstrip())
            return
        where = "" if data.originator == "remote" else " (local)"
        status(f"not delivered: {data.code or ''} {data.reason}{where}".replace("  ", " "))
        sys.exit(1)
