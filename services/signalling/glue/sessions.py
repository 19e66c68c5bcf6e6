"""`SessionGlue`: the sans-IO `DialogLayer` plugged into the engine and the bus.

The dialog layer shares the engine's `TransactionLayer` (one set of
transactions, one branch space), so the engine's TU events reach it through
the UA core's dialog seam (`handle`), and the effects it returns are carried
out here:

- `Send` and transaction timers go to the engine (`SignallingEngine.execute`),
  which feeds transport errors back to the transaction layer as usual;
- session timers (keys ``("session", id)``) run on a `TimerWheel` of our own
  and go back to `DialogLayer.timer_fired`;
- session events are handed to ``publish`` (the service turns them into bus
  events, see `session_bus`);
- any other TU event goes back to the engine, whose TU (the UA core) then
  gives its usual fallback answer.

Every session belongs to one bus client (the one that called `connect`, or
the one that claimed the account an INVITE was for); ``on_owned`` and
``on_finished`` let the service track that, so that a client that goes away
gets its sessions ended (`end`: CANCEL, BYE or 480 as the state needs).

Next hops of in-dialog requests are resolved synchronously: IP literals as
they stand, a host name with a (gevent-cooperative) getaddrinfo. RFC 3263
NAPTR/SRV is the dns service's and is left for later; the initial INVITE
always goes to the route the client gives.

Registrations, subscriptions and the transfers we start plug into the same
seam (`owned_layers`): what the DialogLayer passes on is offered to them, and
an event nobody takes is returned as not handled.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import replace

import gevent.socket

from sipsimple.core import SIPURI, URI
from sipsimple.core.headers import (
    ContactHeader,
    ContentTypeHeader,
    FromHeader,
    Header,
    ReasonHeader,
    ToHeader,
    ViaHeader,
)
from sipsimple_services.signalling.glue.engine import SignallingEngine
from sipsimple_services.signalling.glue.timer_wheel import TimerWheel
from sipsimple_services.signalling.glue.usages import LAYER_TIMERS, OwnedEvent, OwnedLayers
from sipsimple_services.signalling.sip.auth import Credentials, RealmBook
from sipsimple_services.signalling.sip.dialogs.dialog import route_request
from sipsimple_services.signalling.sip.invite.context import default_resolve
from sipsimple_services.signalling.sip.invite.events import (
    IncomingInvite,
    InDialogRequest,
    InDialogResponse,
    SessionEvent,
    SessionStateChanged,
)
from sipsimple_services.signalling.sip.invite.layer import DialogLayer
from sipsimple_services.signalling.sip.invite.states import State
from sipsimple_services.signalling.sip.message.addresses import Destination
from sipsimple_services.signalling.sip.refer.agent import IncomingRefer
from sipsimple_services.signalling.sip.transactions.effects import (
    CancelTimer,
    Effect,
    RequestReceived,
    Send,
    StartTimer,
    TUEvent,
)
from sipsimple_services.signalling.sip.ua.accounts import Claim

__all__ = ["SessionGlue", "content_type_headers", "resolve_next_hop"]

log = logging.getLogger("sipsimple_services.signalling.glue.sessions")

SESSION_TIMERS = "session"


def resolve_next_hop(uri: URI) -> Destination:
    """A URI's destination; a host name becomes its first address (ValueError if none)."""
    destination = default_resolve(uri)
    try:
        ipaddress.ip_address(destination.host)
        return destination
    except ValueError:
        pass
    try:
        infos = gevent.socket.getaddrinfo(destination.host, destination.port)
    except OSError as exc:
        raise ValueError(f"cannot resolve {destination.host}: {exc}") from None
    if not infos:
        raise ValueError(f"{destination.host} has no address")
    return Destination(str(infos[0][4][0]), destination.port, destination.transport)


