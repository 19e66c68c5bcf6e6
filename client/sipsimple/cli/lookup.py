"""`sipsimple lookup sip|msrp-relay|stun|xcap TARGET`: DNS lookups through the DNS service."""

from __future__ import annotations

from typing import Any

import click

from sipsimple.bus.client import get_bus
from sipsimple.cli.output import CleanGroup, emit_json, table
from sipsimple.core import SIPURI, Route, SIPURIError
from sipsimple.lookup import DNSLookup, DNSLookupError, DNSLookupResult
from sipsimple.notification import Notification, NotificationCenter

DEFAULT_TRANSPORTS = ("tls", "tcp", "udp")  # the original SDK's default preference


def _target(text: str) -> SIPURI:
    """A sip:/sips: URI as given, else a host[:port] taken as sip:TARGET."""
    uri_text = text if text.lower().startswith(("sip:", "sips:")) else f"sip:{text}"
    try:
        return SIPURI.parse(uri_text)
    except SIPURIError as exc:
        raise DNSLookupError(f"invalid target {text!r}: {exc}", reason="invalid") from None


class _TracePrinter:
    def __init__(self, lookup: DNSLookup) -> None:
        self.lookup = lookup

    def handle_notification(self, notification: Notification) -> None:
        data = notification.data
        answer = ", ".join(getattr(data, "answer", ()) or ()) or "-"
        error = getattr(data, "error", None)
        cached = " (cached)" if getattr(data, "cached", False) else ""
        click.echo(
            f"trace: {data.query_type} {data.query_name}{cached}: "
            f"{('error ' + error) if error else answer}",
            err=True,
        )


def _run(start: Any, lookup: DNSLookup, lifetime: float, trace: bool) -> Any:
    # Fail fast with a clear message when the service is not running at all.
    get_bus().ping("dns", timeout=2.0)
    printer = _TracePrinter(lookup)
    center = NotificationCenter()
    if trace:
        center.add_observer(printer, name="DNSLookupTrace", sender=lookup)
    try:
        result: DNSLookupResult = start()
        return result.wait(lifetime + 10)
    finally:
        if trace:
            center.discard_observer(printer, name="DNSLookupTrace", sender=lookup)


def _show_routes(routes: list[Route], as_json: bool) -> None:
    if as_json:
        emit_json(
            [
                {"address": r.address, "port": r.port, "transport": r.transport,
                 "tls_name": r.tls_name}
                for r in routes
            ]
        )
    else:
        table(
            ["ADDRESS", "PORT", "TRANSPORT", "TLS NAME"],
            [[r.address, r.port, r.transport, r.tls_name] for r in routes],
        )


_lifetime = click.option(
    "--timeout", "lifetime", type=float, default=5.0, show_default=True,
    help="Seconds the whole lookup may take.",
)
_json = click.option("--json", "as_json", is_flag=True, help="Print JSON.")
_trace = click.option("--trace", is_flag=True, help="Print each DNS query on stderr.")


@click.group(cls=CleanGroup)
def lookup() -> None:
    """DNS lookups as the SDK does them (through the DNS service)."""


@lookup.command()
@click.argument("target")
@click.option(
    "--transport", "-t", "transports", multiple=True, metavar="udp|tcp|tls",
    help="A supported transport, most preferred first (repeat; default: tls, tcp, udp).",
)
@click.option("--tls-name", default=None, help="Name to verify TLS certificates against.")
@_lifetime
@_json
@_trace
def sip(
    target: str, transports: tuple[str, ...], tls_name: str | None, lifetime: float,
    as_json: bool, trace: bool,
) -> None:
    """SIP proxy routes for TARGET (a sip:/sips: URI or a domain), RFC 3263."""
    uri = _target(target)
    dns = DNSLookup()
    routes = _run(
        lambda: dns.lookup_sip_proxy(
            uri, list(transports or DEFAULT_TRANSPORTS), tls_name, lifetime=lifetime
        ),
        dns, lifetime, trace,
    )
    _show_routes(routes, as_json)


@lookup.command("msrp-relay")
@click.argument("target")
@click.option(
    "--transport", "-t", type=click.Choice(["tls", "tcp"]), default="tls", show_default=True,
    help="tls: SRV _msrps._tcp (RFC 4976); tcp: a plain relay, SRV _msrp._tcp.",
)
@_lifetime
@_json
@_trace
def msrp_relay(target: str, transport: str, lifetime: float, as_json: bool, trace: bool) -> None:
    """MSRP relays for the domain TARGET (SRV, else its addresses on 2855)."""
    uri = _target(target)
    dns = DNSLookup()
    _show_routes(
        _run(lambda: dns.lookup_msrp_relay(uri, lifetime=lifetime, transport=transport),
             dns, lifetime, trace),
        as_json,
    )


@lookup.command()
@click.argument("target")
@_lifetime
@_json
@_trace
def stun(target: str, lifetime: float, as_json: bool, trace: bool) -> None:
    """STUN servers for the domain TARGET (SRV _stun._udp)."""
    uri = _target(target)
    dns = DNSLookup()
    _show_routes(_run(lambda: dns.lookup_stun_server(uri, lifetime=lifetime), dns, lifetime, trace),
                 as_json)


@lookup.command()
@click.argument("target")
@_lifetime
@_json
@_trace
def xcap(target: str, lifetime: float, as_json: bool, trace: bool) -> None:
    """XCAP root URLs for the domain TARGET (TXT at xcap.TARGET)."""
    uri = _target(target)
    dns = DNSLookup()
    urls = _run(lambda: dns.lookup_xcap_server(uri, lifetime=lifetime), dns, lifetime, trace)
    if as_json:
        emit_json(urls)
    else:
        for url in urls:
            click.echo(url)
