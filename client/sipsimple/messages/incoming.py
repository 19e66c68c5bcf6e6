"""`MessageManager`: incoming page-mode messages, posted and then answered.

The signalling service delivers each MESSAGE for an account this client
claimed (``signalling.request_received`` with ``answered`` None) and waits
for our answer; it answers 480 itself if none comes within 20 s or this
client goes away. So the answer is 200 only after the notification was
posted, that is after every observer ran (delivery is synchronous):

- ``SIPEngineGotMessage`` for a message, and ``SIPEngineGotComposingIndication``
  for an RFC 3994 is-composing body (plain or in CPIM); sender: the `Account`
  the message is for, so that an application observes its own accounts.
- 480 when no application observes ``SIPEngineGotMessage`` (by name, or
  everything the account posts; observers of every notification do not
  count): a client that holds the account but reads no messages (a call in
  progress, say) does not take them.
- 415 (with Accept) for a content type, or a type wrapped in CPIM, that is not
  in `accepted_content_types`; 400 for malformed CPIM or is-composing bodies,
  a body without Content-Type, or no body; 404 for an account this client no
  longer has (disabled or deleted meanwhile). Nothing is posted then.

The AccountManager starts and stops the manager with itself: whoever claims
accounts answers their messages. Everything runs on the manager's worker
thread, never on the bus thread.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sipsimple.bus.client import BusError, get_bus
from sipsimple.core import SIPURI, FromHeader, ToHeader, parse_uri
from sipsimple.notification import Notification, NotificationCenter, NotificationData
from sipsimple.payloads.cpim import ChatIdentity
from sipsimple.threading import Singleton, Worker

from .content import DEFAULT_ACCEPTED_TYPES, Received, Refusal, check_types, read_message

__all__ = ["MessageManager"]

log = logging.getLogger(__name__)

BUS_TIMEOUT = 5.0
EVENT = "signalling.request_received"


def _header(headers: Sequence[Any], name: str) -> str | None:
    for pair in headers:
        if isinstance(pair, list | tuple) and len(pair) == 2 and str(pair[0]).lower() == name:
            return str(pair[1])
    return None


def _parsed(kind: Any, text: str | None) -> Any:
    if text is None:
        return None
    try:
        return kind.parse(text)
    except ValueError:
        return None


def _taken(received: Received, account: Any) -> bool:
    """Whether an application observes what `received` would be posted as.

    A composing indication is taken by an application that reads messages too.
    """
    center = NotificationCenter()
    if center.is_observed("SIPEngineGotMessage", account):
        return True
    return received.composing is not None and center.is_observed(
        "SIPEngineGotComposingIndication", account)


class MessageManager(metaclass=Singleton):
    """Takes the MESSAGEs the signalling service delivers to this client."""

    def __init__(self) -> None:
        self._worker: Worker | None = None
        self._accepted: tuple[str, ...] = DEFAULT_ACCEPTED_TYPES

    @property
    def accepted_content_types(self) -> tuple[str, ...]:
        """The content types applications take (``type/*``, ``*/*`` allowed); others get 415.

        Default: text/plain, text/html, message/cpim (whose wrapped type must be
        accepted too), application/im-iscomposing+xml, message/imdn+xml.
        """
        return self._accepted

    @accepted_content_types.setter
    def accepted_content_types(self, types: Iterable[str]) -> None:
        self._accepted = check_types(types)

    @property
    def started(self) -> bool:
        return self._worker is not None

    def start(self) -> None:
        if self._worker is not None:
            return
        self._worker = Worker("sipsimple-messages")
        NotificationCenter().add_observer(self, name=EVENT)

    def stop(self, timeout: float = 2.0) -> None:
        worker, self._worker = self._worker, None
        if worker is None:
            return
        NotificationCenter().discard_observer(self, name=EVENT)
        worker.stop(timeout)

    # --- events (bus thread) -----------------------------------------------------

    def handle_notification(self, notification: Notification) -> None:
        data = notification.data
        if getattr(data, "method", None) != "MESSAGE" or getattr(data, "answered", 0) is not None:
            return
        try:
            mine = getattr(data, "client", None) == get_bus().client_id
        except Exception:
            return
        worker = self._worker
        if mine and worker is not None:
            worker.submit(lambda: self._incoming(data))

    # --- the worker ------------------------------------------------------------------

    def _incoming(self, data: NotificationData) -> None:
        headers = list(getattr(data, "headers", None) or [])
        account = self._account(getattr(data, "account", None))
        if account is None:
            self._respond(data.server_key, Refusal(404, "Not Found", "no such account here"))
            return
        result = read_message(_header(headers, "content-type"), data.body or b"",
                              self._accepted)
        if isinstance(result, Received) and not _taken(result, account):
            result = Refusal(480, "Temporarily Unavailable", "no application here reads messages")
        if isinstance(result, Refusal):
            log.info("refused a MESSAGE for %s: %d %s", account.id, result.code,
                     result.warning or result.reason)
            self._respond(data.server_key, result)
            return
        self._post(account, data, headers, result)
        self._respond(data.server_key, None)

    @staticmethod
    def _account(aor: str | None) -> Any:
        from sipsimple.account import AccountManager

        try:
            uri = parse_uri(aor) if aor else None
        except ValueError:
            return None
        if not isinstance(uri, SIPURI):
            return None
        for account in AccountManager().iter_accounts():
            if account.enabled and account.user == uri.user and (
                    account.domain.lower() == uri.host.lower()):
                return account
        return None

    @staticmethod
    def _post(account: Any, data: NotificationData, headers: list[Any],
              received: Received) -> None:
        from_header = _parsed(FromHeader, _header(headers, "from"))
        to_header = _parsed(ToHeader, _header(headers, "to"))
        cpim = received.cpim
        if cpim is not None and cpim.sender is not None:
            sender: ChatIdentity | None = cpim.sender
        elif from_header is not None:
            sender = ChatIdentity(from_header.uri, from_header.display_name)
        else:
            sender = None
        common: dict[str, Any] = {
            "timestamp": datetime.now(),
            "account": account,
            "request_uri": _parsed(SIPURI, getattr(data, "request_uri", None)),
            "from_header": from_header,
            "to_header": to_header,
            "sender": sender,
            "cpim": cpim,
            "source": getattr(data, "source", None),
        }
        composing = received.composing
        center = NotificationCenter()
        if composing is not None:
            center.post_notification("SIPEngineGotComposingIndication", account, NotificationData(
                **common, state=composing.state, refresh=composing.refresh,
                last_active=composing.last_active, content_type=composing.content_type))
            return
        center.post_notification("SIPEngineGotMessage", account, NotificationData(
            **common, content_type=received.content_type, charset=received.charset,
            body=received.body, headers=headers, imdn=received.imdn))

    @staticmethod
    def _respond(server_key: str, refusal: Refusal | None) -> None:
        params: dict[str, Any] = {"server_key": server_key, "code": 200}
        if refusal is not None:
            extra = []
            if refusal.warning:
                text = "".join(c if " " <= c <= "~" and c not in '"\\' else "?"
                               for c in refusal.warning)
                extra.append(["Warning", f'399 sipsimple "{text}"'])
            if refusal.accept:
                extra.append(["Accept", ", ".join(refusal.accept)])
            params.update(code=refusal.code, reason=refusal.reason, headers=extra or None)
        try:
            get_bus().call("signalling", "respond", timeout=BUS_TIMEOUT, **params)
        except BusError as exc:  # too late (the service answered 480) or the service went
            log.warning("answering MESSAGE %s: %s", server_key, exc)
