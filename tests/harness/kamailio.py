"""Kamailio 5.6 (Debian package `kamailio`) as a registrar + proxy on loopback.

pytest plugin module: add ``"harness.kamailio"`` to ``pytest_plugins``.

Fixtures:

- ``kamailio`` (module-scoped): one instance per test module, users
  ``alice``/``bob``/``carol`` (password ``<name>-secret``) known from the
  start; more with ``add_user``. Module scope keeps registrations from one
  module out of the next, while a module's tests share one ~0.3 s start.
- ``kamailio_factory`` (function-scoped): start private instances with your
  own users, domain or ``-A`` defines (e.g. ``WITH_MSRP`` later).

The domain is ``sip.test`` by default, a name (not the IP) so that clients
exercise "domain differs from the proxy address": they must use
``kamailio.proxy_uri(transport)`` as registrar / outbound proxy (no DNS is
needed). ``127.0.0.1`` is also "myself" to the proxy.

Config: tests/data/kamailio/kamailio.cfg.in; digest auth (401 for REGISTER,
407 for other initial requests from local users), 403 for a wrong password
or unknown user, usrloc in memory, record_route + loose_route, forwarding to
registered contacts. The instance log (Kamailio's stderr) is ``.log_path``.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from harness import peers
from harness.loopback import free_tcp_udp_port
from harness.processes import stop_process

TEMPLATE = Path(__file__).parent.parent / "data" / "kamailio" / "kamailio.cfg.in"
KAMAILIO = shutil.which("kamailio") or "/usr/sbin/kamailio"
KAMCMD = shutil.which("kamcmd") or "/usr/sbin/kamcmd"

KAMAILIO_PEER = "kamailio (Debian package kamailio)"
needs_kamailio = peers.needs(KAMAILIO_PEER, Path(KAMAILIO).exists())

DEFAULT_USERS: dict[str, str] = {name: f"{name}-secret" for name in ("alice", "bob", "carol")}

# Values end up inside a double-quoted Kamailio string and an RPC argument.
_SAFE = re.compile(r"^[A-Za-z0-9._~+-]{1,64}$")


def _check_safe(value: str, what: str) -> str:
    if not _SAFE.match(value):
        raise ValueError(f"{what} {value!r}: only [A-Za-z0-9._~+-] allowed")
    return value


@dataclass(frozen=True)
class Registration:
    aor: str
    contact: str
    expires: int | None = None


@dataclass
class Kamailio:
    """A running Kamailio; ``stop()`` ends it (the fixtures do that)."""

    rundir: Path
    domain: str
    udp_port: int
    tcp_port: int
    users: dict[str, str]
    msrp_port: int | None = None
    host: str = "127.0.0.1"
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def config_path(self) -> Path:
        return self.rundir / "kamailio.cfg"

    @property
    def log_path(self) -> Path:
        return self.rundir / "kamailio.log"

    @property
    def ctl_socket(self) -> Path:
        return self.rundir / "kamailio_ctl"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def port(self, transport: str = "udp") -> int:
        return self.udp_port if transport.lower() == "udp" else self.tcp_port

    def address(self, transport: str = "udp") -> tuple[str, int]:
        return (self.host, self.port(transport))

    def proxy_uri(self, transport: str = "udp", *, lr: bool = True) -> str:
        """``sip:127.0.0.1:PORT;transport=udp[;lr]``: registrar / outbound proxy."""
        uri = f"sip:{self.host}:{self.port(transport)};transport={transport.lower()}"
        return uri + (";lr" if lr else "")

    def aor(self, user: str) -> str:
        return f"sip:{user}@{self.domain}"

    def password(self, user: str) -> str:
        return self.users[user]

    def log(self, tail: int = 8000) -> str:
        """The end of the instance's log, for assertion messages."""
        try:
            return self.log_path.read_text(errors="replace")[-tail:]
        except OSError:
            return ""

    # -- RPC -------------------------------------------------------------

    def kamcmd(self, *args: str, timeout: float = 5.0) -> str:
        result = subprocess.run(
            [KAMCMD, "-s", f"unix:{self.ctl_socket}", *args],
            capture_output=True, text=True, timeout=timeout,
        )
        if result.returncode != 0:
            raise RuntimeError(f"kamcmd {' '.join(args)}: {result.stderr.strip() or result.stdout}")
        return result.stdout

    def add_user(self, name: str, password: str) -> None:
        """Add (or change) a user at run time; effective for the next request."""
        self.kamcmd("htable.sets", "creds", _check_safe(name, "user"),
                    _check_safe(password, "password"))
        self.users[name] = password

    def remove_user(self, name: str) -> None:
        self.kamcmd("htable.delete", "creds", _check_safe(name, "user"))
        self.users.pop(name, None)

    def registrations(self) -> list[Registration]:
        """Current location table: one entry per (AoR, contact)."""
        return parse_ul_dump(self.kamcmd("ul.dump"))

    def contacts(self, user: str) -> list[str]:
        return [r.contact for r in self.registrations() if r.aor == user]

    def wait_registered(self, user: str, count: int = 1, timeout: float = 5.0) -> list[str]:
        deadline = time.monotonic() + timeout
        while True:
            contacts = self.contacts(user)
            if len(contacts) >= count or time.monotonic() > deadline:
                return contacts
            time.sleep(0.05)

    # -- life cycle --------------------------------------------------------

    def options_ping(self, timeout: float = 0.3) -> bool:
        """True when Kamailio answers an OPTIONS to itself over UDP with 200."""
        call_id = uuid.uuid4().hex
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind((self.host, 0))
            sock.settimeout(timeout)
            lport = sock.getsockname()[1]
            request = (
                f"OPTIONS sip:{self.host}:{self.udp_port} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP {self.host}:{lport};branch=z9hG4bK{call_id[:16]};rport\r\n"
                "Max-Forwards: 70\r\n"
                f"From: <sip:probe@{self.host}>;tag={call_id[:8]}\r\n"
                f"To: <sip:{self.host}:{self.udp_port}>\r\n"
                f"Call-ID: {call_id}\r\n"
                "CSeq: 1 OPTIONS\r\n"
                "Content-Length: 0\r\n\r\n"
            )
            sock.sendto(request.encode(), (self.host, self.udp_port))
            try:
                data = sock.recv(65535)
            except (TimeoutError, ConnectionRefusedError):
                return False
        return data.startswith(b"SIP/2.0 200")

    def _tcp_open(self) -> bool:
        try:
            with socket.create_connection((self.host, self.tcp_port), timeout=0.3):
                return True
        except OSError:
            return False

    def start(self, defines: Iterable[str] = (), timeout: float = 10.0) -> None:
        define_args = [arg for name in defines for arg in ("-A", name)]
        check = subprocess.run(
            [KAMAILIO, "-c", "-f", str(self.config_path), *define_args],
            capture_output=True, text=True, timeout=30,
        )
        if check.returncode != 0:
            raise RuntimeError(f"kamailio -c failed:\n{check.stderr[-4000:]}")
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [KAMAILIO, "-f", str(self.config_path), "-DD", "-E", "-Y", str(self.rundir),
                 "-m", "64", "-M", "8", *define_args],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                cwd=self.rundir,
            )
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"kamailio exited with {self.process.returncode}:\n{self.log()}")
            if self.options_ping() and self._tcp_open() and self.ctl_socket.exists():
                return
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"kamailio not answering after {timeout}s:\n{self.log()}")
            time.sleep(0.05)

    def stop(self, timeout: float = 5.0) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        # -DD keeps the main process in our hands; it takes its children down on SIGTERM.
        stop_process(process, timeout)


