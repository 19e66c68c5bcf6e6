"""A NAT lab of network namespaces: two private networks behind two NATs, coturn outside.

pytest plugin module: add ``"harness.netns"`` to ``pytest_plugins``.

Fixtures: ``nat_lab`` (function scope) builds the lab, starts coturn and tears
everything down afterwards, whatever happened; ``lab_services`` starts our
services for one host of the lab (the services of an account, as the ICE call
tests need them); ``NatLab.stack(site)`` gives a `LabStack`: all our
services for an account inside a host, on directories of their own, with
the CLI (the facade) running beside them in the same namespace.

::

        lan_easy (10.1.0.2)            lan_hard (10.2.0.2)
              |  10.1.0.0/24                 |  10.2.0.0/24
        nat_easy (10.1.0.1)            nat_hard (10.2.0.1)
     masquerade, port kept:         masquerade fully-random:
     endpoint-independent mapping   address-and-port-dependent mapping
              |  172.16.0.11                 |  172.16.0.12
              +------------ public ----------+
                 bridge 172.16.0.0/24 with coturn (STUN + TURN)
                 on 172.16.0.1 and 172.16.0.2, ports 3478 and 3479

Every namespace has a random name of the test's (``ssnat<hex>-public``, ...),
so labs of parallel tests or of other checkouts never meet; the interfaces
live only inside them, and the addresses are private ranges (RFC 1918) that
exist nowhere else: deleting the namespaces deletes every interface, route
and rule, after the processes running in them were stopped. Needs root (CI is
root), ``ip`` (iproute2), ``nft`` (Debian ``nftables``) and ``turnserver``
(Debian ``coturn``).

Both NATs filter by address and port (Linux conntrack lets in only the
replies of a mapping's own destination). The easy NAT keeps the source port
(the same mapping towards every destination: RFC 4787 endpoint-independent
mapping, a "port-restricted cone"); the hard one draws a random port for each
new destination (address-and-port-dependent mapping: "symmetric"), so that a
server-reflexive candidate learnt from the STUN server is useless to a peer,
and only TURN gets through.

The public side has a default route to a next hop that drops everything,
as the Internet loses a datagram to an unrouted (private) address instead of
refusing it: coturn stops relaying for an allocation once a send from its
relay socket failed (ENETUNREACH), and ICE sends checks from a relayed
candidate to the peer's private host candidates.

coturn listens on both public addresses, so it answers RFC 5780's
CHANGE-REQUEST and names its OTHER-ADDRESS (172.16.0.2:3479); the long-term
credentials are ``TURN_USER``/``TURN_PASSWORD`` in realm ``TURN_REALM``
(`harness.turnserver`).

`LabHost.run`/`popen` run a command inside a namespace (``ip netns exec``:
the process shares our filesystem, so its bus sockets, unix sockets under the
runtime directory, are reachable from the facade outside).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from harness import peers
from harness.turnserver import (
    COTURN_PEER,
    TURNSERVER,
    TurnServer,
    start_turnserver,
)

IP = shutil.which("ip") or "/usr/sbin/ip"
NFT = shutil.which("nft") or "/usr/sbin/nft"

NETNS_PEER = "a NAT lab: root, ip (iproute2), nft (Debian nftables)"


def lab_available() -> bool:
    return os.geteuid() == 0 and Path(IP).exists() and Path(NFT).exists()


needs_lab = peers.needs(NETNS_PEER, lab_available())

PUBLIC_NET = "172.16.0.0/24"
STUN_PRIMARY = ("172.16.0.1", 3478)
STUN_ALTERNATE = ("172.16.0.2", 3479)  # coturn's OTHER-ADDRESS for STUN_PRIMARY
# the public side's default route: a next hop with a MAC no interface has (datagrams
# to unrouted addresses are flooded by the bridge and dropped by every NAT's NIC)
INTERNET_HOP = "172.16.0.254"
INTERNET_MAC = "02:00:5e:00:00:fe"

# site -> (its LAN's /24 prefix, the NAT's public address, masquerade options)
_SITES = {
    "easy": ("10.1.0", "172.16.0.11", ""),
    "hard": ("10.2.0", "172.16.0.12", " fully-random"),
}


class LabError(RuntimeError):
    pass


def _run(args: Sequence[str], *, input: str | None = None) -> str:
    done = subprocess.run(list(args), capture_output=True, text=True, input=input, timeout=30)
    if done.returncode != 0:
        raise LabError(f"{' '.join(args)}: {done.stderr.strip() or done.returncode}")
    return done.stdout


@dataclass
class LabHost:
    """One namespace of the lab, with the address its programs use."""

    namespace: str
    address: str

    def command(self, args: Sequence[str]) -> list[str]:
        return [IP, "netns", "exec", self.namespace, *args]

    def run(self, *args: str, input: str | None = None) -> str:
        return _run(self.command(args), input=input)

    def popen(self, args: Sequence[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        """A process inside the namespace (``ip netns exec`` execs it: same pid)."""
        return subprocess.Popen(self.command(args), **kwargs)


@dataclass
class NatLab:
    """The lab's namespaces and what runs in them; `build` then `close` (idempotent)."""

    directory: Path
    prefix: str = field(default_factory=lambda: f"ssnat{secrets.token_hex(3)}")
    namespaces: list[str] = field(default_factory=list)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    hosts: dict[str, LabHost] = field(default_factory=dict)
    nats: dict[str, LabHost] = field(default_factory=dict)
    public: LabHost | None = None
    turn: TurnServer | None = None
    stacks: list[LabStack] = field(default_factory=list)

    # --- building ---------------------------------------------------------------

    def _namespace(self, role: str) -> str:
        name = f"{self.prefix}-{role}"
        _run([IP, "netns", "add", name])
        self.namespaces.append(name)
        _run([IP, "-n", name, "link", "set", "lo", "up"])
        return name

    @staticmethod
    def _veth(ns_a: str, name_a: str, ns_b: str, name_b: str) -> None:
        # Made inside the namespaces directly: the names never exist outside them.
        _run([IP, "link", "add", name_a, "netns", ns_a, "type", "veth",
              "peer", "name", name_b, "netns", ns_b])
        for ns, name in ((ns_a, name_a), (ns_b, name_b)):
            _run([IP, "-n", ns, "link", "set", name, "up"])

    def build(self) -> NatLab:
        public = self._namespace("public")
        _run([IP, "-n", public, "link", "add", "br0", "type", "bridge"])
        _run([IP, "-n", public, "link", "set", "br0", "up"])
        for address in (STUN_PRIMARY[0], STUN_ALTERNATE[0]):
            _run([IP, "-n", public, "addr", "add", f"{address}/24", "dev", "br0"])
        # The public side is a stand-in for the Internet, where a datagram to an
        # address nobody routes (a peer's private host candidate) is lost on the
        # way, not refused at once: a default route to a next hop that drops
        # everything. Without it the kernel answers ENETUNREACH to coturn's relay
        # socket, and coturn (4.6) then relays nothing more for that allocation.
        _run([IP, "-n", public, "neigh", "add", INTERNET_HOP, "lladdr", INTERNET_MAC,
              "dev", "br0", "nud", "permanent"])
        _run([IP, "-n", public, "route", "add", "default", "via", INTERNET_HOP])
        self.public = LabHost(public, STUN_PRIMARY[0])
        for site, (lan, wan, masquerade) in _SITES.items():
            nat = self._namespace(f"nat-{site}")
            host = self._namespace(f"lan-{site}")
            self._veth(public, f"to-{site}", nat, "wan")
            _run([IP, "-n", public, "link", "set", f"to-{site}", "master", "br0"])
            self._veth(nat, "lan", host, "eth0")
            _run([IP, "-n", nat, "addr", "add", f"{wan}/24", "dev", "wan"])
            _run([IP, "-n", nat, "addr", "add", f"{lan}.1/24", "dev", "lan"])
            _run([IP, "netns", "exec", nat, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1"])
            # Source NAT for the LAN; only replies (conntrack) come back in, and
            # nothing from the public side reaches the LAN otherwise.
            _run([IP, "netns", "exec", nat, NFT, "-f", "-"], input=(
                "table ip lab {\n"
                "  chain postrouting { type nat hook postrouting priority srcnat;\n"
                f'    oifname "wan" masquerade{masquerade}\n  }}\n'
                "  chain forward { type filter hook forward priority filter; policy drop;\n"
                '    iifname "lan" oifname "wan" accept\n'
                "    ct state established,related accept\n  }\n"
                "}\n"
            ))
            _run([IP, "-n", host, "addr", "add", f"{lan}.2/24", "dev", "eth0"])
            _run([IP, "-n", host, "route", "add", "default", "via", f"{lan}.1"])
            self.nats[site] = LabHost(nat, wan)
            self.hosts[site] = LabHost(host, f"{lan}.2")
        return self

    def start_turn(self) -> None:
        """coturn on both public addresses: STUN (with RFC 5780) and TURN (long-term auth)."""
        assert self.public is not None
        self.turn = start_turnserver((STUN_PRIMARY[0], STUN_ALTERNATE[0]), STUN_PRIMARY[1],
                                     self.directory, prefix=self.public.command(()))
        self.processes.append(self.turn.process)

    def open_sip_path(self, port: int) -> None:
        """Let SIP (UDP `port` to `port`) go between the two LANs, routed and not translated.

        What the calls across the lab need to signal while their media still
        has to cross the NATs: each NAT routes the other LAN through the other
        NAT, does not masquerade these datagrams and lets them in; anything
        else between the LANs (media to a host candidate, say) is still
        masqueraded on the way out and dropped on the way in. SIP through
        NATs (Contacts with private addresses, a registrar's keep-alives) is
        another matter than ICE, and not what these calls test.
        """
        for site, nat in self.nats.items():
            [other] = [s for s in _SITES if s != site]
            other_lan, other_wan, _ = _SITES[other]
            _run([IP, "-n", nat.namespace, "route", "add", f"{other_lan}.0/24", "via", other_wan])
            sip = f"ip saddr 10.0.0.0/8 ip daddr 10.0.0.0/8 udp sport {port} udp dport {port}"
            _run([IP, "netns", "exec", nat.namespace, NFT, "-f", "-"], input=(
                f"insert rule ip lab postrouting {sip} accept\n"
                f"insert rule ip lab forward {sip} accept\n"
            ))

    def open_public_sip_path(self, port: int) -> None:
        """Let SIP (UDP from and to `port`) go between each LAN and the public side, routed
        and not translated, so that a public host's requests in a dialog reach the
        Contact (a LAN address) of an end behind a NAT; the media still crosses the NATs.
        """
        assert self.public is not None
        for site, nat in self.nats.items():
            lan, wan, _ = _SITES[site]
            self.public.run(IP, "route", "add", f"{lan}.0/24", "via", wan)
            nat.run(NFT, "-f", "-", input=(
                f"insert rule ip lab postrouting ip saddr {lan}.0/24 udp sport {port} accept\n"
                f"insert rule ip lab forward ip daddr {lan}.0/24 udp dport {port} accept\n"
            ))

    def stack(self, site: str | LabHost) -> LabStack:
        """A `LabStack` for `site`'s host (or this host), stopped with the lab."""
        host = site if isinstance(site, LabHost) else self.hosts[site]
        stack = LabStack(host, Path(tempfile.mkdtemp(prefix="ssl-", dir="/tmp")))
        self.stacks.append(stack)
        return stack

    # --- tearing down -------------------------------------------------------------

    @staticmethod
    def _end_leftovers(namespace: str) -> None:
        for _ in range(3):
            listed = subprocess.run([IP, "netns", "pids", namespace], capture_output=True,
                                    text=True, timeout=30).stdout.split()
            if not listed:
                return
            for pid in listed:
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
            time.sleep(0.2)  # reaped by their parents (or init) meanwhile

    def close(self) -> None:
        """Stop what runs inside, then delete the namespaces (and with them everything)."""
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        self.processes.clear()
        for stack in self.stacks:
            stack.stop()
        self.stacks.clear()
        for name in self.namespaces:
            # What still runs inside (a daemon a test started there, a stack whose
            # supervisord did not stop) is ours: it runs in a namespace of this lab.
            self._end_leftovers(name)
        for name in reversed(self.namespaces):
            # A namespace still holding a process is only unlinked by this; the
            # processes were ended above, so nothing is left behind.
            subprocess.run([IP, "netns", "del", name], capture_output=True, timeout=30)
        self.namespaces.clear()


@pytest.fixture
def nat_lab(tmp_path: Path) -> Iterator[NatLab]:
    """The lab with coturn running; removed at teardown even when the test failed."""
    if not lab_available():
        peers.skip(NETNS_PEER)
    if not Path(TURNSERVER).exists():
        peers.skip(COTURN_PEER)
    lab = NatLab(tmp_path)
    try:
        lab.build()
        lab.start_turn()
        yield lab
    finally:
        lab.close()


# --- our services inside the lab ------------------------------------------------------


@dataclass
class LabStack:
    """Our four services for an account, inside a LAN host, and the facade processes beside them.

    A directory of its own holds the runtime (bus sockets), state (logs) and
    configuration directories, so that two stacks (the two ends of a call)
    and the test's own services never meet. `start` runs ``sipsimple services
    start`` inside the namespace (supervisord and the services live there,
    signalling bound to the host's address); `sipsimple(...)` runs a CLI
    process there with the stack's environment, e.g. ``answer`` or ``call``,
    whose facade then sees the LAN as its network: the facade picks the SDP
    address with a socket of its own (`sipsimple.session.sdp.local_address_for`),
    so a facade for services inside a namespace must run inside it too.
    `make_account` stores an account in the stack's configuration.
    """

    host: LabHost
    directory: Path
    started: bool = False

    @property
    def runtime(self) -> Path:
        return self.directory / "run"

    @property
    def config(self) -> Path:
        return self.directory / "config"

    def env(self, **extra: str) -> dict[str, str]:
        for path in (self.runtime, self.directory / "state", self.config):
            path.mkdir(mode=0o700, exist_ok=True)
        return {**os.environ, "SIPSIMPLE_RUNTIME_DIR": str(self.runtime),
                "SIPSIMPLE_STATE_DIR": str(self.directory / "state"),
                "SIPSIMPLE_CONFIG_DIR": str(self.config),
                "SIPSIMPLE_SIP_HOST": self.host.address, "PYTHONUNBUFFERED": "1", **extra}

    def command(self, *args: str) -> list[str]:
        return self.host.command([sys.executable, "-m", "sipsimple", *args])

    def sipsimple(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """A CLI command inside the namespace, to its end."""
        return subprocess.run(self.command(*args), env=self.env(), capture_output=True,
                              text=True, timeout=timeout)

    def popen(self, *args: str, **kwargs: Any) -> subprocess.Popen[bytes]:
        """A CLI process inside the namespace (``answer``, ``call``); the caller ends it."""
        return subprocess.Popen(self.command(*args), env=self.env(), **kwargs)

    def make_account(self, aor: str, *options: str) -> None:
        """An account (no registration, no password asked) in the stack's configuration."""
        done = subprocess.run(self.command("accounts", "add", aor, "--password-stdin",
                                           "--no-register", *options),
                              env=self.env(), input="x\n", capture_output=True, text=True,
                              timeout=60)
        if done.returncode != 0:
            raise LabError(f"accounts add {aor}: {done.stderr or done.stdout}")

    def start(self, **env: str) -> None:
        done = subprocess.run(self.command("services", "start"), env=self.env(**env),
                              capture_output=True, text=True, timeout=120)
        self.started = True
        if done.returncode != 0:
            raise LabError(f"services start in {self.host.namespace}: {done.stderr}")

    def stop(self) -> None:
        if self.started:
            subprocess.run(self.command("services", "stop"), env=self.env(),
                           capture_output=True, timeout=120)
            self.started = False
        shutil.rmtree(self.directory, ignore_errors=True)


SERVICES = (("sipsimple_services.dns", "dns"), ("sipsimple_services.media", "media"),
            ("sipsimple_services.msrp", "msrp"), ("sipsimple_services.signalling", "signalling"))


@pytest.fixture
def lab_services(nat_lab: NatLab, spawn_service: Callable[..., Any]
                 ) -> Callable[..., None]:
    """Start our services inside a lab host, on the test's runtime directory.

    ``lab_services("easy")`` runs dns, media, msrp and signalling in
    ``lan-easy``, SIP bound to its address (10.1.0.2): the test's facade
    (outside, in the test process) reaches them over the bus as usual.
    ``only`` picks some of them; ``env`` adds environment for all.
    """
    def start(site: str, only: Sequence[str] | None = None, **env: str) -> None:
        host = nat_lab.hosts[site]
        for module, service in SERVICES:
            if only is None or service in only:
                extra = {"SIPSIMPLE_SIP_HOST": host.address} if service == "signalling" else {}
                spawn_service(module, service, netns=host.namespace, **extra, **env)

    return start
