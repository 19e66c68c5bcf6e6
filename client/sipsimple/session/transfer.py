"""Call transfer (RFC 3515 REFER, RFC 3891 Replaces) for a Session.

Outgoing: `Session.transfer(uri, replaced_session)` sends REFER; the
service's `transfer_*` events become SIPSessionTransferDidStart (accepted),
SIPSessionTransferGotProgress (each NOTIFY), SIPSessionTransferDidEnd (a
final 2xx, after which the session is ended) or SIPSessionTransferDidFail.

Incoming: a REFER posts SIPSessionTransferNewIncoming; `accept_transfer()`
answers 202 and calls the target in a new Session (the same stream types,
with Referred-By and any Replaces of the Refer-To), reporting its progress
to the referrer as NOTIFYs and ending the old session once the new one has
started; `reject_transfer(code)` refuses it.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sipsimple.bus.client import BusError, get_bus
from sipsimple.core import SIPURI, ReferToHeader, ToHeader, parse_uri
from sipsimple.notification import Notification, NotificationCenter

if TYPE_CHECKING:
    from .session import Session

__all__ = ["TransferHandler", "TransferInfo", "routes_for"]

log = logging.getLogger(__name__)

BUS_TIMEOUT = 5.0
DNS_TIMEOUT = 15.0


@dataclass(frozen=True)
class TransferInfo:
    """What a Session created by an accepted transfer carries into its INVITE."""

    referred_by: str | None = None
    replaces: str | None = None
    transferred_from: Any = None  # the Session that received the REFER


def routes_for(account: Any, uri: SIPURI) -> list[Any]:
    """The routes to reach `uri` from `account`: its outbound proxy if set, else the URI's."""
    from sipsimple.configuration.settings import SIPSimpleSettings
    from sipsimple.lookup import DNSLookup

    target = account.outbound_proxy_uri or SIPURI(host=uri.host, port=uri.port,
                                                  parameters=dict(uri.parameters))
    transports = list(SIPSimpleSettings().sip.transport_list)
    routes: list[Any] = DNSLookup().lookup_sip_proxy(target, transports).wait(DNS_TIMEOUT)
    return routes


