"""Via processing at the transport layer, as pure functions.

`stamp_received` is what a server does to an arriving request (RFC 3261
18.2.1, RFC 3581 section 4); `response_destination` is where a response goes
when no connection carries it (RFC 3261 18.2.2, RFC 3581 section 4).
"""

from __future__ import annotations

import ipaddress
from dataclasses import replace

from sipsimple.core import SIPParseError
from sipsimple.core.headers import ViaHeader
from sipsimple_services.signalling.sip.message.values import SIPRequest, SIPResponse
from sipsimple_services.signalling.transport.types import DEFAULT_PORTS, TransportAddress

__all__ = ["response_destination", "same_ip", "stamp_received"]


def same_ip(a: str, b: str) -> bool:
    """Whether two host strings are the same IP address (textual forms may differ)."""
    try:
        return ipaddress.ip_address(a.strip("[]")) == ipaddress.ip_address(b.strip("[]"))
    except ValueError:
        return False


def _received_value(host: str) -> str:
    """The IP as ``received`` carries it: IPv4-mapped sources as IPv4, IPv6 in brackets.

    RFC 3261's grammar has IPv6 bare, but a bare address is no token and our
    own parser (like others) reads only the bracketed reference.
    """
    address = ipaddress.ip_address(host.strip("[]"))
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is None:
            return f"[{address}]"
        address = address.ipv4_mapped
    return str(address)


def stamp_received(request: SIPRequest, source: TransportAddress) -> SIPRequest:
    """The request with ``received``/``rport`` set on its top Via.

    ``received`` is added when the sent-by host is not the source IP (a name,
    or another address); with ``rport`` present, ``received`` is always set
    and ``rport`` takes the source port. Returns `request` itself when
    nothing changes.
    """
    vias = [i for i, header in enumerate(request.headers) if isinstance(header, ViaHeader)]
    if not vias:
        return request
    index = vias[0]
    via = request.headers[index]
    assert isinstance(via, ViaHeader)
    ip = _received_value(source.host)
    changes: dict[str, object] = {}
    if via.has_rport:
        changes["rport"] = source.port
        changes["received"] = ip
    elif not same_ip(via.host, ip):
        changes["received"] = ip
    if not changes:
        return request
    headers = list(request.headers)
    headers[index] = via.with_parameters(**changes)
    return replace(request, headers=tuple(headers))


def response_destination(response: SIPResponse) -> TransportAddress:
    """Where a response goes without its request's connection (RFC 3261 18.2.2).

    Reliable: ``received`` (else the sent-by host) at the sent-by port.
    Unreliable: ``maddr`` if present; else ``received`` with ``rport`` when it
    has a value, else the sent-by port; else the sent-by itself. The host may
    be a name, left to the caller to resolve (RFC 3263 section 5).
    """
    via = response.top_via
    if via is None:
        raise SIPParseError("a response needs a Via to be sent")
    transport = via.transport
    default = DEFAULT_PORTS.get(transport, 5060)
    port = via.port or default
    if transport in ("TCP", "TLS", "SCTP", "TLS-SCTP", "WS", "WSS"):
        return TransportAddress(via.received or via.host, port, transport)
    if via.maddr is not None:
        return TransportAddress(via.maddr, port, transport)
    if via.received is not None:
        return TransportAddress(via.received, via.rport or port, transport)
    return TransportAddress(via.host, port, transport)
