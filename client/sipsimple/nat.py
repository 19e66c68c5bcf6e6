"""The NAT in front of us, as a STUN probe sees it: `probe_nat` and `SIPApplication.local_nat_type`.

The probe runs in the media service (`nat_probe`: it owns the RTP sockets and
their addresses); this module picks the STUN servers, resolves their names
through the DNS service, and keeps `SIPApplication.local_nat_type`:

- STUN servers: the account's ``nat_traversal.stun_server_list``, else the
  SRV records ``_stun._udp.<domain>`` of its domain (as the original SDK).
  A server with two addresses (RFC 5780: coturn with two listening IPs)
  gives the mapping and filtering behaviour; otherwise a second server of
  the list compares mappings (as RFC 3489 did), else only "NAT or not" is
  known (docs/nat.md).
- `NATDetector` (a SIPApplication component, after the accounts) probes for
  the default account at start and after each ``NetworkConditionsDidChange``
  (docs/nat.md), when it has STUN servers configured or ICE
  on (an application that uses neither asks no server), sets ``local_nat_type`` (the original SDK's
  names: "Open", "Full Cone", "Restricted", "Port Restricted", "Symmetric",
  "Symmetric UDP", "Blocked", "Unknown", and "Cone") and posts
  ``SIPEngineDetectedNATType`` (succeeded, nat_type, error) as the original
  SDK's engine did.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sipsimple.bus.client import BusError, get_bus
from sipsimple.core import SIPURI
from sipsimple.lookup import DNSLookup, DNSLookupError
from sipsimple.notification import Notification, NotificationCenter, NotificationData

__all__ = ["STUN_PORT", "NATDetector", "NATProbeError", "NATProbeResult", "probe_nat",
           "resolve_stun_server", "stun_servers_for"]

log = logging.getLogger(__name__)

STUN_PORT = 3478
PROBE_TIMEOUT = 60.0  # bus wait: a probe of silent tests takes about 15 s at most
LOOKUP_LIFETIME = 10.0

Address = tuple[str, int]


class NATProbeError(Exception):
    pass


@dataclass(frozen=True)
class NATProbeResult:
    local: Address  # the probe's socket
    server: Address
    mapped: Address | None  # None: no answer (UDP blocked, or the server is down)
    other_address: Address | None  # the server's OTHER-ADDRESS (RFC 5780)
    mapping: str  # "no NAT", "endpoint-independent", "address-dependent", ...
    filtering: str
    method: str  # "rfc5780", "rfc3489" (two servers compared) or "single"
    nat_type: str  # the original SDK's (RFC 3489) name
    error: str | None = None

    @classmethod
    def from_reply(cls, reply: dict[str, Any]) -> NATProbeResult:
        def address(value: Any) -> Address | None:
            return (str(value[0]), int(value[1])) if value else None

        local, server = address(reply["local"]), address(reply["server"])
        assert local is not None and server is not None
        return cls(local, server, address(reply.get("mapped")),
                   address(reply.get("other_address")), str(reply["mapping"]),
                   str(reply["filtering"]), str(reply["method"]), str(reply["nat_type"]),
                   reply.get("error"))


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def resolve_stun_server(host: str, port: int | None = None) -> list[Address]:
    """IP addresses for a STUN server given by name or address.

    An IP address is taken as it is. A name with a port is resolved to its
    addresses (A/AAAA, through the DNS service: an RFC 3263 lookup of
    ``sip:host:port;transport=udp`` asks exactly that); a name without one is
    a domain whose ``_stun._udp`` SRV records name the servers.
    """
    host = host.strip("[]")
    if _is_ip(host):
        return [(host, port or STUN_PORT)]
    dns = DNSLookup()
    try:
        if port is None:
            routes = dns.lookup_stun_server(SIPURI(host=host), lifetime=LOOKUP_LIFETIME).wait(
                LOOKUP_LIFETIME + 5)
        else:
            uri = SIPURI(host=host, port=port, parameters={"transport": "udp"})
            routes = dns.lookup_sip_proxy(uri, ["udp"], lifetime=LOOKUP_LIFETIME).wait(
                LOOKUP_LIFETIME + 5)
    except DNSLookupError as exc:
        raise NATProbeError(f"cannot resolve the STUN server {host}: {exc}") from None
    return [(route.address, route.port) for route in routes]


def stun_servers_for(account: Any) -> list[Address]:
    """The STUN servers of `account`: its stun_server_list, else its domain's SRV records."""
    configured = account.nat_traversal.stun_server_list
    servers: list[Address] = []
    if configured:
        for entry in configured:
            servers += resolve_stun_server(entry.host, entry.port)
    else:
        servers = resolve_stun_server(account.uri.host)
    return list(dict.fromkeys(servers))


