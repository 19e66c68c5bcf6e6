"""`sipsimple nat`: on loopback against coturn, and behind each NAT of the lab."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from click.testing import CliRunner
from harness.netns import STUN_PRIMARY, NatLab, needs_lab
from harness.turnserver import TurnServer

from sipsimple.cli.nat import nat

pytestmark = pytest.mark.integration


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(nat, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def media(spawn_service: Callable[..., Any]) -> None:
    spawn_service("sipsimple_services.media", "media")


def test_loopback_table(media: None, turnserver_rfc5780: TurnServer) -> None:
    host, port = turnserver_rfc5780.primary
    code, out, err = run(f"{host}:{port}")
    assert code == 0, err
    lines = dict(line.split(":", 1) for line in out.splitlines())
    assert {k: v.strip() for k, v in lines.items() if k not in ("local", "mapped")} == {
        "STUN server": f"{host}:{port} (other address 127.0.0.2:{port + 1})",
        "mapping": "no NAT", "filtering": "endpoint-independent",
        "method": "RFC 5780 (the server has two addresses)", "NAT type": "Open",
    }
    assert lines["local"].strip() == lines["mapped"].strip()


def test_nothing_answers(media: None) -> None:
    code, out, _ = run("127.0.0.1:9", "--json")
    assert code == 1
    assert json.loads(out)["nat_type"] == "Blocked" and json.loads(out)["mapped"] is None


@pytest.mark.parametrize(("args", "message"), [
    (("127.0.0.1:0",), "bad port"),
    ((":3478",), "no host"),
    ((), "no enabled account"),
])
def test_bad_arguments(media: None, args: tuple[str, ...], message: str) -> None:
    code, out, err = run(*args)
    assert code != 0 and message in out + err


def test_without_the_media_service() -> None:
    code, out, err = run("127.0.0.1")
    assert code == 1 and "the media service is not running" in out + err


@needs_lab
@pytest.mark.parametrize(("site", "nat_type", "mapping"), [
    ("easy", "Port Restricted", "endpoint-independent"),
    ("hard", "Symmetric", "address-and-port-dependent"),
])
def test_behind_each_nat_of_the_lab(nat_lab: NatLab, spawn_service: Callable[..., Any],
                                    site: str, nat_type: str, mapping: str) -> None:
    spawn_service("sipsimple_services.media", "media", netns=nat_lab.hosts[site].namespace)
    code, out, err = run(f"{STUN_PRIMARY[0]}:{STUN_PRIMARY[1]}", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["mapped"].startswith(f"{nat_lab.nats[site].address}:")
    assert report["local"].startswith(f"{nat_lab.hosts[site].address}:")
    assert (report["nat_type"], report["mapping"], report["method"]) == (nat_type, mapping,
                                                                         "rfc5780")
    assert report["filtering"] == "address-and-port-dependent"
