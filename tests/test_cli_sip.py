"""`sipsimple options URI` and `sipsimple trace sip` as subprocesses, against the real service."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from harness.dns import serve_zone
from harness.signalling import signalling_transports

from sipsimple.bus.client import get_bus

pytestmark = pytest.mark.integration

# Until cli/main.py registers these commands, run them under the real group.
_STANDIN = (
    "from sipsimple.cli.main import cli; from sipsimple.cli.sip import options, trace; "
    "cli.add_command(options); cli.add_command(trace); cli(prog_name='sipsimple')"
)


def sipsimple() -> list[str]:
    script = shutil.which("sipsimple")
    if script is not None:
        probe = subprocess.run([script, "options", "--help"], capture_output=True)
        if probe.returncode == 0:
            return [script]
    return [sys.executable, "-c", _STANDIN]


def run(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*sipsimple(), *args], capture_output=True, text=True, timeout=timeout,
        env=os.environ.copy(),
    )


@pytest.fixture
def ports(spawn_service: Callable[..., Any]) -> dict[str, Any]:
    return signalling_transports(spawn_service)


def test_options(ports: dict[str, Any]) -> None:
    result = run("options", f"sip:probe@127.0.0.1:{ports['udp']}")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "SIP/2.0 200 OK"
    assert any(line.startswith("Allow: INVITE, ACK") for line in lines)
    assert any(line.startswith("Server: sipsimple/") for line in lines)


def test_options_route_transport_json(ports: dict[str, Any]) -> None:
    result = run("options", "sip:probe@example.invalid", "--route",
                 f"127.0.0.1:{ports['tcp']}", "--transport", "tcp", "--json")
    assert result.returncode == 0, result.stderr
    reply = json.loads(result.stdout)
    assert reply["code"] == 200 and reply["local"] is False
    assert ["CSeq", "1 OPTIONS"] in reply["headers"]


def test_options_failures(ports: dict[str, Any]) -> None:
    refused = run("options", "sip:x@127.0.0.1:1", "-t", "tcp")
    assert refused.returncode == 1
    assert refused.stderr.strip().startswith("error: no answer from sip:x@127.0.0.1:1")
    assert "refused" in refused.stderr and "Traceback" not in refused.stderr
    bad = run("options", "sip:bad host")
    assert bad.returncode == 2 and "invalid SIP URI" in bad.stderr


@pytest.fixture
def domain(ports: dict[str, Any], spawn_service: Callable[..., Any]) -> Iterator[str]:
    """options.test served by dnsmasq: SRV for TCP to a port where nothing listens, for
    UDP to the signalling service; the DNS service asks that dnsmasq alone."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead = closed.getsockname()[1]
    records = (
        "local=/options.test/\n"
        f"srv-host=_sip._tcp.options.test,sip.options.test,{dead},0,10\n"
        f"srv-host=_sip._udp.options.test,sip.options.test,{ports['udp']},0,10\n"
        "host-record=sip.options.test,127.0.0.1\n"
    )
    with serve_zone(records) as dns_port:
        spawn_service(
            "sipsimple_services.dns", "dns",
            SIPSIMPLE_DNS_NAMESERVERS=f"127.0.0.1:{dns_port}",
            SIPSIMPLE_DNS_FALLBACK_NAMESERVERS="", SIPSIMPLE_DNS_TIMEOUT="3",
            SIPSIMPLE_DNS_PROBE_TIMEOUT="0.5", SIPSIMPLE_DNS_PROBE_NAME="sip.options.test",
        )
        yield "options.test"


def test_options_resolves_a_domain_as_a_call_does(domain: str) -> None:
    # The operating system knows nothing of options.test: only RFC 3263 through the
    # DNS service finds it (SRV), and the dead TCP route is passed over for UDP.
    result = run("options", f"sip:x@{domain}", "--json")
    assert result.returncode == 0, result.stderr
    reply = json.loads(result.stdout)
    assert (reply["code"], reply["local"]) == (200, False)
    assert any(name == "Server" and value.startswith("sipsimple/")
               for name, value in reply["headers"])  # our service answered
    unknown = run("options", "sip:x@nowhere.options.test")
    assert unknown.returncode == 1
    assert "cannot resolve nowhere.options.test" in unknown.stderr
    assert "Traceback" not in unknown.stderr


def test_options_without_service(runtime: object) -> None:
    result = run("options", "sip:x@127.0.0.1")
    assert result.returncode == 1
    assert result.stderr.startswith("error: ") and "signalling" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_trace_sip_count(ports: dict[str, Any]) -> None:
    tracer = subprocess.Popen(
        [*sipsimple(), "trace", "sip", "--count", "2"], stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, env=os.environ.copy(),
    )
    try:
        bus = get_bus()
        deadline = time.monotonic() + 20
        while tracer.poll() is None and time.monotonic() < deadline:
            # traffic until the tracer has its two messages (it may start late)
            bus.call("signalling", "send_options", uri="sip:self@127.0.0.1",
                     route={"host": "127.0.0.1", "port": ports["udp"], "transport": "udp"})
            time.sleep(0.2)
        out, err = tracer.communicate(timeout=10)
    finally:
        if tracer.poll() is None:
            tracer.kill()
    assert tracer.returncode == 0, err
    assert "tracing SIP" in err and "sip_trace.log" in err
    assert out.count(f"127.0.0.1:{ports['udp']} -> 127.0.0.1:{ports['udp']}") == 2
    assert "OPTIONS sip:self@127.0.0.1 SIP/2.0" in out
    # The tracer turned tracing off on its way out: the trace file stops growing.
    trace_file = Path(os.environ["SIPSIMPLE_STATE_DIR"]) / "logs" / "sip_trace.log"
    size = trace_file.stat().st_size
    get_bus().call("signalling", "send_options", uri="sip:self@127.0.0.1",
                   route={"host": "127.0.0.1", "port": ports["udp"], "transport": "udp"})
    time.sleep(0.3)
    assert trace_file.stat().st_size == size
