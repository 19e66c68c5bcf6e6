"""The NAT lab itself: each NAT maps and filters as it should, and the lab leaves nothing behind.

A tiny UDP "who am I" server on the two public addresses answers with the
address it saw (run inside the public namespace, stdlib only), so the lab is
checked without the STUN code under test.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from harness.netns import (
    IP,
    STUN_ALTERNATE,
    STUN_PRIMARY,
    NatLab,
    lab_available,
    needs_lab,
)

pytestmark = [pytest.mark.integration, needs_lab]

WHOAMI_PORT = 7000

# Answers each datagram with "ip:port" of its source, from the socket it came
# to; "other" asks for the answer from the other (the second) address: a
# filtering test.
WHOAMI = """
import select, socket, sys
socks = []
for host in sys.argv[1:]:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((host, PORT))
    socks.append(s)
print("ready", flush=True)
while True:
    for s in select.select(socks, [], [])[0]:
        data, source = s.recvfrom(2048)
        out = socks[1 - socks.index(s)] if data == b"other" else s
        out.sendto(("%s:%d" % source).encode(), source)
""".replace("PORT", str(WHOAMI_PORT))

# From one socket: what each server saw, or "-" when no answer came. An
# answer that must come is waited for long; one that must not, 1 s ("other"
# and unreachable targets: a late answer could only make those pass wrongly).
PROBE = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 0))
for target in sys.argv[1:]:
    host, what, wait = target.split("/")
    s.settimeout(float(wait))
    try:
        s.sendto(what.encode(), (host, PORT))
        print(s.recvfrom(2048)[0].decode())
    except OSError:  # no answer in time, or no route at all
        print("-")
""".replace("PORT", str(WHOAMI_PORT))


def probe(lab: NatLab, site: str, *targets: str) -> list[str]:
    return lab.hosts[site].run(sys.executable, "-c", PROBE, *targets).split()


@pytest.fixture
def whoami(nat_lab: NatLab) -> NatLab:
    assert nat_lab.public is not None
    server = nat_lab.public.popen([sys.executable, "-c", WHOAMI, STUN_PRIMARY[0],
                                   STUN_ALTERNATE[0]], stdout=subprocess.PIPE)
    nat_lab.processes.append(server)
    assert server.stdout is not None and server.stdout.readline() == b"ready\n"
    return nat_lab


def test_the_easy_nat_keeps_one_mapping_for_every_destination(whoami: NatLab) -> None:
    seen = probe(whoami, "easy", f"{STUN_PRIMARY[0]}/x/10", f"{STUN_ALTERNATE[0]}/x/10")
    assert seen[0] == seen[1] and seen[0].startswith(f"{whoami.nats['easy'].address}:")


def test_the_hard_nat_maps_each_destination_anew(whoami: NatLab) -> None:
    seen = probe(whoami, "hard", f"{STUN_PRIMARY[0]}/x/10", f"{STUN_ALTERNATE[0]}/x/10")
    ip = whoami.nats["hard"].address
    assert seen[0].startswith(f"{ip}:") and seen[1].startswith(f"{ip}:")
    assert seen[0] != seen[1]


@pytest.mark.parametrize("site", ["easy", "hard"])
def test_both_nats_let_in_only_the_replies_of_the_destination(whoami: NatLab,
                                                              site: str) -> None:
    # The answer "from the other address" is dropped by the NAT (address-dependent
    # filtering at least); the plain answer comes.
    assert probe(whoami, site, f"{STUN_PRIMARY[0]}/other/1")[0] == "-"
    assert probe(whoami, site, f"{STUN_PRIMARY[0]}/x/10")[0] != "-"


def test_the_private_networks_are_not_reachable_from_outside(whoami: NatLab) -> None:
    easy = whoami.hosts["easy"]
    server = easy.popen([sys.executable, "-c", WHOAMI, easy.address, "127.0.0.1"],
                        stdout=subprocess.PIPE)
    whoami.processes.append(server)
    assert server.stdout is not None and server.stdout.readline() == b"ready\n"
    assert probe(whoami, "easy", f"{easy.address}/x/10")[0] != "-"  # it does answer
    assert whoami.public is not None
    # Even a public host routing the private range to the NAT gets nothing through.
    whoami.public.run(IP, "route", "add", "10.1.0.0/24", "via", whoami.nats["easy"].address)
    outside = whoami.public.run(sys.executable, "-c", PROBE, f"{easy.address}/x/1").split()
    assert outside == ["-"]
    # ... nor from the other LAN, other than through the public addresses
    assert probe(whoami, "hard", f"{easy.address}/x/1") == ["-"]


def test_nothing_is_left_after_a_failure(tmp_path: Path) -> None:
    assert lab_available()
    lab = NatLab(tmp_path)
    with pytest.raises(RuntimeError, match="the test failed"):
        try:
            lab.build()
            assert lab.public is not None
            lab.processes.append(lab.public.popen(["sleep", "600"]))
            raise RuntimeError("the test failed")
        finally:
            lab.close()
    listed = subprocess.run([IP, "netns", "list"], capture_output=True, text=True).stdout
    assert lab.prefix not in listed
    assert not lab.processes
    links = subprocess.run([IP, "-o", "link"], capture_output=True, text=True).stdout
    assert "to-easy" not in links and "to-hard" not in links


def test_coturn_runs_on_both_public_addresses(nat_lab: NatLab) -> None:
    assert nat_lab.turn is not None and nat_lab.turn.process.poll() is None
    assert nat_lab.turn.primary == STUN_PRIMARY and nat_lab.turn.other == STUN_ALTERNATE


def test_a_stack_of_our_services_and_its_facade_inside_a_lan(nat_lab: NatLab) -> None:
    stack = nat_lab.stack("easy")
    stack.start()
    status = stack.sipsimple("status", "--json")
    assert status.returncode == 0, status.stderr
    transports = json.loads(status.stdout)["signalling"]["transports"]
    assert {t["host"] for t in transports} == {"10.1.0.2"}
    # the facade (the CLI) inside with it: the probe goes out through the easy NAT
    probed = stack.sipsimple("nat", f"{STUN_PRIMARY[0]}:{STUN_PRIMARY[1]}", "--json")
    assert probed.returncode == 0, probed.stderr
    assert json.loads(probed.stdout)["mapped"].startswith(f"{nat_lab.nats['easy'].address}:")
    stack.make_account("alice@lab.test")
    listed = stack.sipsimple("accounts", "list", "--json")
    assert [a["id"] for a in json.loads(listed.stdout)] == ["alice@lab.test"]
    namespaces = list(nat_lab.namespaces)
    assert subprocess.run([IP, "netns", "pids", nat_lab.hosts["easy"].namespace],
                          capture_output=True, text=True).stdout.split()  # supervisord & co.
    nat_lab.close()
    assert not stack.directory.exists()
    listed_ns = subprocess.run([IP, "netns", "list"], capture_output=True, text=True).stdout
    assert not any(name in listed_ns for name in namespaces)
