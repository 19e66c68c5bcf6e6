"""Who may use the bus: ZAP decisions, client ids bound to connections, CURVE on TCP.

The integration tests drive the real Service base (the owner test service)
over its real sockets, with raw zmq peers playing the intruders, including
one running as another local user (`nobody`).
"""

from __future__ import annotations

import os
import shutil
import socket as stdsocket
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import msgpack
import pytest
import zmq
from harness.notifications import Recorder
from harness.sipp import free_ports
from zmq.utils import z85
from zmq.utils.monitor import recv_monitor_message

from sipsimple.bus import endpoints
from sipsimple.bus.auth import Credentials, authenticate, client_id_of, server_keypair
from sipsimple.bus.client import BusClient, ServiceError
from sipsimple.bus.schema import PROTOCOL_VERSION, decode_reply

OWNER = "harness.owner_service"
Spawn = Callable[..., subprocess.Popen[bytes]]
HANDSHAKE_FAILED = (
    zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
    | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
    | zmq.EVENT_HANDSHAKE_FAILED_AUTH
)


def request(method: str, client: str, params: dict | None = None) -> bytes:
    return msgpack.packb(
        {"v": PROTOCOL_VERSION, "id": 1, "client": client, "method": method,
         "params": params or {}}
    )


# --- the ZAP decision ---------------------------------------------------------------------


def test_plain_proves_the_id_derived_from_the_key(tmp_path: Path) -> None:
    me = Credentials.generate()
    proof = [me.client_id.encode(), me.secret_key]
    assert authenticate(b"sipsimple", b"PLAIN", proof, tmp_path) == (me.client_id, "OK")
    other = Credentials.generate()
    # Another client's id with my key, or garbage for a key: refused.
    assert authenticate(b"sipsimple", b"PLAIN", [other.client_id.encode(), me.secret_key],
                        tmp_path)[0] is None
    assert authenticate(b"sipsimple", b"PLAIN", [b"x", b"not a key"], tmp_path)[0] is None
    assert authenticate(b"other", b"PLAIN", proof, tmp_path)[0] is None
    assert authenticate(b"sipsimple", b"NULL", [], tmp_path)[0] is None


def test_curve_accepts_only_registered_keys(tmp_path: Path) -> None:
    me = Credentials.generate()
    raw_key = z85.decode(me.public_key)
    assert authenticate(b"sipsimple", b"CURVE", [raw_key], tmp_path)[0] is None
    (tmp_path / f"{me.client_id}.key").write_bytes(me.public_key)
    assert authenticate(b"sipsimple", b"CURVE", [raw_key], tmp_path) == (me.client_id, "OK")
    assert client_id_of(me.public_key) == me.client_id


def test_the_server_keypair_is_made_once_and_private(runtime: Path) -> None:
    public, secret = server_keypair()
    assert server_keypair() == (public, secret)
    assert zmq.curve_public(secret) == public
    keys = runtime / "bus-keys"
    assert (keys.stat().st_mode & 0o777) == 0o700
    assert all((path.stat().st_mode & 0o077) == 0 for path in keys.iterdir())


# --- ownership follows the connection -------------------------------------------------------


@pytest.mark.integration
def test_a_client_cannot_speak_for_another(spawn_service: Spawn) -> None:
    spawn_service(OWNER, "media")
    victim = BusClient(services=["media"])
    victim.start()
    intruder = zmq.Context.instance().socket(zmq.DEALER)
    intruder.setsockopt(zmq.LINGER, 0)
    Credentials.generate().apply(intruder, endpoints.command_endpoint("media"))
    intruder.connect(endpoints.command_endpoint("media"))
    try:
        assert victim.call("media", "create", key="precious") == ["precious"]
        for method, params in (("goodbye", {}), ("create", {"key": "planted"})):
            intruder.send(request(method, victim.client_id, params))
            assert intruder.poll(10_000)
            reply = decode_reply(intruder.recv())
            assert reply.error is not None and reply.error.code == "forbidden"
            assert victim.client_id in reply.error.message
        # The victim's object survived, and nothing was made in its name.
        assert victim.call("media", "create", key="later") == ["later", "precious"]
    finally:
        intruder.close()
        victim.stop()


@pytest.mark.integration
def test_a_client_naming_another_gets_a_clear_error(spawn_service: Spawn) -> None:
    spawn_service(OWNER, "media")
    client = BusClient(services=["media"])
    client.start()
    try:
        client.client_id = Credentials.generate().client_id  # a body that lies
        with pytest.raises(ServiceError) as info:
            client.call("media", "create", key="x")
        assert info.value.code == "forbidden"
    finally:
        client.stop(goodbye=False)


# --- TCP: loopback only, CURVE --------------------------------------------------------------


