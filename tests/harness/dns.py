"""DNS fixtures: dnsmasq serving a test zone, a black-hole nameserver, the DNS service."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness import peers
from harness.processes import stop_process, wait_for_ping

DNS_DOMAIN = "example.test"

# The test zone. Names under .test are answered by dnsmasq alone (local=), so
# anything not listed is NXDOMAIN. local-ttl makes answers cacheable.
DNSMASQ_RECORDS = """\
local=/test/
local-ttl=300
naptr-record=example.test,10,20,"S","SIP+D2U","","_sip._udp.example.test"
naptr-record=example.test,10,10,"S","SIP+D2T","","_sip._tcp.example.test"
naptr-record=example.test,5,10,"S","SIPS+D2T","","_sips._tcp.example.test"
naptr-record=example.test,1,10,"S","SIP+D2S","","_sip._sctp.example.test"
srv-host=_sips._tcp.example.test,sip1.example.test,5061,0,10
srv-host=_sip._tcp.example.test,sip1.example.test,5060,0,10
srv-host=_sip._udp.example.test,sip1.example.test,5060,0,10
host-record=sip1.example.test,127.0.0.1,::1
host-record=example.test,127.0.0.2
srv-host=_sip._udp.srvonly.test,sip2.srvonly.test,5070,0,10
srv-host=_sip._tcp.srvonly.test,sip2.srvonly.test,5071,0,10
host-record=sip2.srvonly.test,127.0.0.3
host-record=aonly.test,127.0.0.4,fd00::4
srv-host=_stun._udp.example.test,stun.example.test,3479,0,10
host-record=stun.example.test,127.0.0.5
srv-host=_msrps._tcp.example.test,relay.example.test,2856,0,10
srv-host=_msrp._tcp.example.test,relay.example.test,2857,0,10
host-record=relay.example.test,127.0.0.6
txt-record=xcap.example.test,"https://xcap.example.test/xcap-root"
txt-record=xcap.example.test,"ftp://xcap.example.test/not-http"
host-record=xcap.example.test,127.0.0.7
host-record=probe.test,127.0.0.8
"""


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _dns_answers(port: int) -> bool:
    import dns.message
    import dns.query

    try:
        dns.query.udp(
            dns.message.make_query("sip1.example.test", "A"), "127.0.0.1", timeout=0.2, port=port
        )
    except Exception:
        return False
    return True


@contextlib.contextmanager
def serve_zone(records: str) -> Iterator[int]:
    """A dnsmasq serving `records` (dnsmasq configuration lines) on 127.0.0.1; its port."""
    binary = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
    if not os.path.exists(binary):
        peers.skip("dnsmasq (Debian package dnsmasq-base)")
    directory = Path(tempfile.mkdtemp(prefix="ssdns-", dir="/tmp"))
    for _attempt in range(5):  # the free port may be taken between probe and bind
        port = _free_udp_port()
        config = directory / "dnsmasq.conf"
        config.write_text(
            f"port={port}\nlisten-address=127.0.0.1\nbind-interfaces\nno-resolv\nno-hosts\n"
            f"no-poll\npid-file=\n{records}"
        )
        process = subprocess.Popen(
            [binary, f"--conf-file={config}", "--keep-in-foreground"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 5
        while process.poll() is None and time.monotonic() < deadline:
            if _dns_answers(port):
                break
            time.sleep(0.05)
        if process.poll() is None and _dns_answers(port):
            break
        if process.poll() is None:
            process.kill()
        process.wait()
    else:
        message = process.stderr.read().decode() if process.stderr else ""
        pytest.fail(f"dnsmasq did not start: {message}")
    try:
        yield port
    finally:
        stop_process(process, 5)
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def dnsmasq() -> Iterator[int]:
    """A dnsmasq serving the test zone on 127.0.0.1; yields its port."""
    with serve_zone(DNSMASQ_RECORDS) as port:
        yield port


@pytest.fixture
def dnsmasq_zone() -> Iterator[Callable[[str], int]]:
    """``dnsmasq_zone(records)`` -> the port of a dnsmasq of the test's own serving
    `records` (dnsmasq options such as ``srv-host=...``), for zones that name
    ports only known at run time."""
    with contextlib.ExitStack() as stack:
        yield lambda records: stack.enter_context(serve_zone(records))


@pytest.fixture(scope="session")
def blackhole_nameserver() -> Iterator[str]:
    """``127.0.0.1:PORT`` of a UDP socket that reads queries and never answers."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    # Nothing reads it: the kernel queues the queries and then drops them.
    yield f"127.0.0.1:{sock.getsockname()[1]}"
    sock.close()


@pytest.fixture(scope="module")
def dns_service(dnsmasq: int) -> Iterator[Path]:
    """The real DNS service (python -m sipsimple_services.dns) pointed at dnsmasq.

    Module-scoped with its own runtime directory; the process-wide bus client
    is reset around it so that it connects there. Yields the runtime directory.
    """
    from sipsimple.bus.client import reset_bus

    runtime = Path(tempfile.mkdtemp(prefix="ss-", dir="/tmp"))
    saved = {k: os.environ.get(k) for k in ("SIPSIMPLE_RUNTIME_DIR",)}
    os.environ["SIPSIMPLE_RUNTIME_DIR"] = str(runtime)
    reset_bus()
    env = {
        **os.environ,
        "SIPSIMPLE_DNS_NAMESERVERS": f"127.0.0.1:{dnsmasq}",
        "SIPSIMPLE_DNS_FALLBACK_NAMESERVERS": "",
        "SIPSIMPLE_DNS_TIMEOUT": "3",
        "SIPSIMPLE_DNS_PROBE_TIMEOUT": "0.5",
        # dnsmasq has no upstream, so it refuses the default probe (". NS").
        "SIPSIMPLE_DNS_PROBE_NAME": "probe.test",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "sipsimple_services.dns"],
        env=env,
        cwd=Path(__file__).parent.parent,
    )
    try:
        wait_for_ping("dns")
        yield runtime
    finally:
        reset_bus()
        stop_process(process)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        shutil.rmtree(runtime, ignore_errors=True)
