"""`sipsimple lookup sip|msrp-relay|stun|xcap` against the real DNS service."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from sipsimple.cli.lookup import lookup

pytestmark = pytest.mark.integration


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(lookup, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_sip_table(dns_service: Path) -> None:
    code, out, err = run("sip", "srvonly.test")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["ADDRESS", "PORT", "TRANSPORT", "TLS", "NAME"]
    assert lines[1].split() == ["127.0.0.3", "5071", "tcp", "srvonly.test"]  # default tls,tcp,udp
    assert lines[2].split() == ["127.0.0.3", "5070", "udp", "srvonly.test"]


def test_sip_json_transports_and_trace(dns_service: Path) -> None:
    code, out, err = run("sip", "sips:alice@example.test", "-t", "tls", "--json", "--trace")
    assert code == 0, err
    assert json.loads(out) == [
        {"address": "127.0.0.1", "port": 5061, "transport": "tls", "tls_name": "example.test"},
        {"address": "::1", "port": 5061, "transport": "tls", "tls_name": "example.test"},
    ]
    assert "trace: NAPTR example.test" in err
    code, out, _ = run("sip", "srvonly.test", "--transport", "udp", "--json")
    assert [r["port"] for r in json.loads(out)] == [5070]


def test_services(dns_service: Path) -> None:
    code, out, _ = run("stun", "example.test", "--json")
    assert code == 0 and json.loads(out)[0]["port"] == 3479
    code, out, _ = run("msrp-relay", "example.test")
    assert code == 0 and "127.0.0.6" in out and "2856" in out
    code, out, _ = run("msrp-relay", "example.test", "-t", "tcp", "--json")
    assert code == 0 and json.loads(out) == [
        {"address": "127.0.0.6", "port": 2857, "transport": "tcp", "tls_name": None}]
    code, out, _ = run("xcap", "example.test")
    assert code == 0 and out == "https://xcap.example.test/xcap-root\n"
    code, out, _ = run("xcap", "example.test", "--json")
    assert json.loads(out) == ["https://xcap.example.test/xcap-root"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("sip", "missing.example.test"), "no DNS records found"),
        (("sip", "example.test", "-t", "sctp"), "unsupported transport 'sctp'"),
        (("sip", "sips:example.test", "-t", "udp"), "needs TLS"),
        (("sip", "sip:bad host"), "invalid target"),
        (("sip", "example.test", "--timeout", "0"), "lifetime"),
        (("xcap", "127.0.0.1"), "domain name"),
        (("stun", "missing.test"), "no DNS records found"),
    ],
)
def test_errors_are_one_line(dns_service: Path, args: tuple[str, ...], message: str) -> None:
    code, out, err = run(*args)
    assert code == 1
    assert out == ""
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: ") and message in err
    assert "Traceback" not in err


def test_service_not_running(monkeypatch: pytest.MonkeyPatch, dns_service: Path) -> None:
    import shutil
    import tempfile

    from sipsimple.bus.client import reset_bus

    empty = tempfile.mkdtemp(prefix="ss-", dir="/tmp")
    monkeypatch.setenv("SIPSIMPLE_RUNTIME_DIR", empty)
    reset_bus()
    try:
        code, _, err = run("stun", "example.test")
    finally:
        reset_bus()
        monkeypatch.setenv("SIPSIMPLE_RUNTIME_DIR", str(dns_service))
        shutil.rmtree(empty, ignore_errors=True)
    assert code == 1
    assert err.startswith("error: service 'dns' did not answer") and len(err.splitlines()) == 1
