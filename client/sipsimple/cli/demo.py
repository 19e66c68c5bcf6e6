"""`sipsimple demo`: the README's main job.

It uses the facade exactly as a UI would: SIPApplication brings the services
up under supervisord (if they are not running yet), DNSLookup resolves a SIP
target through the DNS service, and the notifications are printed as they
arrive. Later issues grow this into a call between two local accounts.
"""

from __future__ import annotations

import threading
from typing import Any

import click

from sipsimple.application import SIPApplication
from sipsimple.cli.output import CleanGroup, table
from sipsimple.cli.services import collect_status
from sipsimple.core import SIPURI
from sipsimple.lookup import DNSLookup
from sipsimple.notification import Notification, NotificationCenter
from sipsimple.storage import MemoryStorage

SHOWN = (
    "SIPApplicationWillStart",
    "SIPApplicationDidStart",
    "DNSResolverDidInitialize",
    "DNSLookupTrace",
    "DNSLookupDidSucceed",
    "DNSLookupDidFail",
    "SIPApplicationWillEnd",
    "SIPApplicationDidEnd",
)


class _Printer:
    def __init__(self) -> None:
        self.events: dict[str, threading.Event] = {name: threading.Event() for name in SHOWN}

    def handle_notification(self, notification: Notification) -> None:
        stamp = notification.data.timestamp.strftime("%H:%M:%S.%f")[:-3]
        details = {k: v for k, v in notification.data.__dict__.items() if k not in ("timestamp",)}
        text = ", ".join(f"{k}={_short(v)}" for k, v in details.items())
        click.echo(f"  {stamp} {notification.name}" + (f": {text}" if text else ""))
        self.events[notification.name].set()

    def wait(self, name: str, timeout: float = 30) -> None:
        if not self.events[name].wait(timeout):
            raise click.ClickException(f"{name} did not arrive within {timeout:g} s")


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) < 100 else text[:97] + "..."


@click.group(cls=CleanGroup, invoke_without_command=True)
@click.option(
    "--target",
    default="sip:127.0.0.1:5060;transport=tcp",
    show_default=True,
    help="SIP URI to resolve (RFC 3263) through the DNS service.",
)
def demo(target: str) -> None:
    """Start the services and the facade, resolve a SIP target, report what happened."""
    center = NotificationCenter()
    printer = _Printer()
    for name in SHOWN:
        center.add_observer(printer, name=name)
    app = SIPApplication()
    try:
        click.echo("Starting SIPApplication (starts the services under supervisord if needed):")
        app.start(MemoryStorage())
        printer.wait("SIPApplicationDidStart")

        click.echo("\nServices:")
        table(
            ["SERVICE", "STATE", "PID", "BUS", "VERSION"],
            [
                [
                    r["service"],
                    r["state"],
                    r["pid"] or "-",
                    "ok" if r["answers"] else "no answer",
                    r["version"] or "-",
                ]
                for r in collect_status()
            ],
        )

        click.echo(f"\nLooking up {target} for transports tls, tcp, udp:")
        routes = DNSLookup().lookup_sip_proxy(SIPURI.parse(target), ["tls", "tcp", "udp"]).wait(30)
        printer.wait("DNSLookupDidSucceed")  # posted on the bus thread; print in order
        click.echo("\nRoutes, in the order to try:")
        table(
            ["ADDRESS", "PORT", "TRANSPORT", "TLS NAME"],
            [[r.address, r.port, r.transport, r.tls_name or "-"] for r in routes],
        )
    finally:
        if app.state not in (None, "stopped"):  # start() failed: nothing to stop
            click.echo(
                "\nStopping SIPApplication (the services keep running; "
                "`sipsimple services stop` ends them):"
            )
            app.stop()
            printer.wait("SIPApplicationDidEnd")
        for name in SHOWN:
            center.discard_observer(printer, name=name)
