"""TLS between two signalling service processes, each with its own runtime directory and bus.

A test CA (harness.tlsca) issues the callee's certificate. The caller verifies
it against the CA: a certificate for "sip.test" (SAN 127.0.0.1 too) is
accepted when the route names "sip.test"; a certificate for another name, or a
route naming another server, fails the call with a 503 whose reason says why.
"""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from harness.notifications import Recorder
from harness.processes import stop_process, wait_for_ping
from harness.tlsca import Leaf, TestCA

from sipsimple.bus.client import BusClient, BusError, get_bus
from sipsimple.notification import Notification

pytestmark = [pytest.mark.integration]

CALLEE = "sip:bob@sip.test"
SDP = (b"v=0\r\no=sipsimple 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
       b"t=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")
ANSWER = SDP.replace(b"40000", b"42000")
SESSION_EVENTS = tuple(f"signalling.session_{name}" for name in
                       ("incoming", "state", "established", "ended", "failed"))


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    return TestCA(tmp_path_factory.mktemp("ca"))


def tls_env(leaf: Leaf, ca: TestCA) -> dict[str, str]:
    return {"SIPSIMPLE_SIP_TRANSPORTS": "udp,tcp,tls",
            "SIPSIMPLE_SIP_TLS_CERTIFICATE": str(leaf.cert),
            "SIPSIMPLE_SIP_TLS_PRIVATE_KEY": str(leaf.key),
            "SIPSIMPLE_SIP_TLS_CA_FILE": str(ca.path), "SIPSIMPLE_CLIENT_TIMEOUT": "2"}


class Peer:
    """A second signalling service in its own runtime directory, and a bus client to it."""

    def __init__(self, process: subprocess.Popen[bytes], bus: BusClient,
                 *directories: Path) -> None:
        self.process = process
        self.bus = bus
        self.directories = directories


@pytest.fixture
def second_service(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Peer]]:
    started: list[Peer] = []

    def start(env: dict[str, str]) -> Peer:
        runtime = Path(tempfile.mkdtemp(prefix="ss2-", dir="/tmp"))
        state = Path(tempfile.mkdtemp(prefix="sst2-", dir="/tmp"))
        process = subprocess.Popen(
            [sys.executable, "-m", "sipsimple_services.signalling"],
            env={**os.environ, **env, "SIPSIMPLE_RUNTIME_DIR": str(runtime),
                 "SIPSIMPLE_STATE_DIR": str(state)},
            cwd=Path(__file__).parent,
        )
        # BusClient reads the endpoints when it connects: at start (its bus thread)
        # and on a thread's first call, so both happen while the variable points here.
        with monkeypatch.context() as patch:
            patch.setenv("SIPSIMPLE_RUNTIME_DIR", str(runtime))
            patch.setenv("SIPSIMPLE_STATE_DIR", str(state))
            bus = BusClient(services=["signalling"])
            peer = Peer(process, bus, runtime, state)
            started.append(peer)
            deadline = time.monotonic() + 15
            while True:
                if process.poll() is not None:
                    raise RuntimeError(
                        f"second signalling service exited with {process.returncode}")
                try:
                    wait_for_ping("signalling", timeout=0.5)
                    break
                except BusError:
                    if time.monotonic() > deadline:
                        raise
            bus.start()
            bus.ping("signalling", timeout=5)
        return peer

    yield start
    for peer in started:
        peer.bus.stop(goodbye=False)
        stop_process(peer.process)
        for directory in peer.directories:
            shutil.rmtree(directory, ignore_errors=True)


def session_event(recorder: Recorder, name: str, sid: str,
                  predicate: Callable[[Any], bool] = lambda data: True,
                  timeout: float = 15) -> Any:
    def match(notification: Notification) -> bool:
        return (notification.name == f"signalling.session_{name}"
                and notification.data.session_id == sid and predicate(notification.data))
    return recorder.wait(match, timeout).data


