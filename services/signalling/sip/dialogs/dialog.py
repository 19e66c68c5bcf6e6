"""Dialogs (RFC 3261 section 12), as plain state with no I/O.

A `Dialog` holds what section 12 names: the id (Call-ID, local and remote
tag), the local and remote URIs, the remote target, the route set, the local
and remote CSeq numbers and the early/confirmed state. It builds requests
inside the dialog (12.2.1.1, including strict routing) and the ACK for a 2xx
(13.2.2.4), checks incoming CSeq numbers (12.2.2) and applies target
refreshes, the peer's and ours. It sends nothing: `InviteSession` decides
what to send, and the `DialogLayer` carries it out.

`route_request` is the 12.2.1.1 / 8.1.2 computation on its own: the
Request-URI, the Route headers and the URI of the next hop, for a remote
target and a route set. Initial requests with a preloaded route set use it too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from sipsimple.core import SIPURI, URI
from sipsimple.core.headers import (
    CallIDHeader,
    ContactHeader,
    CSeqHeader,
    FromHeader,
    Header,
    MaxForwardsHeader,
    RouteHeader,
    ToHeader,
    ViaHeader,
)
from sipsimple_services.signalling.sip.message.values import SIPRequest, SIPResponse

__all__ = [
    "Dialog",
    "DialogError",
    "DialogId",
    "DialogState",
    "RoutedRequest",
    "route_request",
]

# Headers a caller may not pass in: the dialog owns them.
RESERVED_HEADERS = frozenset(
    {"via", "from", "to", "call-id", "cseq", "route", "record-route", "contact",
     "max-forwards", "content-length"}
)


class DialogError(Exception):
    """A message that cannot create a dialog, or a request the dialog cannot build."""


@dataclass(frozen=True)
class DialogId:
    call_id: str
    local_tag: str
    remote_tag: str


class DialogState(StrEnum):
    EARLY = "early"
    CONFIRMED = "confirmed"


@dataclass(frozen=True)
class RoutedRequest:
    uri: URI
    routes: tuple[RouteHeader, ...]
    next_hop: URI


def _request_uri_from(route: RouteHeader) -> URI:
    # 12.2.1.1: parameters not allowed in a Request-URI go; of a SIP URI those
    # are its headers (method is only meaningful in Refer-To style URIs).
    uri = route.uri
    if isinstance(uri, SIPURI):
        params = {k: v for k, v in uri.parameters.items() if k.lower() != "method"}
        return replace(uri, headers={}, parameters=params)
    return uri


def is_loose(route: RouteHeader) -> bool:
    uri = route.uri
    return isinstance(uri, SIPURI) and any(k.lower() == "lr" for k in uri.parameters)


def route_request(remote_target: URI, route_set: Sequence[RouteHeader]) -> RoutedRequest:
    """Request-URI, Route headers and next hop for a route set (12.2.1.1, 8.1.2)."""
    routes = tuple(route_set)
    if not routes:
        return RoutedRequest(remote_target, (), remote_target)
    if is_loose(routes[0]):
        return RoutedRequest(remote_target, routes, routes[0].uri)
    # Strict router: it gets the Request-URI, the remote target goes last.
    uri = _request_uri_from(routes[0])
    return RoutedRequest(uri, (*routes[1:], RouteHeader(remote_target)), uri)


def _contact_uri(message: SIPRequest | SIPResponse) -> URI | None:
    for contact in message.contact:
        if contact.uri is not None:
            return contact.uri
    return None


def _local_from(to: ToHeader, tag: str) -> FromHeader:
    return FromHeader(to.uri, to.display_name, to.parameters).with_tag(tag)


def _remote_to(from_: FromHeader) -> ToHeader:
    return ToHeader(from_.uri, from_.display_name, from_.parameters)


class Dialog:
    """One dialog. Mutable: CSeq numbers, the remote target and the state change."""

    def __init__(
        self,
        id: DialogId,
        *,
        local: FromHeader,
        remote: ToHeader,
        remote_target: URI,
        route_set: Sequence[RouteHeader],
        local_cseq: int,
        remote_cseq: int | None,
        local_contact: ContactHeader,
        is_uac: bool,
        state: DialogState = DialogState.EARLY,
        secure: bool = False,
    ) -> None:
        self.id = id
        self.local = local
        self.remote = remote
        self.remote_target = remote_target
        self.route_set = tuple(route_set)
        self.local_cseq = local_cseq
        self.remote_cseq = remote_cseq
        self.local_contact = local_contact
        self.is_uac = is_uac
        self.state = state
        self.secure = secure

    def __repr__(self) -> str:
        return f"<Dialog {self.id} {self.state}>"

    # -- creation (12.1) -------------------------------------------------

    @classmethod
    def uac(cls, request: SIPRequest, response: SIPResponse) -> Dialog:
        """The UAC's dialog from a 1xx (with To tag: early) or 2xx (confirmed) (12.1.2)."""
        from_, to, call_id, cseq = request.from_, response.to, request.call_id, request.cseq
        if from_ is None or from_.tag is None or to is None or to.tag is None:
            raise DialogError("a dialog needs a From tag and a To tag")
        if call_id is None or cseq is None:
            raise DialogError("a dialog needs Call-ID and CSeq")
        target = _contact_uri(response)
        if target is None:
            if response.code >= 200:
                raise DialogError("a 2xx creating a dialog needs a Contact")
            target = request.uri  # an early dialog may lack one; refreshed later
        contact = request.contact[0] if request.contact else ContactHeader(from_.uri)
        routes = tuple(RouteHeader(r.uri, r.display_name, r.parameters)
                       for r in reversed(response.record_route))
        return cls(
            DialogId(call_id, from_.tag, to.tag),
            local=from_, remote=to, remote_target=target, route_set=routes,
            local_cseq=cseq.number, remote_cseq=None, local_contact=contact, is_uac=True,
            state=DialogState.CONFIRMED if response.code >= 200 else DialogState.EARLY,
            secure=isinstance(request.uri, SIPURI) and request.uri.secure,
        )

    @classmethod
    def uas(
        cls, request: SIPRequest, local_tag: str, local_contact: ContactHeader, local_cseq: int
    ) -> Dialog:
        """The UAS's dialog for a request, created early (its 1xx/2xx carry ``local_tag``)."""
        from_, to, call_id, cseq = request.from_, request.to, request.call_id, request.cseq
        if from_ is None or from_.tag is None or to is None:
            raise DialogError("a dialog needs a From tag")
        if call_id is None or cseq is None:
            raise DialogError("a dialog needs Call-ID and CSeq")
        target = _contact_uri(request)
        if target is None:
            raise DialogError("a request creating a dialog needs a Contact")
        routes = tuple(RouteHeader(r.uri, r.display_name, r.parameters)
                       for r in request.record_route)
        return cls(
            DialogId(call_id, local_tag, from_.tag),
            local=_local_from(to, local_tag), remote=_remote_to(from_), remote_target=target,
            route_set=routes, local_cseq=local_cseq, remote_cseq=cseq.number,
            local_contact=local_contact, is_uac=False,
            secure=isinstance(request.uri, SIPURI) and request.uri.secure,
        )

    # -- updates -----------------------------------------------------------

    def confirm(self, response: SIPResponse) -> None:
        """A 2xx for the UAC's early dialog: confirmed, route set recomputed (13.2.2.4)."""
        if self.is_uac:
            self.route_set = tuple(RouteHeader(r.uri, r.display_name, r.parameters)
                                   for r in reversed(response.record_route))
            self.refresh_target(response)
        self.state = DialogState.CONFIRMED

    def refresh_target(self, message: SIPRequest | SIPResponse) -> None:
        """A target refresh (re-INVITE/UPDATE, or their 2xx): the Contact is the new target."""
        target = _contact_uri(message)
        if target is not None:
            self.remote_target = target

    def refresh_local_target(self, contact: ContactHeader) -> None:
        """Our own target refresh (a re-INVITE we send, the 2xx to the peer's): the
        Contact of our later requests and responses in the dialog (12.2.1.1, 12.2.2)."""
        self.local_contact = contact

    def check_remote_cseq(self, request: SIPRequest) -> bool:
        """12.2.2: False (answer 500) for an out-of-order request; else record its CSeq.

        ACK and CANCEL carry the CSeq of the request they belong to and are
        not checked.
        """
        cseq = request.cseq
        if cseq is None:
            return False
        if request.method in ("ACK", "CANCEL"):
            return True
        if self.remote_cseq is not None and cseq.number < self.remote_cseq:
            return False
        self.remote_cseq = cseq.number
        return True

    def next_cseq(self) -> int:
        self.local_cseq += 1
        return self.local_cseq

    # -- building requests (12.2.1.1) ---------------------------------------

    def route(self) -> RoutedRequest:
        return route_request(self.remote_target, self.route_set)

    def build_request(
        self,
        method: str,
        via: ViaHeader,
        headers: Sequence[Header] = (),
        body: bytes = b"",
        *,
        cseq: int | None = None,
    ) -> tuple[SIPRequest, URI]:
        """A request in this dialog and the URI of its next hop.

        ``cseq`` None takes the next local number; the ACK for a 2xx passes
        the INVITE's. The caller gives the Via (its branch is set by whoever
        sends); Contact is added for the target refresh requests.
        """
        for header in headers:
            if header.name.lower() in RESERVED_HEADERS:
                raise DialogError(f"{header.name} is set by the dialog")
        routed = self.route()
        number = self.next_cseq() if cseq is None else cseq
        own: list[Header] = [
            via,
            MaxForwardsHeader(70),
            *routed.routes,
            self.local,
            self.remote,
            CallIDHeader(self.id.call_id),
            CSeqHeader(number, method),
        ]
        if method in ("INVITE", "UPDATE", "SUBSCRIBE", "NOTIFY", "REFER"):
            own.append(self.local_contact)
        return SIPRequest(method, routed.uri, (*own, *headers), body), routed.next_hop

    def build_ack(
        self,
        invite_cseq: int,
        via: ViaHeader,
        headers: Sequence[Header] = (),
        body: bytes = b"",
    ) -> tuple[SIPRequest, URI]:
        """The ACK for a 2xx (13.2.2.4): the INVITE's CSeq number, method ACK."""
        return self.build_request("ACK", via, headers, body, cseq=invite_cseq)

    def matches(self, message: SIPRequest | SIPResponse, *, incoming_request: bool) -> bool:
        """Whether a message's Call-ID and tags name this dialog."""
        from_, to = message.from_, message.to
        if from_ is None or to is None or message.call_id != self.id.call_id:
            return False
        local, remote = (to.tag, from_.tag) if incoming_request else (from_.tag, to.tag)
        return local == self.id.local_tag and remote == self.id.remote_tag
