"""MSRPStreamBase: an MSRP m-line whose session the msrp service runs.

The stream writes and reads the SDP (`sdp`); the service owns the TCP
connection and the MSRP session (`docs/msrp.md`). `initialize` makes the
service session (its path goes in our m-line), `start` gives it the peer's
path and who connects, and ``msrp.session_started`` becomes
MediaStreamDidStart. Subclasses set `media_type`, `accept_types` and
`accept_wrapped_types`, provide `new_from_sdp`, and get the peer's messages
in `_message_received`.

Threads: the Session calls in on its worker; msrp events arrive on the bus
thread, where no blocking bus call may be made.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from typing import Any, ClassVar

from sipsimple.bus.client import BusError, BusFuture, ServiceUnavailable, get_bus
from sipsimple.core.sdp import FrozenSDPSession, SDPMediaStream, SDPNegotiationError
from sipsimple.notification import NotificationCenter, NotificationData
from sipsimple.streams.interface import IMediaStream, InvalidStreamError, UnknownStreamError
from sipsimple.streams.msrp.events import msrp_events
from sipsimple.streams.msrp.relays import relays
from sipsimple.streams.msrp.sdp import (
    MSRPMedia,
    answer_setup,
    build_media,
    is_active,
    read_media,
)
from sipsimple.streams.registry import MediaStreamRegistrar

__all__ = ["ChatStreamError", "MSRPStreamBase", "MSRPStreamError", "msrp_call",
           "msrp_call_async"]

log = logging.getLogger(__name__)

MSRP_TIMEOUT = 5.0  # seconds for one msrp service call
# create_session with a relay connects and AUTHs first (each step has 30 s in the service)
RELAY_TIMEOUT = 65.0
# at most this long for the service's session_ended once a stream ends (a
# restarted service knows the session no more and sends none)
END_EVENTS_TIMEOUT = 2.0


class MSRPStreamError(RuntimeError):
    """An msrp service call failed, or the stream cannot do this in its state."""


class ChatStreamError(MSRPStreamError):
    """A message the stream cannot send as asked (e.g. CPIM-only fields without CPIM).

    Defined here so that ChatStream's parts (`chat`, `chatroom`) share it;
    `sipsimple.streams.msrp.chat` exports it."""


def msrp_call(method: str, timeout: float = MSRP_TIMEOUT, **params: Any) -> Any:
    try:
        return get_bus().call("msrp", method, timeout=timeout, **params)
    except (BusError, ValueError) as exc:  # ValueError: what the bus cannot carry
        raise MSRPStreamError(f"msrp service: {method} failed: {exc}") from exc


def msrp_call_async(method: str, owner: object, **params: Any) -> None:
    """A call that does not wait (safe on the bus thread, where events arrive); its
    failure is logged. MSRPStreamError when it cannot even be sent."""
    try:
        future = get_bus().call_async("msrp", method, params, timeout=MSRP_TIMEOUT)
    except (BusError, ValueError) as exc:
        raise MSRPStreamError(f"msrp service: {method} failed: {exc}") from exc

    def done(result: BusFuture) -> None:
        error = result.exception()
        if error is not None:
            log.info("%r: msrp service: %s failed: %s", owner, method, error)

    future.add_done_callback(done)


class MSRPStreamBase(IMediaStream, metaclass=MediaStreamRegistrar):
    media_type: ClassVar[str] = "message"
    accept_types: ClassVar[list[str]] = ["*"]
    accept_wrapped_types: ClassVar[list[str]] = []
    use_msrp_session: ClassVar[bool] = True  # the original SDK's switch; always a session here

    def __init__(self, account: Any, direction: str = "sendrecv") -> None:
        self.account = account
        self.direction = direction  # the SDP direction (the original SDK's meaning)
        self.session = None
        self.session_direction: str | None = None  # "incoming" / "outgoing" (initialize)
        self.local_path: str | None = None
        self.remote_media: MSRPMedia | None = None  # the peer's m-line once known
        self.active: bool | None = None  # whether we connect
        self.msrp_session_id: str | None = None
        self._lock = threading.RLock()
        self._state = "new"  # new, initializing, initialized, starting, started, ended
        self._deactivated = False
        self._service_ended = threading.Event()  # the msrp service's session_ended seen
        self._address: str | None = None
        self._port: int | None = None
        self.tls = False  # whether our path is msrps (TCP/TLS/MSRP), from initialize
        self._remote_offer: MSRPMedia | None = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.msrp_session_id or 'new'} {self._state}>"

    @property
    def state(self) -> str:
        return self._state

    # --- IMediaStream ---------------------------------------------------------------

    @classmethod
    def _read_offer(cls, remote_sdp: FrozenSDPSession, stream_index: int) -> MSRPMedia:
        """The offered m-line if it is this class's media type over MSRP (else Unknown)."""
        media = remote_sdp.media[stream_index]
        if media.media != cls.media_type or \
                str(media.transport).upper() not in ("TCP/MSRP", "TCP/TLS/MSRP"):
            raise UnknownStreamError(f"m-line {stream_index} is not {cls.media_type} over MSRP")
        try:
            offer = read_media(media, remote_sdp.media_direction(stream_index))
        except SDPNegotiationError as exc:
            raise InvalidStreamError(str(exc)) from None
        return offer

    def initialize(self, session: Any, direction: str) -> None:
        with self._lock:
            if self._state != "new":
                raise MSRPStreamError(f"{self!r} was initialized already")
            self._state = "initializing"
        self.session, self.session_direction = session, direction
        hook = getattr(session, "local_media_address", None)
        address = str(hook()) if callable(hook) else "127.0.0.1"
        relay = self._relay()
        discovered = relay is None and self._wants_relay()
        if discovered:
            relay = self._discovered_relay()
        try:
            try:
                reply = self._create_session(address, relay)
            except MSRPStreamError as exc:
                if not discovered or relay is None:
                    raise
                # A relay that DNS named but that fails us (nothing listens on the
                # domain's 2855, it does not know our credentials): go direct.
                relays.unusable(self.account.domain, self._relay_transport(), str(exc))
                reply = self._create_session(address, None)
        except MSRPStreamError as exc:
            self._state = "ended"
            self._post("MediaStreamDidFail", reason=str(exc))
            return
        with self._lock:
            self.msrp_session_id = str(reply["session_id"])
            self.local_path = str(reply["path"])
            self._address, self._port = str(reply["address"]), int(reply["port"])
            self.tls = bool(reply.get("tls", False))
            self._state = "initialized"
        msrp_events.register(self.msrp_session_id, self)
        self._post("MediaStreamDidInitialize")

    def _create_session(self, address: str, relay: dict[str, str] | None) -> Any:
        if relay is None:
            return msrp_call("create_session", address=address, tls=self._wants_tls())
        return msrp_call("create_session", RELAY_TIMEOUT, address=address,
                         tls=self._wants_tls(), relay=relay)

    def _wants_tls(self) -> bool | None:
        """The service's ``tls``: an answer takes the offer's transport; an offer follows
        the account's ``msrp.transport``: ``tls`` (the default) is msrps when the service
        has a certificate (None: the service decides), ``tcp`` is msrp."""
        if self._remote_offer is not None:
            return self._remote_offer.tls
        settings = getattr(self.account, "msrp", None)
        transport = str(getattr(settings, "transport", "tls") or "tls").lower()
        return None if transport == "tls" else False

    def _wants_relay(self) -> bool:
        """Whether this stream goes through an RFC 4976 relay, as the original SDK chose:
        ``msrp.connection_model`` relay, and either incoming with an offer that does not
        leave us the connection (``a=setup`` active or none), or outgoing with
        ``nat_traversal.use_msrp_relay_for_outbound``."""
        msrp = getattr(self.account, "msrp", None)
        nat = getattr(self.account, "nat_traversal", None)
        if msrp is None or nat is None or str(msrp.connection_model) != "relay":
            return False
        if self._remote_offer is not None:
            return self._remote_offer.setup not in ("actpass", "passive")  # else we connect
        return bool(nat.use_msrp_relay_for_outbound)

    def _relay(self) -> dict[str, str] | None:
        """The configured relay (``nat_traversal.msrp_relay``) when the stream wants one
        (`_wants_relay`), with the account's SIP credentials; without the setting the
        relay is looked up in DNS (`_discovered_relay`)."""
        if not self._wants_relay():
            return None
        relay = self.account.nat_traversal.msrp_relay
        if relay is None:
            return None
        scheme = "msrps" if relay.transport == "tls" else "msrp"
        host = f"[{relay.host}]" if ":" in relay.host else relay.host
        return self._relay_params(f"{scheme}://{host}:{relay.port or 2855};tcp")

    def _relay_transport(self) -> str:
        """The relay's transport, the session's: tcp when it is plain MSRP, else tls."""
        return "tcp" if self._wants_tls() is False else "tls"

    def _discovered_relay(self) -> dict[str, str] | None:
        """The relay of the account's domain in DNS (`relays`), or None: direct."""
        domain = getattr(self.account, "domain", None)
        if not domain:
            return None
        route = relays.find(str(domain), self._relay_transport())
        if route is None:
            return None
        host = f"[{route.address}]" if ":" in route.address else route.address
        scheme = "msrps" if route.transport == "tls" else "msrp"
        params = self._relay_params(f"{scheme}://{host}:{route.port};tcp")
        if route.transport == "tls" and route.tls_name:
            params["tls_name"] = route.tls_name  # the domain the certificate must name
        return params

    def _relay_params(self, uri: str) -> dict[str, str]:
        credentials = self.account.credentials
        return {"uri": uri, "username": credentials.username, "password": credentials.password}

    def get_local_media(self, for_offer: bool) -> SDPMediaStream:
        if self._address is None or self._port is None or self.local_path is None:
            raise MSRPStreamError(f"{self!r} is not initialized")
        if self.active is not None:  # a later offer/answer: the connection stays as it is
            setup = "active" if self.active else "passive"
        elif for_offer or self._remote_offer is None:
            setup = "active"
        else:
            setup = answer_setup(self._remote_offer.setup)
        return build_media(self.media_type, self._address, self._port, self.local_path.split(),
                           self.accept_types, self.accept_wrapped_types, setup, self.direction,
                           tls=self.tls)

    def start(self, local_sdp: FrozenSDPSession, remote_sdp: FrozenSDPSession,
              stream_index: int) -> None:
        if self._state != "initialized" or self.msrp_session_id is None:
            self._post("MediaStreamDidFail", reason=f"cannot start in state {self._state}")
            return
        try:
            remote = read_media(remote_sdp.media[stream_index],
                                remote_sdp.media_direction(stream_index))
        except SDPNegotiationError as exc:
            self._post("MediaStreamDidFail", reason=f"SDP negotiation failed: {exc}")
            return
        local_setup = local_sdp.media[stream_index].attributes.getfirst("setup")
        offerer = self._remote_offer is None
        self.active = is_active(local_setup, remote.setup, offerer)
        self.remote_media = remote
        with self._lock:
            self._state = "starting"
        try:
            msrp_call("start_session", session_id=self.msrp_session_id,
                      remote_path=list(remote.path), active=self.active,
                      accept_types=list(self.accept_types))
        except MSRPStreamError as exc:  # end() still ends the service session
            self._post("MediaStreamDidFail", reason=str(exc))
            return
        self._session_ready()

    def _session_ready(self) -> None:
        """The service session has the peer's path: what we send now waits for the connection."""

    def validate_update(self, remote_sdp: FrozenSDPSession, stream_index: int) -> bool:
        # The path and the connection stay as they are (no re-negotiation of MSRP yet).
        return remote_sdp.media[stream_index].media == self.media_type

    def update(self, local_sdp: FrozenSDPSession, remote_sdp: FrozenSDPSession,
               stream_index: int) -> None:
        pass

    def deactivate(self) -> None:
        self._deactivated = True

    def end(self) -> None:
        with self._lock:
            if self._state in ("ended", "new"):
                self._state = "ended"
                return
            self._state = "ended"
            session_id = self.msrp_session_id
        self._post("MediaStreamWillEnd")
        if session_id is not None:
            answered = True
            try:
                msrp_call("end_session", session_id=session_id)
            except MSRPStreamError as exc:
                log.info("%r: %s", self, exc)
                answered = not isinstance(exc.__cause__, ServiceUnavailable)
            # The service's session_ended (published by end_session, or earlier if the
            # peer went first) follows every other event of the session: once it is
            # here, nothing of the session is still on its way (a file received just
            # before the peer's BYE, which came through another service).
            if answered and not self._service_ended.wait(END_EVENTS_TIMEOUT):
                log.info("%r: no session_ended from the msrp service", self)
            msrp_events.unregister(session_id)
        self._stream_ended()
        self._post("MediaStreamDidEnd")

    def _stream_ended(self) -> None:
        """The stream ended: what subclasses still wait for will not come."""

    # --- msrp events (bus thread) ---------------------------------------------------

    def _msrp_event(self, name: str, data: NotificationData) -> None:
        what = name.partition(".")[2]
        if what == "session_started":
            with self._lock:
                if self._state not in ("initialized", "starting"):
                    return
                self._state = "started"
            self._post("MediaStreamDidStart")
        elif what in ("session_failed", "session_ended"):
            self._service_ended.set()
            self._msrp_lost(str(getattr(data, "reason", what)))
        elif what == "message_received":
            body = getattr(data, "body", b"")
            content_type = getattr(data, "content_type", None)
            self._message_received(str(getattr(data, "message_id", "")),
                                   content_type if isinstance(content_type, str) else None,
                                   body if isinstance(body, bytes) else b"")
        elif what in ("nickname_received", "nickname_answered"):
            self._nickname_event(what, data)
        elif what in ("message_delivered", "message_failed"):
            code = getattr(data, "code", 0)
            self._message_outcome(str(getattr(data, "message_id", "")),
                                  what == "message_delivered",
                                  code if isinstance(code, int) else 0,
                                  str(getattr(data, "reason", "") or ""))

    def _msrp_lost(self, reason: str) -> None:
        if not self._deactivated and self._state in ("initialized", "starting", "started"):
            self._post("MediaStreamDidFail", reason=reason)

    def _message_received(self, message_id: str, content_type: str | None, body: bytes) -> None:
        """A whole message from the peer (bus thread)."""

    def _message_outcome(self, message_id: str, delivered: bool, code: int, reason: str) -> None:
        """What became of a message we sent (bus thread)."""

    def _nickname_event(self, what: str, data: NotificationData) -> None:
        """An RFC 7701 NICKNAME of the peer, or the answer to ours (bus thread)."""

    def _post(self, name: str, **data: Any) -> None:
        data.setdefault("timestamp", datetime.now())
        NotificationCenter().post_notification(name, self, NotificationData(**data))

    # subclasses decide which m-lines they take
    @classmethod
    def new_from_sdp(cls, account: Any, remote_sdp: FrozenSDPSession,
                     stream_index: int) -> IMediaStream | None:
        raise UnknownStreamError(f"{cls.__name__} takes no m-line")