@pytest.fixture
def caller(spawn_service: Callable[..., Any], ca: TestCA) -> BusClient:
    """Our first service (the test's own runtime directory), calling over TLS."""
    leaf = ca.issue("caller", "caller.test", dns=("caller.test",), ips=("127.0.0.1",))
    spawn_service("sipsimple_services.signalling", "signalling", **tls_env(leaf, ca))
    bus = get_bus()
    bus.call("signalling", "get_transports")  # connects this thread before the second bus exists
    return bus


def callee(second_service: Callable[..., Peer], ca: TestCA, leaf: Leaf) -> tuple[Peer, int]:
    peer = second_service(tls_env(leaf, ca))
    transports = peer.bus.call("signalling", "get_transports")
    peer.bus.call("signalling", "claim_account", aor=CALLEE)
    return peer, int(transports["tls"])


def invite(bus: BusClient, port: int, tls_name: str) -> str:
    reply = bus.call("signalling", "invite", from_uri="sip:alice@caller.test",
                     to_uri=f"{CALLEE};transport=tls", body=SDP, content_type="application/sdp",
                     route={"host": "127.0.0.1", "port": port, "transport": "tls",
                            "tls_name": tls_name})
    sid: str = reply["session_id"]
    return sid


def test_call_over_tls_verified_against_the_test_ca(
    caller: BusClient, second_service: Callable[..., Peer], ca: TestCA,
) -> None:
    leaf = ca.issue("sip-test", "sip.test", dns=("sip.test",), ips=("127.0.0.1",))
    peer, port = callee(second_service, ca, leaf)
    with Recorder(*SESSION_EVENTS, sender=caller) as ours, \
            Recorder(*SESSION_EVENTS, sender=peer.bus) as theirs:
        sid = invite(caller, port, "sip.test")
        incoming = theirs.wait("signalling.session_incoming").data
        assert incoming.source["transport"] == "tls"
        assert incoming.body == SDP and incoming.request_uri.startswith(CALLEE)
        peer.bus.call("signalling", "accept", session_id=incoming.session_id, body=ANSWER,
                      content_type="application/sdp")
        established = session_event(ours, "established", sid)
        assert established.transport == "tls"
        assert established.remote_body == ANSWER and b"PCMU/8000" in established.remote_body
        session_event(theirs, "established", incoming.session_id)
        caller.call("signalling", "end", session_id=sid)
        assert session_event(ours, "ended", sid).originator == "local"
        assert session_event(theirs, "ended", incoming.session_id).originator == "remote"


@pytest.mark.parametrize(("cert_name", "tls_name"), [
    ("wrong.test", "sip.test"),  # the server's certificate names another host
    ("sip.test", "other.test"),  # the route names another host than the certificate
])
def test_server_certificate_for_another_name_is_refused(
    caller: BusClient, second_service: Callable[..., Peer], ca: TestCA,
    cert_name: str, tls_name: str,
) -> None:
    ips = ("127.0.0.1",) if cert_name == "sip.test" else ()
    leaf = ca.issue(f"{cert_name}-only", cert_name, dns=(cert_name,), ips=ips)
    peer, port = callee(second_service, ca, leaf)
    with Recorder(*SESSION_EVENTS, sender=caller) as ours, \
            Recorder(*SESSION_EVENTS, sender=peer.bus) as theirs:
        sid = invite(caller, port, tls_name)
        failed = session_event(ours, "failed", sid)
        assert failed.code == 503
        assert failed.originator == "local"  # the 503 was made here, not by the peer
        reason = failed.reason.lower()
        assert "certificate" in reason and tls_name in reason, failed.reason
        assert not theirs.named("signalling.session_incoming")


# -- REGISTER and SUBSCRIBE to a server addressed by IP, verified against the route's name ----