def render_config(
    *, rundir: Path, domain: str, udp_port: int, tcp_port: int,
    users: Mapping[str, str], msrp_port: int | None = None,
) -> str:
    lines = "\n".join(
        f'\t$sht(creds=>{_check_safe(name, "user")}) = "{_check_safe(password, "password")}";'
        for name, password in users.items()
    ) or "\treturn;"
    replace = {
        "RUNDIR": str(rundir), "DOMAIN": _check_safe(domain, "domain"),
        "UDP_PORT": str(udp_port), "TCP_PORT": str(tcp_port),
        "MSRP_PORT": str(msrp_port or 0), "USERS": lines,
    }
    text = TEMPLATE.read_text()
    for key, value in replace.items():
        text = text.replace(f"@{key}@", value)
    return text


def start_kamailio(
    rundir: Path | None = None, *, users: Mapping[str, str] | None = None,
    domain: str = "sip.test", defines: Iterable[str] = (),
) -> Kamailio:
    """Render the config into ``rundir`` (a fresh temp dir by default), check it, start it."""
    # The ctl unix socket path must stay short (~100 bytes): /tmp, not pytest's tmp_path.
    rundir = rundir or Path(tempfile.mkdtemp(prefix="kam-", dir="/tmp"))
    defines = list(defines)
    udp_port = free_tcp_udp_port()
    tcp_port = free_tcp_udp_port()
    while tcp_port == udp_port:
        tcp_port = free_tcp_udp_port()
    msrp_port = free_tcp_udp_port() if "WITH_MSRP" in defines else None
    instance = Kamailio(
        rundir=rundir, domain=domain, udp_port=udp_port, tcp_port=tcp_port,
        users=dict(DEFAULT_USERS if users is None else users), msrp_port=msrp_port,
    )
    instance.config_path.write_text(render_config(
        rundir=rundir, domain=domain, udp_port=udp_port, tcp_port=tcp_port,
        users=instance.users, msrp_port=msrp_port,
    ))
    # A free port can be taken between the pick and the bind; one retry on new ports.
    try:
        instance.start(defines)
    except RuntimeError:
        if "Address already in use" not in instance.log():
            raise
        return start_kamailio(rundir, users=users, domain=domain, defines=defines)
    return instance


