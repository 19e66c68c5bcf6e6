"""`sipsimple status`: the services, and what the signalling service holds right now.

Read-only: the services' state as `sipsimple services status` shows it, each
media worker's streams and load, then the signalling service's ``status``
snapshot (accounts claimed by clients, registrations, INVITE sessions,
subscriptions), then what each service process holds (descriptors, threads,
greenlets, zmq sockets, RSS, and its objects by kind: what a soak checks is
back to idle). Nothing is started.
"""

from __future__ import annotations

from typing import Any

import click

from sipsimple.bus.client import BusClient, BusError
from sipsimple.cli.output import emit_json, format_duration, table
from sipsimple.cli.services import collect_status

__all__ = ["status"]

STATUS_TIMEOUT = 2.0


def _signalling_status() -> tuple[dict[str, Any] | None, str | None]:
    """(the snapshot, None), or (None, why there is none)."""
    probe = BusClient(services=["signalling"], post_notifications=False)
    probe.start()
    try:
        snapshot: dict[str, Any] = probe.call("signalling", "status", timeout=STATUS_TIMEOUT)
        return snapshot, None
    except BusError as exc:
        return None, str(exc)
    finally:
        probe.stop(goodbye=False)


def _registrar(registrar: dict[str, Any] | None) -> str:
    if not registrar:
        return "-"
    host = registrar["host"]
    host = f"[{host}]" if ":" in host else host
    return f"{registrar['transport']}:{host}:{registrar['port']}"


def _section(title: str, headers: list[str], rows: list[list[Any]]) -> None:
    click.echo()
    click.echo(f"{title}:")
    if rows:
        table(headers, rows)
    else:
        click.echo("  none")


def _show(snapshot: dict[str, Any]) -> None:
    by_aor: dict[str, list[str]] = {}
    for registration in snapshot["registrations"]:
        by_aor.setdefault(registration["aor"], []).append(registration["state"])
    _section("Accounts (claimed by clients)", ["AOR", "REGISTRATION"], [
        [a["aor"] + (" (and any user at this address)" if a.get("any_user") else ""),
         ", ".join(by_aor.get(a["aor"], [])) or "not registered"]
        for a in snapshot["accounts"]
    ])
    _section("Registrations", ["ID", "AOR", "STATE", "REGISTRAR", "EXPIRES", "CONTACT"], [
        [r["registration_id"], r["aor"], r["state"], _registrar(r["registrar"]),
         "-" if r["expires"] is None else f"{r['expires']} s", r["contact"] or "-"]
        for r in snapshot["registrations"]
    ])
    _section("Sessions (dialogs)",
             ["ID", "DIRECTION", "STATE", "LOCAL", "REMOTE", "TRANSPORT", "CALL-ID"], [
        [s["session_id"], s["direction"], s["state"], s["local"] or "-", s["remote"] or "-",
         s["transport"] or "-", s["call_id"] or "-"]
        for s in snapshot["sessions"]
    ])
    _section("Subscriptions", ["ID", "DIRECTION", "EVENT", "STATE", "LOCAL", "REMOTE"], [
        [s["subscription_id"], s["direction"], s["event"], s["state"], s["local"] or "-",
         s["remote"] or "-"]
        for s in snapshot["subscriptions"]
    ])
    transports = ", ".join(
        f"{t['transport']} {t['host']}:{t['port']}" for t in snapshot["transports"])
    click.echo()
    click.echo(f"SIP transports: {transports or 'none'}")
    if snapshot.get("tls_error"):
        click.echo(f"SIP over TLS is off: {snapshot['tls_error']}")


def media_workers(services: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each media worker that answered: its streams, ports and load (the share of a
    core its clock's ticks took over the last second, `busy`, and its CPU, `cpu`)."""
    return [{"worker": row["service"], "pid": row["pid"], **row["load"]}
            for row in services if isinstance(row.get("load"), dict)]


@click.command()
@click.option("--json", "as_json", is_flag=True,
              help='Print JSON: {"services", "media_workers", "signalling" (null if no '
                   'answer), "error"}.')
def status(as_json: bool) -> None:
    """Show the services, the media workers' load, the accounts and their
    registrations, and the active dialogs."""
    services = collect_status()
    workers = media_workers(services)
    snapshot, error = _signalling_status()
    if as_json:
        emit_json({"services": services, "media_workers": workers, "signalling": snapshot,
                   "error": error})
        return
    table(
        ["SERVICE", "STATE", "PID", "UPTIME", "BUS", "VERSION"],
        [[r["service"], r["state"], r["pid"] or "-", format_duration(r["uptime"]),
          "ok" if r["answers"] else "no answer", r["version"] or "-"] for r in services],
    )
    _section("Media workers", ["WORKER", "STREAMS", "PORTS", "CLOCK BUSY", "CPU"], [
        [w["worker"], w.get("streams", "-"), w.get("ports", "-"),
         f"{100 * float(w.get('busy', 0)):.0f}%", f"{100 * float(w.get('cpu', 0)):.0f}%"]
        for w in workers
    ])
    if snapshot is None:
        click.echo()
        click.echo(f"signalling: no status ({error})")
        return
    _show(snapshot)
    _show_resources(services)


def _show_resources(services: list[dict[str, Any]]) -> None:
    rows = []
    for row in services:
        held = row.get("resources")
        if held:
            objects = ", ".join(f"{kind} {count}" for kind, count in held["objects"].items())
            rows.append([row["service"], held["descriptors"], held["threads"], held["greenlets"],
                         held["zmq_sockets"], f"{held['rss'] / 2**20:.1f} MiB", held["clients"],
                         objects or "-"])
    _section("Resources", ["SERVICE", "FDS", "THREADS", "GREENLETS", "ZMQ", "RSS", "CLIENTS",
                           "OBJECTS"], rows)