class TLSRegistrar:
    """A TLS server on loopback answering REGISTER and SUBSCRIBE with 200 (one thread).

    Its certificate names only "registrar.test" (no IP address): a client that
    verifies against the IP it connected to fails the handshake.
    """

    def __init__(self, leaf: Leaf) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(leaf.cert, leaf.key)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self.received: list[str] = []
        self.handshakes_failed = 0
        self.got_request = threading.Event()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopping.is_set():
            try:
                raw, _address = self.listener.accept()
            except TimeoutError:
                continue
            try:
                with self.context.wrap_socket(raw, server_side=True) as tls:
                    tls.settimeout(0.2)
                    self._answer(tls)
            except (ssl.SSLError, ConnectionError):
                self.handshakes_failed += 1

    def _answer(self, tls: ssl.SSLSocket) -> None:
        buffer = b""
        while not self.stopping.is_set():
            try:
                data = tls.recv(65536)
            except TimeoutError:
                continue
            if not data:
                return
            buffer += data
            while b"\r\n\r\n" in buffer:  # our requests here have no body
                head, buffer = buffer.split(b"\r\n\r\n", 1)
                lines = head.decode().split("\r\n")
                if not lines[0].strip():
                    continue  # a keep-alive
                method = lines[0].split(" ", 1)[0]
                self.received.append(method)
                copied = [line for line in lines[1:] if line.split(":", 1)[0].lower() in (
                    "via", "from", "call-id", "cseq", "contact", "expires")]
                to = next(line for line in lines[1:] if line.lower().startswith("to:"))
                response = "\r\n".join([
                    "SIP/2.0 200 OK", *copied, f"{to};tag=registrar1", "Content-Length: 0",
                    "", ""])
                tls.sendall(response.encode())
                self.got_request.set()

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(5)
        self.listener.close()


@pytest.fixture
def registrar(ca: TestCA) -> Iterator[TLSRegistrar]:
    server = TLSRegistrar(ca.issue("registrar", "registrar.test", dns=("registrar.test",)))
    yield server
    server.stop()


@pytest.fixture
def tls_client(spawn_service: Callable[..., Any], ca: TestCA) -> BusClient:
    """Our service, verifying TLS servers against the test CA (no TLS listener)."""
    spawn_service("sipsimple_services.signalling", "signalling",
                  SIPSIMPLE_SIP_TLS_CA_FILE=str(ca.path), SIPSIMPLE_CLIENT_TIMEOUT="2")
    return get_bus()


def registrar_route(registrar: TLSRegistrar, tls_name: str | None) -> dict[str, Any]:
    route: dict[str, Any] = {"host": "127.0.0.1", "port": registrar.port, "transport": "tls"}
    if tls_name is not None:
        route["tls_name"] = tls_name
    return route


def test_register_over_tls_verifies_the_routes_name(
    tls_client: BusClient, registrar: TLSRegistrar,
) -> None:
    with Recorder("signalling.registration_succeeded", "signalling.registration_failed",
                  sender=tls_client) as events:
        rid = tls_client.call("signalling", "register", aor="sip:alice@registrar.test",
                              registrar=registrar_route(registrar, "registrar.test"),
                              expires=300)["registration_id"]
        done = events.wait(lambda n: n.data.registration_id == rid, timeout=15)
    assert done.name == "signalling.registration_succeeded", done.data
    assert registrar.received == ["REGISTER"] and registrar.handshakes_failed == 0


def test_register_over_tls_without_the_name_fails_against_the_ip(
    tls_client: BusClient, registrar: TLSRegistrar,
) -> None:
    with Recorder("signalling.registration_failed", sender=tls_client) as events:
        rid = tls_client.call("signalling", "register", aor="sip:alice@registrar.test",
                              registrar=registrar_route(registrar, None),
                              expires=300)["registration_id"]
        failed = events.wait(lambda n: n.data.registration_id == rid, timeout=15).data
    assert failed.code == 503 and "certificate" in failed.reason.lower(), failed
    assert registrar.received == []


def test_subscribe_over_tls_verifies_the_routes_name(
    tls_client: BusClient, registrar: TLSRegistrar,
) -> None:
    tls_client.call("signalling", "subscribe", from_uri="sip:alice@registrar.test",
                    to_uri="sip:alice@registrar.test", event="message-summary",
                    route=registrar_route(registrar, "registrar.test"), expires=300)
    assert registrar.got_request.wait(15)
    assert registrar.received[0] == "SUBSCRIBE" and registrar.handshakes_failed == 0