class SessionGlue:
    def __init__(
        self,
        engine: SignallingEngine,
        *,
        publish: Callable[[SessionEvent, str | None], None],
        user_agent: str | None = None,
        on_owned: Callable[[str, str], None] = lambda client, sid: None,
        on_finished: Callable[[str, str], None] = lambda client, sid: None,
        resolve: Callable[[URI], Destination] = resolve_next_hop,
        publish_owned: Callable[[OwnedEvent, str | None], None] = lambda event, client: None,
        on_layer_owned: Callable[[str, str], None] = lambda client, oid: None,
        on_layer_finished: Callable[[str, str], None] = lambda client, oid: None,
    ) -> None:
        """``publish(event, client)`` gets every session event with the owning client,
        ``publish_owned`` every registration, subscription and transfer event."""
        self.engine = engine
        self.publish = publish
        self.publish_owned = publish_owned
        self.on_owned = on_owned
        self.on_finished = on_finished
        self.wheel = TimerWheel(self._timer_fired)
        self.owned = OwnedLayers(engine.layer, local_via=self.via, resolve=resolve,
                                 on_owned=on_layer_owned, on_finished=on_layer_finished)
        self.layer = DialogLayer(
            engine.layer, local_via=self.via, local_contact=ContactHeader(SIPURI("0.0.0.0")),
            resolve=resolve, user_agent=user_agent,
            foreign_dialog=self.owned.subscriptions.owns,
        )
        self.owned.attach(self.layer)
        self.realm_book = RealmBook()  # the realms each account's credentials answer
        self.owners: dict[str, str] = {}  # session id -> client
        self.transports: dict[str, str] = {}  # session id -> "udp", "tcp", "tls"
        self.claimed: dict[str, str] = {}  # incoming session id -> the AOR it was given to

    # -- addresses ------------------------------------------------------------------

    def via(self, destination: Destination) -> ViaHeader:
        host, port = self.engine.via_address(destination)
        return ViaHeader(destination.transport, host, port, {"rport": None})

    def contact(self, destination: Destination, user: str | None,
                params: Mapping[str, str | None] | None = None) -> ContactHeader:
        """Our Contact for `destination`; ``params`` are the header's (``isfocus``)."""
        host, port = self.engine.via_address(destination)
        transport = destination.transport
        uri_params = {} if transport == "UDP" else {"transport": transport.lower()}
        uri = SIPURI(host, user=user or None, port=port, parameters=uri_params)
        return ContactHeader(uri, parameters=params or {})

    def refreshed_contact(self, sid: str) -> ContactHeader | None:
        """Our Contact for a target refresh in session `sid`'s dialog (a re-INVITE, the
        2xx to the peer's): the dialog's, on the address and port the kernel picks now
        towards the dialog's next hop (for that 2xx, the next hop of the target the
        peer's re-INVITE gives; user and parameters kept). The dialog's own
        Contact (the same object: nothing changes on the wire) while that address is
        the one it has; None without a dialog. UnknownSession for an unknown id.

        After the host's address changed mid-call (`NetworkConditionsDidChange`, the
        facade's re-INVITE moving the media), the peer's later requests in the dialog
        (BYE, re-INVITE, INFO) thus come to the new address. A next hop that does not
        resolve keeps the old Contact: the request then fails on that, as before.
        """
        session = self.layer.session(sid)
        dialog = session.dialog
        if dialog is None:
            return None
        own = dialog.local_contact
        uri = own.uri
        if not isinstance(uri, SIPURI):
            return own
        target = dialog.remote_target
        offer = session.server_invite
        if session.state is State.REINVITE_RECEIVED and offer is not None and offer.contact:
            target = offer.contact[0].uri or target  # our 200 refreshes theirs first
        try:
            destination = self.layer.ctx.resolve(route_request(target, dialog.route_set).next_hop)
        except ValueError:
            return own
        host, port = self.engine.via_address(destination)
        if (host, port) == (uri.host, uri.port):
            return own
        return replace(own, uri=replace(uri, host=host, port=port))

    # -- the dialog seam (ua_core.DialogLayer) ----------------------------------------

    def handle(self, event: TUEvent, engine: SignallingEngine, claim: Claim | None) -> bool:
        if isinstance(event, RequestReceived) and event.request.method == "INVITE":
            request = event.request
            if request.to is not None and request.to.tag is None:
                # the Contact of the new dialog: reachable over the transport it came on
                user = request.uri.user if isinstance(request.uri, SIPURI) else None
                self.layer.local_contact = self.contact(event.source, user)
        now = time.monotonic()
        effects = self.layer.dispatch(event, now)
        if len(effects) == 1 and effects[0] is event:
            taken = self.owned.take(event, now)
            if taken is None:
                return False
            effects = taken
        self.apply(effects, claim)
        return True

    # -- carrying out -------------------------------------------------------------------

    def apply(self, effects: Sequence[Effect], claim: Claim | None = None) -> None:
        # Messages leave before events are published: the peer is not kept waiting
        # (an ACK, a 200) for the bus, and no event handler depends on them.
        sends: list[Effect] = [effect for effect in effects if isinstance(effect, Send)]
        if sends:
            self.engine.execute(sends)
        for effect in effects:
            # the owner first: the new session's state change comes before its IncomingInvite
            if isinstance(effect, IncomingInvite) and claim is not None:
                self._adopt(effect, claim)
        for effect in effects:
            if isinstance(effect, StartTimer | CancelTimer) and _is_glue_key(effect.key):
                if isinstance(effect, StartTimer):
                    self.wheel.start(effect.key, effect.name, effect.delay)
                else:
                    self.wheel.cancel(effect.key, effect.name)
            elif isinstance(effect, InDialogRequest | InDialogResponse):
                taken = self.owned.take_in_dialog(effect, time.monotonic())
                if taken is None:
                    self._session_event(effect, claim)
                else:
                    self.apply(taken)
            elif isinstance(effect, SessionEvent):
                self._session_event(effect, claim)
            elif isinstance(effect, IncomingRefer):
                # a REFER in a session: the session's client answers it
                self.apply(self.owned.deliver(
                    effect, self.owners.get(effect.session), self._publish_owned,
                    time.monotonic()))
            elif isinstance(effect, OwnedEvent):
                self.apply(self.owned.deliver(
                    effect, claim.client if claim is not None else None,
                    self._publish_owned, time.monotonic()))
            elif isinstance(effect, Send):
                continue  # sent above
            elif isinstance(effect, StartTimer | CancelTimer | TUEvent):
                self.engine.execute([effect])
            else:
                log.warning("unknown effect %r", effect)
        # The owner is forgotten only after the whole batch: the events that follow a
        # session's end in it (SessionEnded, the BYE's transaction) still name the client.
        for sid in [e.session for e in effects
                    if isinstance(e, SessionStateChanged) and e.new == "terminated"]:
            self.transports.pop(sid, None)
            self.claimed.pop(sid, None)
            owner = self.owners.pop(sid, None)
            if owner is not None:
                self.on_finished(owner, sid)

    def _session_event(self, event: SessionEvent, claim: Claim | None) -> None:
        sid = event.session
        if isinstance(event, IncomingInvite) and claim is None:
            # the UA core passes only claimed INVITEs; without an owner nobody would answer
            self.apply(self.layer.end(sid, time.monotonic()))
            return
        client = self.owners.get(sid)
        try:
            self.publish(event, client)
        except Exception:
            log.exception("publishing %s failed", type(event).__name__)
        if isinstance(event, SessionStateChanged) and event.new == "terminated":
            self.apply(self.owned.session_gone(sid))  # its transfers end with it

    def _adopt(self, event: IncomingInvite, claim: Claim) -> None:
        self.owners[event.session] = claim.client
        self.transports[event.session] = event.source.transport.lower()
        self.claimed[event.session] = claim.aor
        self.on_owned(claim.client, event.session)

    def _publish_owned(self, event: OwnedEvent, client: str | None) -> None:
        self.publish_owned(event, client)

    def _timer_fired(self, key: Hashable, name: str) -> None:
        assert isinstance(key, tuple)
        if key[0] in LAYER_TIMERS:
            self.apply(self.owned.timer_fired(key, name, time.monotonic()))
        else:
            self.apply(self.layer.timer_fired(key, name, time.monotonic()))

    # -- commands ---------------------------------------------------------------------

    def connect(
        self, client: str, from_uri: SIPURI, to_uri: SIPURI, destination: Destination, *,
        body: bytes = b"", content_type: str | None = None, headers: Sequence[Header] = (),
        credentials: Credentials | None = None, display_name: str | None = None,
        contact_user: str | None = None, contact_params: Mapping[str, str | None] | None = None,
    ) -> tuple[str, str]:
        """Send an INVITE for `client`; (session id, Call-ID). SessionError if refused."""
        call_id = os.urandom(12).hex()
        extra = [*headers, *content_type_headers(body, content_type)]
        sid, effects = self.layer.connect(
            ToHeader(to_uri), FromHeader(from_uri, display_name),
            self.contact(destination, contact_user or from_uri.user, contact_params),
            time.monotonic(),
            destination=destination, headers=extra, body=body, call_id=call_id,
            auth=self.realm_book.session(credentials, from_uri.user, from_uri.host),
        )
        self.owners[sid] = client
        self.transports[sid] = destination.transport.lower()
        self.on_owned(client, sid)
        self.apply(effects)
        return sid, call_id

    def run(self, sid: str, command: Callable[[DialogLayer, float], list[Effect]]) -> None:
        """Run a per-session call of the layer and carry out its effects."""
        self.apply(command(self.layer, time.monotonic()))

    def end(self, sid: str, code: int | None = None, text: str | None = None) -> None:
        reason = ReasonHeader.new("SIP", code, text) if code is not None or text else None
        # a transfer we were asked for gets its final NOTIFY while the dialog still takes one
        self.apply(self.owned.ending_session(sid, time.monotonic()))
        self.run(sid, lambda layer, now: layer.end(sid, now, reason))

    def owner(self, sid: str) -> str | None:
        return self.owners.get(sid)

    def stop(self) -> None:
        self.wheel.cancel_all()


def _is_glue_key(key: object) -> bool:
    """Timers of sessions, registrations and subscriptions run on the glue's wheel."""
    return isinstance(key, tuple) and len(key) == 2 and (
        key[0] == SESSION_TIMERS or key[0] in LAYER_TIMERS)


def content_type_headers(body: bytes, content_type: str | None) -> list[Header]:
    """The Content-Type of a body (SDP unless told otherwise); none without a body."""
    if not body:
        return []
    return [ContentTypeHeader.parse(content_type or "application/sdp")]