class TransferHandler:
    def __init__(self, session: Session) -> None:
        self.session = session
        self._outgoing: str | None = None  # transfer_id of our REFER
        self._incoming: Any = None  # the transfer_incoming data of a REFER we got
        self._new_session: Session | None = None

    # --- outgoing -------------------------------------------------------------

    def transfer(self, target_uri: Any, replaced_session: Session | None) -> None:
        target = target_uri if isinstance(target_uri, SIPURI) else parse_uri(str(target_uri))
        refer_to = str(ReferToHeader(self._with_replaces(target, replaced_session)))
        session = self.session
        source = session.account.uri

        def send() -> None:
            session._post("SIPSessionTransferNewOutgoing", transfer_destination=target,
                          transfer_source=source)
            try:
                reply = get_bus().call("signalling", "refer", timeout=BUS_TIMEOUT,
                                       session_id=session._sid, refer_to=refer_to,
                                       referred_by=str(source))
            except BusError as exc:
                session._post("SIPSessionTransferDidFail", code=0, reason=str(exc))
                return
            self._outgoing = reply["transfer_id"]

        session._submit(send)

    @staticmethod
    def _with_replaces(target: Any, replaced: Session | None) -> Any:
        if replaced is None:
            return target
        dialog = replaced._dialog_ids()
        if dialog is None:
            raise ValueError(f"{replaced!r} has no established dialog to replace")
        call_id, local_tag, remote_tag = dialog
        replaces = f"{call_id};to-tag={remote_tag};from-tag={local_tag}"
        headers = dict(target.headers)
        headers["Replaces"] = replaces  # the URI escapes it when written
        return SIPURI(host=target.host, user=target.user, port=target.port,
                      secure=target.secure, parameters=dict(target.parameters),
                      headers=headers)

    def event(self, kind: str, data: Any) -> None:
        session = self.session
        if data.transfer_id == self._outgoing:
            if kind == "accepted":
                session._post("SIPSessionTransferDidStart")
            elif kind == "progress":
                session._post("SIPSessionTransferGotProgress", code=data.code,
                              reason=data.reason)
            elif kind == "failed" or (kind == "ended" and not 200 <= data.code < 300):
                self._outgoing = None
                session._post("SIPSessionTransferDidFail", code=data.code, reason=data.reason)
            elif kind == "ended":
                self._outgoing = None
                session._post("SIPSessionTransferDidEnd")
                session.end()
        elif (kind == "ended" and self._incoming is not None
              and data.transfer_id == self._incoming.transfer_id):
            self._incoming = None

    # --- incoming -------------------------------------------------------------

    def incoming(self, data: Any) -> None:
        session = self.session
        if self._incoming is not None:  # one at a time
            self._call("reject_transfer", transfer_id=data.transfer_id, code=491)
            return
        try:
            destination = ReferToHeader.parse(data.refer_to).uri
        except ValueError:
            self._call("reject_transfer", transfer_id=data.transfer_id, code=400)
            return
        self._incoming = data
        session._post("SIPSessionTransferNewIncoming", transfer_destination=destination,
                      transfer_source=data.referred_by)

    def accept(self) -> None:
        def run() -> None:
            data = self._incoming
            if data is None:
                log.warning("%r: accept_transfer without a pending transfer", self.session)
                return
            if not self._call("accept_transfer", transfer_id=data.transfer_id):
                self._incoming = None
                return
            self.session._post("SIPSessionTransferDidStart")
            threading.Thread(target=self._call_target, args=(data,), daemon=True,
                             name="sipsimple-transfer").start()

        self.session._submit(run)

    def reject(self, code: int, reason: str | None) -> None:
        if not 300 <= code <= 699:
            raise ValueError(f"a rejection needs a code from 300 to 699, not {code}")

        def run() -> None:
            data, self._incoming = self._incoming, None
            if data is not None:
                self._call("reject_transfer", transfer_id=data.transfer_id, code=code,
                           reason=reason)

        self.session._submit(run)

    def _call_target(self, data: Any) -> None:
        """Off the worker (the DNS lookup may take seconds): call the transfer target."""
        from .session import Session

        old = self.session
        try:
            target = ReferToHeader.parse(data.refer_to).uri
            if not isinstance(target, SIPURI):
                raise ValueError(f"cannot call {target}: not a SIP URI")
            replaces = target.headers.get("Replaces")
            target = SIPURI(host=target.host, user=target.user, port=target.port,
                            secure=target.secure, parameters=dict(target.parameters))
            routes = routes_for(old.account, target)
            streams = [type(s)(old.account) for s in old.streams]
            if not streams:
                raise ValueError("the session has no streams to transfer")
        except Exception as exc:
            log.info("%r: transfer target unusable: %s", old, exc)
            old._submit(lambda: self._report(500, "Server Internal Error", final=True))
            return
        new = Session(old.account)
        new.transfer_info = TransferInfo(
            referred_by=data.referred_by,
            replaces=replaces or None,
            transferred_from=old,
        )
        self._new_session = new
        NotificationCenter().add_observer(self, sender=new)
        try:
            new.connect(ToHeader(target), routes, streams)
        except Exception as exc:
            NotificationCenter().discard_observer(self, sender=new)
            reason = f"cannot call the target: {exc}"[:80]
            old._submit(lambda: self._report(500, reason, final=True))

    def handle_notification(self, notification: Notification) -> None:
        # the new session's notifications come on its own worker: handled on the
        # transferred session's, which owns this handler's state and notifications
        name, data, sender = notification.name, notification.data, notification.sender
        self.session._submit(lambda: self._new_session_event(name, data, sender))

    def _new_session_event(self, name: str, data: Any, sender: Any) -> None:
        if name == "SIPSessionGotProvisionalResponse":
            self._report(data.code, data.reason, final=False)
        elif name == "SIPSessionDidStart":
            NotificationCenter().discard_observer(self, sender=sender)
            self._report(200, "OK", final=True)
            self.session._post("SIPSessionTransferDidEnd")
            self.session.end()
        elif name == "SIPSessionDidFail":
            NotificationCenter().discard_observer(self, sender=sender)
            code = data.code if data.code and data.code >= 300 else 500
            self._report(code, data.reason or data.failure_reason, final=True)
            self.session._post("SIPSessionTransferDidFail", code=code,
                               reason=data.reason or data.failure_reason)

    def _report(self, code: int, reason: str | None, final: bool) -> None:
        data = self._incoming
        if data is None:
            return
        if final:
            self._incoming = None
        self._call("transfer_progress", transfer_id=data.transfer_id, code=code,
                   reason=(reason or "")[:80] or None)

    def _call(self, method: str, **params: Any) -> bool:
        try:
            get_bus().call("signalling", method, timeout=BUS_TIMEOUT,
                           session_id=self.session._sid, **params)
        except BusError as exc:
            log.warning("%r: signalling %s failed: %s", self.session, method, exc)
            return False
        return True

    def session_ended(self) -> None:
        """The session ended: a transfer we got and never answered is refused."""
        data, self._incoming = self._incoming, None
        if data is not None and self._new_session is None:
            self._call("reject_transfer", transfer_id=data.transfer_id, code=487)