@pytest.fixture
def tcp_owner(spawn_service: Spawn, monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    base = free_ports(2 * 4, kinds=(stdsocket.SOCK_STREAM,))
    monkeypatch.setenv(endpoints.TCP_BASE_ENV, f"127.0.0.1:{base}")
    spawn_service(OWNER, "media")
    yield base


def refused(socket: zmq.Socket, monitor: zmq.Socket) -> int:
    """Wait until the service refuses the handshake; the event that said so."""
    while monitor.poll(30_000):
        event = recv_monitor_message(monitor)["event"]
        if event & HANDSHAKE_FAILED:
            return event
        assert event != zmq.EVENT_HANDSHAKE_SUCCEEDED, "the service accepted the intruder"
    raise AssertionError("no handshake outcome")


@pytest.mark.integration
def test_tcp_bus_works_for_its_user(tcp_owner: int) -> None:
    client = BusClient(services=["media"])
    client.start()
    recorder = Recorder("test.tick", "ServiceDidConnect")
    try:
        assert endpoints.command_endpoint("media").startswith("tcp://127.0.0.1:")
        recorder.wait("ServiceDidConnect")
        assert client.call("media", "create", key="k") == ["k"]
        # Events flow through the CURVE subscription as well (once it has joined).
        for _ in range(100):
            client.call("media", "emit", count=1)
            try:
                recorder.wait("test.tick", timeout=0.2)
                break
            except AssertionError:
                continue
        else:
            raise AssertionError("no event arrived over TCP")
    finally:
        recorder.close()
        client.stop()
    assert not list((endpoints.runtime_dir() / "bus-keys").glob("*.key")), "key left registered"


def intruder(kind: int, *, curve: bool) -> tuple[zmq.Socket, zmq.Socket]:
    socket = zmq.Context.instance().socket(kind)
    socket.setsockopt(zmq.LINGER, 0)
    if curve:  # it knows the service's public key, but its own key is not registered
        public, secret = zmq.curve_keypair()
        socket.curve_serverkey = server_keypair()[0]
        socket.curve_publickey, socket.curve_secretkey = public, secret
    return socket, socket.get_monitor_socket()


@pytest.mark.integration
@pytest.mark.parametrize("curve", [False, True], ids=["no-key", "unregistered-key"])
def test_tcp_commands_refuse_a_peer_without_a_registered_key(tcp_owner: int, curve: bool) -> None:
    socket, monitor = intruder(zmq.DEALER, curve=curve)
    try:
        socket.connect(endpoints.command_endpoint("media"))
        socket.send(request("ping", "anyone"))
        event = refused(socket, monitor)
        if curve:
            assert event == zmq.EVENT_HANDSHAKE_FAILED_AUTH
        assert not socket.poll(500), "the intruder got a reply"
    finally:
        socket.disable_monitor()
        monitor.close()
        socket.close()


@pytest.mark.integration
@pytest.mark.parametrize("curve", [False, True], ids=["no-key", "unregistered-key"])
def test_tcp_events_refuse_a_peer_without_a_registered_key(tcp_owner: int, curve: bool) -> None:
    socket, monitor = intruder(zmq.SUB, curve=curve)
    try:
        socket.setsockopt(zmq.SUBSCRIBE, b"")
        socket.connect(endpoints.event_endpoint("media"))
        refused(socket, monitor)
    finally:
        socket.disable_monitor()
        monitor.close()
        socket.close()


NOBODY_SCRIPT = textwrap.dedent(
    """
    import sys
    import msgpack, zmq
    from zmq.utils.monitor import recv_monitor_message

    endpoint, keys = sys.argv[1:3]
    try:
        open(keys, "rb").read()
        print("read the service's keys")
    except PermissionError:
        print("keys: permission denied")
    socket = zmq.Context().socket(zmq.DEALER)
    socket.setsockopt(zmq.LINGER, 0)
    monitor = socket.get_monitor_socket()
    socket.connect(endpoint)
    socket.send(msgpack.packb({"v": 1, "id": 1, "client": "x", "method": "ping", "params": {}}))
    failed = (zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
              | zmq.EVENT_HANDSHAKE_FAILED_AUTH)
    while monitor.poll(30000):
        event = recv_monitor_message(monitor)["event"]
        if event & failed:
            print("handshake refused")
            break
        if event == zmq.EVENT_HANDSHAKE_SUCCEEDED:
            print("handshake accepted")
            break
    print("answered" if socket.poll(500) else "not answered")
    """
)


def nobody_python() -> list[str]:
    """A command running Python with pyzmq as the user nobody, or skip."""
    runuser = shutil.which("runuser")
    if runuser is None or os.getuid() != 0:
        pytest.skip("needs root and runuser to act as a second local user")
    site = str(Path(zmq.__file__).parent.parent)  # pyzmq and msgpack live side by side
    for python in (sys.executable, "/usr/bin/python3"):
        command = [runuser, "-u", "nobody", "--", "env", f"PYTHONPATH={site}", python]
        probe = subprocess.run([*command, "-c", "import zmq, msgpack"], capture_output=True)
        if probe.returncode == 0:
            return command
    pytest.skip("no Python with pyzmq that the user nobody can run")


@pytest.mark.integration
def test_another_local_user_is_refused_by_the_tcp_bus(tcp_owner: int) -> None:
    command = nobody_python()
    keys = endpoints.runtime_dir() / "bus-keys" / "server.keys"
    assert keys.exists()
    result = subprocess.run(
        [*command, "-c", NOBODY_SCRIPT, endpoints.command_endpoint("media"), str(keys)],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:3] == [
        "keys: permission denied", "handshake refused", "not answered"
    ]


# --- loopback only ----------------------------------------------------------------------


@pytest.mark.parametrize("value", ["0.0.0.0:7000", "192.0.2.1:7000", "[::]:7000", "x:7000"])
def test_a_tcp_bus_off_loopback_is_refused(
    runtime: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv(endpoints.TCP_BASE_ENV, value)
    client = BusClient(services=["media"])
    with pytest.raises(endpoints.BusConfigurationError, match="loopback"):
        client.start()
    assert not client.running


@pytest.mark.integration
def test_a_service_told_to_listen_on_every_interface_refuses_to_start(
    runtime: Path,
) -> None:
    service = subprocess.run(
        [sys.executable, "-m", OWNER],
        env={**os.environ, endpoints.TCP_BASE_ENV: "0.0.0.0:7000"},
        cwd=Path(__file__).parent, capture_output=True, text=True, timeout=60,
    )
    assert service.returncode == 2
    assert "loopback only" in service.stderr and "0.0.0.0" in service.stderr