_RE_AOR = re.compile(r"^\s*AoR:\s*(\S+)")
_RE_ADDR = re.compile(r"^\s*Address:\s*(\S+)")
_RE_EXPIRES = re.compile(r"^\s*Expires:\s*(-?\d+)")


def parse_ul_dump(text: str) -> list[Registration]:
    """Parse ``kamcmd ul.dump`` (binrpc pretty-printed structs) into registrations."""
    result: list[Registration] = []
    aor: str | None = None
    contact: str | None = None

    def flush(expires: int | None = None) -> None:
        nonlocal contact
        if aor is not None and contact is not None:
            result.append(Registration(aor, contact, expires))
        contact = None

    for line in text.splitlines():
        if m := _RE_AOR.match(line):
            flush()
            aor = m.group(1)
        elif m := _RE_ADDR.match(line):
            flush()
            contact = m.group(1)
        elif (m := _RE_EXPIRES.match(line)) and contact is not None:
            flush(int(m.group(1)))
    flush()
    return result


@pytest.fixture(scope="module")
def kamailio() -> Iterator[Kamailio]:
    """Kamailio with users alice, bob, carol (password "<name>-secret"), domain sip.test."""
    if not Path(KAMAILIO).exists():
        peers.skip(KAMAILIO_PEER)
    instance = start_kamailio()
    yield instance
    instance.stop()
    shutil.rmtree(instance.rundir, ignore_errors=True)


@pytest.fixture
def kamailio_factory() -> Iterator[Callable[..., Kamailio]]:
    """``kamailio_factory(users={...}, domain=..., defines=[...])`` -> a private instance."""
    if not Path(KAMAILIO).exists():
        peers.skip(KAMAILIO_PEER)
    instances: list[Kamailio] = []

    def factory(**options: object) -> Kamailio:
        instance = start_kamailio(**options)  # type: ignore[arg-type]
        instances.append(instance)
        return instance

    yield factory
    for instance in instances:
        instance.stop()
        shutil.rmtree(instance.rundir, ignore_errors=True)


__all__ = [
    "DEFAULT_USERS", "Kamailio", "Registration", "kamailio", "kamailio_factory",
    "needs_kamailio", "parse_ul_dump", "start_kamailio",
]
