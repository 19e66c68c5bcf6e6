"""`sipsimple nat [SERVER...]`: the NAT in front of this host, as a STUN probe sees it."""

from __future__ import annotations

from typing import Any

import click

from sipsimple.bus.client import BusError, get_bus
from sipsimple.cli.output import emit_json
from sipsimple.nat import (
    NATProbeError,
    NATProbeResult,
    probe_nat,
    resolve_stun_server,
    stun_servers_for,
)

__all__ = ["nat"]

METHODS = {
    "rfc5780": "RFC 5780 (the server has two addresses)",
    "rfc3489": "RFC 3489 style (two servers' mappings compared; filtering not tested)",
    "single": "one server address: only whether there is a NAT",
}


def _server(text: str) -> tuple[str, int | None]:
    """host, [v6]:port, host:port; the port None when not given."""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    else:
        host, port = text, ""
    if not host:
        raise click.BadParameter(f"no host in {text!r}", param_hint="SERVER")
    if not port:
        return host, None
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise click.BadParameter(f"bad port in {text!r}", param_hint="SERVER")
    return host, int(port)


def _address(value: tuple[str, int] | None) -> str:
    if value is None:
        return "-"
    host, port = value
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _show(result: NATProbeResult, as_json: bool) -> None:
    if as_json:
        emit_json({
            "server": _address(result.server), "other_address": result.other_address and
            _address(result.other_address), "local": _address(result.local),
            "mapped": result.mapped and _address(result.mapped), "mapping": result.mapping,
            "filtering": result.filtering, "method": result.method,
            "nat_type": result.nat_type, "error": result.error,
        })
        return
    other = f" (other address {_address(result.other_address)})" if result.other_address else ""
    rows: list[tuple[str, Any]] = [
        ("STUN server", _address(result.server) + other),
        ("local", _address(result.local)),
        ("mapped", _address(result.mapped) if result.mapped else f"none ({result.error})"),
        ("mapping", result.mapping),
        ("filtering", result.filtering),
        ("method", METHODS.get(result.method, result.method)),
        ("NAT type", result.nat_type),
    ]
    for name, value in rows:
        click.echo(f"{name + ':':<13}{value}")


@click.command()
@click.argument("servers", nargs=-1, metavar="[SERVER]...")
@click.option("--account", "account_id", default=None,
              help="Without SERVER: the STUN servers of this account (default: the default one).")
@click.option("--address", default=None, metavar="IP",
              help="The local address to probe from (default: the one towards the server).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def nat(servers: tuple[str, ...], account_id: str | None, address: str | None,
        as_json: bool) -> None:
    """Probe the NAT with STUN: the mapped address and the NAT type.

    SERVER is an IP address or a name, with an optional :PORT (3478); a name
    without a port is a domain whose _stun._udp SRV records name the
    servers. A second SERVER is used when the first has only one address.
    Without SERVER, the account's nat_traversal.stun_server_list, else its
    domain's SRV records. Exits 1 when no server answered.
    """
    try:
        get_bus().ping("media", timeout=2.0)
    except BusError:
        raise click.ClickException(
            "the media service is not running (start it with `sipsimple services start`)"
        ) from None
    try:
        if servers:
            addresses = [a for text in servers for a in resolve_stun_server(*_server(text))]
            result = probe_nat(addresses, address)
        else:
            from sipsimple.cli.call import application

            with application(account_id, claim=False) as account:
                if account is None:
                    raise click.ClickException("no account: name a STUN SERVER")
                result = probe_nat(stun_servers_for(account), address)
    except NATProbeError as exc:
        raise click.ClickException(str(exc)) from None
    _show(result, as_json)
    if result.mapped is None:
        raise SystemExit(1)