def probe_nat(servers: Sequence[Address], address: str | None = None,
              timeout: float = PROBE_TIMEOUT) -> NATProbeResult:
    """Probe the NAT with the first server (the second, if any, for RFC 3489-style mapping).

    ``address``: the local IP to probe from (default: the one towards the
    server). Raises `NATProbeError` when the media service cannot run it.
    """
    if not servers:
        raise NATProbeError("no STUN server to ask")
    params: dict[str, Any] = {"server": servers[0][0], "port": servers[0][1]}
    second = next((s for s in servers[1:] if s[0] != servers[0][0]), None)
    if second is not None:
        params.update(second_server=second[0], second_port=second[1])
    if address is not None:
        params["address"] = address
    try:
        reply = get_bus().call("media", "nat_probe", timeout=timeout, **params)
    except BusError as exc:
        raise NATProbeError(f"the NAT probe failed: {exc}") from None
    return NATProbeResult.from_reply(reply)


class NATDetector:
    """Sets ``SIPApplication.local_nat_type`` from a probe for the default account (a
    thread), at start and again after each ``NetworkConditionsDidChange`` (another
    address may be behind another NAT)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._again = False  # a change came during a probe: its result may be stale

    def start(self) -> None:
        NotificationCenter().add_observer(self, name="NetworkConditionsDidChange")
        self._probe()

    def stop(self) -> None:
        # the probe ends by itself; its result is dropped once the application stopped
        NotificationCenter().discard_observer(self, name="NetworkConditionsDidChange")

    def handle_notification(self, notification: Notification) -> None:
        self._probe()

    def _probe(self) -> None:
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                self._again = True
                return
            self._thread = threading.Thread(target=self._run, name="sipsimple-nat",
                                            daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            self._detect()
            with self._lock:
                again, self._again = self._again, False
                if not again:
                    self._thread = None
                    return

    def _detect(self) -> None:
        from sipsimple.account import AccountManager

        account = AccountManager().default_account
        traversal = account.nat_traversal if account is not None else None
        if traversal is None or not (traversal.stun_server_list or traversal.use_ice):
            return  # no STUN server of the user's, nor ICE that would look one up
        try:
            result = probe_nat(stun_servers_for(account))
        except NATProbeError as exc:
            log.info("NAT type not detected: %s", exc)
            self._post(False, None, str(exc))
            return
        # No answer is "Blocked" (UDP filtered, or the server is down): a type, not a success.
        self._post(result.mapped is not None, result.nat_type,
                   None if result.mapped is not None else (result.error or "no answer"))

    @staticmethod
    def _post(succeeded: bool, nat_type: str | None, error: str | None) -> None:
        from sipsimple.application import SIPApplication

        if SIPApplication.state not in ("starting", "started"):
            return  # stopped meanwhile: the result is of no use
        application = SIPApplication()
        if nat_type is not None:
            # through the instance: ApplicationAttribute keeps one value for every class
            application.local_nat_type = nat_type
        NotificationCenter().post_notification(
            "SIPEngineDetectedNATType", sender=application,
            data=NotificationData(succeeded=succeeded, nat_type=nat_type, error=error))
