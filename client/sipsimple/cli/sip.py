"""`sipsimple options URI` and `sipsimple trace sip`: SIP through the running signalling service."""

from __future__ import annotations

import queue
import sys
from typing import Any

import click

from sipsimple.bus.client import get_bus
from sipsimple.cli.output import CleanGroup, emit_json
from sipsimple.configuration.datatypes.network import is_ip_address
from sipsimple.core import SIPURI, SIPURIError
from sipsimple.lookup import DNSLookup, DNSLookupError
from sipsimple.notification import Notification, NotificationCenter

__all__ = ["options", "trace"]

DEFAULT_PORTS = {"udp": 5060, "tcp": 5060, "tls": 5061}
DEFAULT_TRANSPORTS = ("tls", "tcp", "udp")  # as sip.transport_list, `call`'s default
SHOWN_HEADERS = ("Allow", "Accept", "Supported", "Server", "User-Agent")


def _uri(text: str) -> SIPURI:
    """A sip:/sips: URI as given, else user@host[:port] or host[:port] taken as sip:TEXT."""
    uri_text = text if text.lower().startswith(("sip:", "sips:")) else f"sip:{text}"
    try:
        return SIPURI.parse(uri_text)
    except SIPURIError as exc:
        raise click.BadParameter(f"invalid SIP URI {text!r}: {exc}", param_hint="URI") from None



def _routes(
    uri: SIPURI, route: str | None, transport: str | None, timeout: float
) -> list[dict[str, Any]]:
    """Where to send, in the order to try: --route host[:port], else the URI's host.

    An IP address is used as it is (its port, else the transport's default);
    a name is resolved as `sipsimple call` resolves it, by RFC 3263 through
    the DNS service (NAPTR, SRV, A/AAAA), never by the operating system,
    which knows neither SRV records nor the nameservers the SDK was given.
    """
    name = (transport or uri.transport or ("tls" if uri.secure else "udp")).lower()
    if name not in DEFAULT_PORTS:
        raise click.BadParameter(f"unsupported transport {name!r}", param_hint="--transport")
    if route is None:
        host, port = uri.host, uri.port
    else:
        try:
            parsed = SIPURI.parse(f"sip:{route}")
        except SIPURIError as exc:
            raise click.BadParameter(f"{route!r}: {exc}", param_hint="--route") from None
        host, port = parsed.host, parsed.port
    if is_ip_address(host):
        return [{"host": host, "port": port or DEFAULT_PORTS[name], "transport": name}]
    chosen = transport or (uri.transport if route is None else None)
    target = SIPURI(host=host, port=port, secure=uri.secure,
                    parameters={"transport": chosen} if chosen else {})
    transports = [chosen.lower()] if chosen else list(DEFAULT_TRANSPORTS)
    get_bus().ping("dns", timeout=2.0)  # a clear error when the DNS service is not running
    try:
        found = DNSLookup().lookup_sip_proxy(target, transports, lifetime=timeout).wait(
            timeout + 5
        )
    except DNSLookupError as exc:
        raise click.ClickException(f"cannot resolve {host}: {exc}") from None
    if not found:
        raise click.ClickException(f"no route to {host}")
    return [found_route.to_bus() for found_route in found]


@click.command()
@click.argument("uri")
@click.option("--route", metavar="HOST:PORT", help="Send to this address (default: the URI's).")
@click.option(
    "--transport", "-t", type=click.Choice(["udp", "tcp", "tls"], case_sensitive=False),
    help="Transport (default: the URI's transport parameter, else udp; tls for sips:).",
)
@click.option("--timeout", type=float, default=10.0, show_default=True,
              help="Seconds to wait for the final response.")
@click.option("--json", "as_json", is_flag=True, help="Print the whole response as JSON.")
def options(
    uri: str, route: str | None, transport: str | None, timeout: float, as_json: bool
) -> None:
    """Send OPTIONS to URI through the signalling service and print the answer.

    A domain is resolved as for a call (RFC 3263 through the DNS service) and
    its routes are tried in order while they fail locally (no answer, refused).
    Exits 0 on a 2xx answer, 1 otherwise.
    """
    target = _uri(uri)
    if not 0 < timeout <= 300:
        raise click.BadParameter("must be in (0, 300] seconds", param_hint="--timeout")
    bus = get_bus()
    bus.ping("signalling", timeout=2.0)  # a clear error when the service is not running
    for destination in _routes(target, route, transport, timeout):
        reply = bus.call(
            "signalling", "send_options", timeout=timeout + 5, uri=str(target),
            route=destination, response_timeout=timeout,
        )
        if not reply["local"]:
            break
    if as_json:
        emit_json({**reply, "body": reply["body"].decode("utf-8", errors="replace")})
    else:
        if reply["local"]:
            click.echo(f"error: no answer from {target}: {reply['error'] or reply['reason']}",
                       err=True)
            sys.exit(1)
        click.echo(f"SIP/2.0 {reply['code']} {reply['reason']}")
        for name, value in reply["headers"]:
            if name in SHOWN_HEADERS:
                click.echo(f"{name}: {value}")
    if not 200 <= reply["code"] < 300:
        sys.exit(1)


class _TraceQueue:
    def __init__(self) -> None:
        self.items: queue.Queue[Any] = queue.Queue()

    def handle_notification(self, notification: Notification) -> None:
        self.items.put(notification.data)


def _show(data: Any) -> None:
    click.echo(
        f"{data.direction} {data.transport} {data.source} -> {data.destination} "
        f"({data.timestamp:%H:%M:%S.%f})"
    )
    click.echo(data.message.replace("\r\n", "\n").rstrip("\n") + "\n")


@click.group(cls=CleanGroup)
def trace() -> None:
    """Follow live traces of the services."""


@trace.command("sip")
@click.option("--count", "-n", type=click.IntRange(min=1), default=None,
              help="Stop after this many messages (default: until Ctrl-C).")
def trace_sip(count: int | None) -> None:
    """Print every SIP message the signalling service sends or receives.

    Turns the service's SIP trace on while it runs and off when it ends.
    """
    bus = get_bus()
    bus.ping("signalling", timeout=2.0)
    printer = _TraceQueue()
    center = NotificationCenter()
    center.add_observer(printer, name="signalling.message_traced")
    try:
        result = bus.call("signalling", "set_trace", enabled=True)
        click.echo(f"tracing SIP (also written to {result['file']}); Ctrl-C to stop", err=True)
        shown = 0
        while count is None or shown < count:
            try:
                data = printer.items.get(timeout=0.5)
            except queue.Empty:
                continue
            _show(data)
            shown += 1
    except KeyboardInterrupt:
        pass
    finally:
        center.discard_observer(printer, name="signalling.message_traced")
        try:
            bus.call("signalling", "set_trace", enabled=False, timeout=2.0)
        except Exception as exc:  # the service may be gone; say so, but do not hide the cause
            click.echo(f"warning: could not turn the SIP trace off: {exc}", err=True)
