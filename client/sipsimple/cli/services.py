"""`sipsimple services start|stop|restart|status`."""

from __future__ import annotations

from typing import Any

import click

from sipsimple import supervision
from sipsimple.bus.client import BusClient, BusError
from sipsimple.cli.output import CleanGroup, emit_json, format_duration, table


@click.group(cls=CleanGroup)
def services() -> None:
    """Run the services under supervisord."""


@services.command()
@click.option(
    "--timeout",
    default=supervision.START_TIMEOUT,
    show_default=True,
    help="Seconds to wait for every service to answer.",
)
def start(timeout: float) -> None:
    """Start the services (does nothing if they already run)."""
    supervision.start(timeout=timeout)
    click.echo("services running")


@services.command()
def stop() -> None:
    """Stop the services and supervisord."""
    click.echo("services stopped" if supervision.stop() else "services were not running")


@services.command()
@click.option("--timeout", default=supervision.START_TIMEOUT, show_default=True)
def restart(timeout: float) -> None:
    """Restart every service."""
    supervision.restart(timeout=timeout)
    click.echo("services restarted")


def collect_status() -> list[dict[str, Any]]:
    rows = []
    probe = BusClient(post_notifications=False)
    probe.start()
    try:
        for entry in supervision.status():
            row: dict[str, Any] = {
                "service": entry.name,
                "state": entry.state,
                "pid": entry.pid,
                "uptime": entry.uptime,
                "answers": False,
                "version": None,
                "resources": None,
            }
            if entry.state == "RUNNING":
                try:
                    info = probe.ping(entry.name, timeout=1.0)
                    row.update(answers=True, version=info["version"])
                    if isinstance(info.get("load"), dict):  # a media worker
                        row["load"] = info["load"]
                    row["resources"] = probe.call(entry.name, "resources", timeout=1.0)
                except BusError:
                    pass
            rows.append(row)
    finally:
        probe.stop(goodbye=False)
    return rows


@services.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def status(as_json: bool) -> None:
    """Show each service's state and whether it answers on the bus."""
    rows = collect_status()
    if as_json:
        emit_json(rows)
        return
    table(
        ["SERVICE", "STATE", "PID", "UPTIME", "BUS", "VERSION"],
        [
            [
                r["service"],
                r["state"],
                r["pid"] or "-",
                format_duration(r["uptime"]),
                "ok" if r["answers"] else "no answer",
                r["version"] or "-",
            ]
            for r in rows
        ],
    )
