"""SIP over TCP from a lab host whose address is replaced: the connection from the old
address is closed, and the next request goes over a new one from the new address.

Our signalling service runs in the NAT lab's ``lan-easy`` (10.1.0.2, bound to
0.0.0.0 so that it follows the host's address), SIPp answers OPTIONS over TCP
on its router's LAN side (10.1.0.1, the same link: no NAT between them).
Linux resets nothing when an address is deleted: a request on the old
connection would be queued there and never answered (Timer F, 408 after
32 s), while a new connection from 10.1.0.3 works at once.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from harness.audio import wait_until
from harness.netns import IP, LabHost, NatLab, needs_lab
from harness.sipp import SIPp, needs_sipp, scenario

from sipsimple.bus.client import get_bus

pytestmark = [pytest.mark.integration, needs_lab, needs_sipp]

SIP_PORT = 5060


def established(host: LabHost, peer: str) -> list[str]:
    """The local addresses of the host's established TCP connections to `peer`:SIP_PORT."""
    lines = host.run("ss", "-Htn", "state", "established").splitlines()
    return sorted(fields[2].rsplit(":", 1)[0] for fields in map(str.split, lines)
                  if len(fields) >= 4 and fields[3] == f"{peer}:{SIP_PORT}")


def test_a_request_after_the_host_lost_its_address_goes_over_a_new_connection(
        nat_lab: NatLab, spawn_service: Callable[..., Any], sipp: SIPp,
        tmp_path: Path) -> None:
    host, router = nat_lab.hosts["easy"], nat_lab.nats["easy"]
    old, new, peer = host.address, "10.1.0.3", "10.1.0.1"
    uas = router.popen(sipp.command(scenario("uas_options.xml", sipp.workdir), address=peer,
                                    port=SIP_PORT, transport="t1", calls=4, timeout=300),
                       cwd=sipp.workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    sipp.processes.append(uas)
    wait_until(lambda: uas.poll() is not None
               or f"{peer}:{SIP_PORT}" in router.run("ss", "-Htln"), "SIPp listening", 30)
    assert uas.poll() is None, sipp.errors()
    log = tmp_path / "signalling.log"
    spawn_service("sipsimple_services.signalling", "signalling", netns=host.namespace,
                  log=log, SIPSIMPLE_SIP_HOST="0.0.0.0", SIPSIMPLE_SIP_TRANSPORTS="tcp")
    bus = get_bus()

    def options() -> dict[str, Any]:
        reply: dict[str, Any] = bus.call(
            "signalling", "send_options", uri=f"sip:uas@{peer}:{SIP_PORT}",
            route={"host": peer, "port": SIP_PORT, "transport": "tcp"}, timeout=120)
        return reply

    first = options()
    assert (first["code"], first["local"]) == (200, False), first
    assert established(host, peer) == [old]

    host.run(IP, "addr", "del", f"{old}/24", "dev", "eth0")  # its routes go with it
    host.run(IP, "addr", "add", f"{new}/24", "dev", "eth0")
    host.run(IP, "route", "add", "default", "via", peer)
    # Sent at once: on the old connection if the service has not closed it yet (the
    # request is queued there, never leaves, and fails when the connection is closed:
    # a local 503), else on a new one (200); never Timer F's 408 32 s later.
    early = options()
    assert (early["code"], early["local"], early["error"]) in (
        (200, False, None), (503, True, f"connection closed: local address {old} is gone"),
    ), early
    # the service noticed within a tick of its transports' maintenance (about 1 s)
    wait_until(lambda: f"local address {old} is gone" in log.read_text(),
               "the connection from the old address closed", 60)

    second = options()  # without the close: queued on the old connection, 408 after 32 s
    assert (second["code"], second["local"]) == (200, False), second
    assert established(host, peer) == [new]  # SIPp, still waiting for more, keeps it
    for _ in range(2 if early["code"] == 503 else 1):  # SIPp answers four in all
        more = options()
        assert (more["code"], more["local"]) == (200, False), more
    _out, err = uas.communicate(timeout=60)
    assert uas.returncode == 0, err.decode(errors="replace")[-2000:] + sipp.errors()
