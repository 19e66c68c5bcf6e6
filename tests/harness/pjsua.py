"""pjsua2 (PyPI ``pjsua2-python``) as a scriptable SIP+RTP peer in a subprocess.

pytest plugin module: add ``"harness.pjsua"`` to ``pytest_plugins``.

pjsua2 is single-threaded and aborts the process on misuse, so it never runs
inside the test process: ``pjsua_worker.py`` owns the endpoint and speaks
line-based JSON over stdin/stdout; ``PjsuaPeer`` mirrors its commands and
collects its events (a reader thread; ``wait_event`` with a timeout).

Fixtures (function-scoped: every test gets fresh endpoints, ~0.2 s each):

- ``pjsua_factory(name="peer", codecs=...)`` -> a started ``PjsuaPeer``;
  all of them are stopped at teardown (quit command, then SIGKILL by PID).
- ``pjsua``: one peer named "peer".

Each peer has UDP and TCP SIP transports and an RTP port range on
127.0.0.1, a null audio device, and a local account
``sip:NAME@127.0.0.1:UDP_PORT`` (handle "a1") so it can be called directly.
By default incoming calls get 180 then 200 (``set_auto_answer``).

Events: ``ready``, ``reg_state`` (account, code, reason, expires, active),
``incoming_call`` (call, account, remote_uri, local_uri, call_id, message),
``call_state`` (call, state NULL/CALLING/INCOMING/EARLY/CONNECTING/
CONFIRMED/DISCONNECTED, code, reason, ...), ``media_state`` (call, active),
``dtmf`` (call, digit), ``playing``, ``recording``, ``recording_done``
(call, path: the WAV is complete), ``stopped``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import queue
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from harness import peers as peer_gate
from harness.loopback import free_tcp_udp_port

WORKER = Path(__file__).with_name("pjsua_worker.py")
DEFAULT_CODECS = ("PCMU/8000", "PCMA/8000", "G722/16000")

# Only looked up, never imported here: the library belongs to the worker process.
HAVE_PJSUA2 = importlib.util.find_spec("pjsua2") is not None

PJSUA2_PEER = "pjsua2 (PyPI package pjsua2-python)"
needs_pjsua2 = peer_gate.needs(PJSUA2_PEER, HAVE_PJSUA2)


class PjsuaError(RuntimeError):
    pass


def _free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _free_rtp_base(span: int = 100) -> int:
    """An even base port with `span` free UDP ports above it (pjsua's media range)."""
    for _ in range(100):
        base = (_free_port(socket.SOCK_DGRAM) // 2) * 2
        if base + span >= 65535:
            continue
        socks = []
        try:
            for port in range(base, base + span, 10):  # a sample: cheap and usually enough
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(sock)
                sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
        return base
    raise RuntimeError("no free RTP range")


class PjsuaPeer:
    """One pjsua2 endpoint in its own process."""

    def __init__(self, workdir: Path, *, name: str = "peer",
                 codecs: tuple[str, ...] = DEFAULT_CODECS, log_level: int = 4) -> None:
        self.workdir = workdir
        self.name = name
        self.codecs = codecs
        self.log_level = log_level
        self.udp_port = 0
        self.tcp_port = 0
        self.rtp_port = 0
        self.process: subprocess.Popen[str] | None = None
        self.events: list[dict[str, Any]] = []  # every event so far, in order
        self._consumed: set[int] = set()  # indexes handed out by wait_event
        self._cond = threading.Condition()
        self._replies: dict[int, queue.Queue[dict[str, Any]]] = {}
        self._next_id = 0
        self._lock = threading.Lock()
        self._reader: threading.Thread | None = None
        self._stderr = None

    # -- process ---------------------------------------------------------

    @property
    def log_path(self) -> Path:
        """pjsua's own log (SIP messages at level >= 4)."""
        return self.workdir / f"pjsua-{self.name}.log"

    @property
    def stderr_path(self) -> Path:
        return self.workdir / f"pjsua-{self.name}.stderr"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    @property
    def local_account(self) -> str:
        return "a1"

    def uri(self, transport: str = "udp") -> str:
        """Direct SIP URI of this peer (no registrar involved)."""
        port = self.udp_port if transport == "udp" else self.tcp_port
        return f"sip:{self.name}@127.0.0.1:{port};transport={transport}"

    def start(self, timeout: float = 10.0) -> None:
        # free for UDP and TCP alike: pjsua gets one number per transport
        self.udp_port = free_tcp_udp_port()
        self.tcp_port = free_tcp_udp_port()
        self.rtp_port = _free_rtp_base()
        self._stderr = self.stderr_path.open("w")
        self.process = subprocess.Popen(
            [sys.executable, str(WORKER), "--udp-port", str(self.udp_port),
             "--tcp-port", str(self.tcp_port), "--rtp-port", str(self.rtp_port),
             "--user", self.name, "--codecs", ",".join(self.codecs),
             "--log", str(self.log_path), "--log-level", str(self.log_level)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
            text=True, bufsize=1, cwd=self.workdir,
        )
        self._reader = threading.Thread(target=self._read, name=f"pjsua-{self.name}", daemon=True)
        self._reader.start()
        try:
            self.wait_event("ready", timeout=timeout)
        except PjsuaError:
            self.stop()
            raise

    def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if "event" in message:
                with self._cond:
                    self.events.append(message)
                    self._cond.notify_all()
            elif (box := self._replies.get(message.get("id", -1))) is not None:
                box.put(message)
        with self._cond:
            self.events.append({"event": "exited"})
            self._cond.notify_all()

    def stop(self, timeout: float = 5.0) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            try:
                assert process.stdin is not None
                process.stdin.write(json.dumps({"id": -1, "cmd": "quit"}) + "\n")
                process.stdin.flush()
            except OSError:
                pass
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def log(self, tail: int = 8000) -> str:
        """The end of pjsua's log and the worker's stderr, for assertion messages."""
        text = ""
        for path in (self.log_path, self.stderr_path):
            with contextlib.suppress(OSError):
                text += f"--- {path.name}\n" + path.read_text(errors="replace")[-tail:]
        return text

    # -- protocol --------------------------------------------------------

    def command(self, cmd: str, timeout: float = 5.0, **args: Any) -> Any:
        if self.process is None or self.process.poll() is not None:
            raise PjsuaError(f"pjsua peer {self.name} is not running\n{self.log(2000)}")
        with self._lock:
            self._next_id += 1
            ident = self._next_id
        box: queue.Queue[dict[str, Any]] = queue.Queue()
        self._replies[ident] = box
        try:
            assert self.process.stdin is not None
            self.process.stdin.write(json.dumps({"id": ident, "cmd": cmd, **args}) + "\n")
            self.process.stdin.flush()
            try:
                reply = box.get(timeout=timeout)
            except queue.Empty:
                raise PjsuaError(f"{cmd}: no reply within {timeout}s\n{self.log(2000)}") from None
        finally:
            self._replies.pop(ident, None)
        if not reply.get("ok"):
            raise PjsuaError(f"{cmd}: {reply.get('error')}")
        return reply.get("result")

    def wait_event(self, event: str, timeout: float = 5.0, **match: Any) -> dict[str, Any]:
        """The oldest not-yet-returned event named `event` whose fields equal `match`."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for index, message in enumerate(self.events):
                    if index in self._consumed or message.get("event") != event:
                        continue
                    if all(message.get(key) == value for key, value in match.items()):
                        self._consumed.add(index)
                        return message
                if self.events and self.events[-1].get("event") == "exited" and event != "exited":
                    raise PjsuaError(f"pjsua peer {self.name} exited while waiting for"
                                     f" {event} {match}\n{self.log(3000)}")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    seen = [m for m in self.events if m.get("event") == event]
                    raise PjsuaError(f"no {event} {match} within {timeout}s; seen: {seen[-5:]}")
                self._cond.wait(remaining)

    def wait_call_state(
        self, state: str, call: str | None = None, timeout: float = 5.0
    ) -> dict[str, Any]:
        match: dict[str, Any] = {"state": state}
        if call is not None:
            match["call"] = call
        return self.wait_event("call_state", timeout=timeout, **match)

    # -- commands (mirroring pjsua_worker.Worker.cmd_*) -------------------

    def info(self) -> dict[str, Any]:
        return dict(self.command("info"))

    def add_account(self, id_uri: str, *, registrar: str | None = None, username: str | None = None,
                    password: str | None = None, proxy: str | None = None, expires: int = 300,
                    realm: str = "*") -> str:
        """Create an account; with `registrar` it REGISTERs at once (watch ``reg_state``)."""
        return str(self.command(
            "add_account", id_uri=id_uri, registrar=registrar, username=username,
            password=password, proxy=proxy, expires=expires, realm=realm,
        ))

    def register(self, registrar: str, user: str, password: str, *, domain: str,
                 proxy: str | None = None, expires: int = 300, timeout: float = 5.0,
                 wait: bool = True) -> tuple[str, dict[str, Any] | None]:
        """Account ``sip:user@domain`` registering at `registrar` (outbound proxy defaults
        to the registrar). Returns (account handle, the first reg_state event or None)."""
        if proxy is None:
            proxy = registrar if ";lr" in registrar else registrar + ";lr"
        account = self.add_account(f"sip:{user}@{domain}", registrar=registrar.replace(";lr", ""),
                                   username=user, password=password, proxy=proxy, expires=expires)
        event = self.wait_event("reg_state", timeout=timeout, account=account) if wait else None
        return account, event

    def unregister(self, account: str) -> None:
        self.command("register", account=account, renew=False)

    def remove_account(self, account: str) -> None:
        self.command("remove_account", account=account)

    def set_auto_answer(self, code: int | None, *, ring_first: bool = True) -> None:
        """Answer incoming calls with `code` (None: only 180, answer with ``answer``)."""
        self.command("set_auto_answer", code=code, ring_first=ring_first)

    def make_call(self, uri: str, *, account: str | None = None,
                  headers: dict[str, str] | None = None) -> str:
        """Call `uri` from `account` (default: the newest one); returns the call handle."""
        return str(self.command("make_call", uri=uri, account=account, headers=headers))

    def answer(self, call: str | None = None, code: int = 200, reason: str = "") -> None:
        self.command("answer", call=call, code=code, reason=reason)

    def hangup(self, call: str | None = None, code: int = 0, reason: str = "") -> list[str]:
        """Hang up `call` (all calls when None); code 0 lets pjsua pick (BYE/CANCEL/603)."""
        return list(self.command("hangup", call=call, code=code, reason=reason))

    def play(self, path: str | Path, call: str | None = None, *, loop: bool = True) -> None:
        """Play a WAV (16-bit PCM) into the call, now or once its media is up."""
        self.command("play", path=str(path), call=call, loop=loop)

    def stop_play(self, call: str | None = None) -> None:
        self.command("stop_play", call=call)

    def record(self, path: str | Path, call: str | None = None) -> None:
        """Record the call's received audio to a WAV; complete after ``stop_record``
        or the call's end (``recording_done`` event)."""
        self.command("record", path=str(path), call=call)

    def stop_record(self, call: str | None = None) -> str | None:
        result = self.command("stop_record", call=call)
        return None if result is None else str(result)

    def send_dtmf(self, digits: str, call: str | None = None) -> None:
        """RFC 4733 telephone-events."""
        self.command("dtmf", digits=digits, call=call)

    def call_info(self, call: str | None = None) -> dict[str, Any]:
        return dict(self.command("call_info", call=call))


@pytest.fixture
def pjsua_factory() -> Iterator[Callable[..., PjsuaPeer]]:
    """``pjsua_factory(name="alice", codecs=("PCMU/8000",))`` -> a started peer."""
    if not HAVE_PJSUA2:
        peer_gate.skip(PJSUA2_PEER)
    # Short path in /tmp: the peer's files are named in error messages.
    workdir = Path(tempfile.mkdtemp(prefix="pjsua-", dir="/tmp"))
    peers: list[PjsuaPeer] = []

    def factory(name: str = "peer", **options: Any) -> PjsuaPeer:
        peer = PjsuaPeer(workdir, name=name, **options)
        peers.append(peer)
        peer.start()
        return peer

    yield factory
    for peer in peers:
        peer.stop()
    if not os.environ.get("PJSUA_KEEP"):
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def pjsua(pjsua_factory: Callable[..., PjsuaPeer]) -> PjsuaPeer:
    return pjsua_factory("peer")


__all__ = ["DEFAULT_CODECS", "PjsuaError", "PjsuaPeer", "needs_pjsua2", "pjsua", "pjsua_factory"]
