"""The msrp service through an RFC 4976 relay: Kamailio's msrp module on loopback.

Both sessions AUTH to the relay (digest) and send through it: their a=path
is the relay's Use-Path hop then their own URI, each one's To-Path its relay
hop then the peer's whole path. A wrong password is a clear failure of
create_session. A grant of 60 s is refreshed half-way (a 30 s test). An
msrps relay named by its address (as found by DNS) is verified against the
``tls_name`` given with it.
"""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from harness.audio import wait_until
from harness.kamailio import Kamailio
from harness.msrp import of, start_msrp_service
from harness.notifications import Recorder
from harness.tlsca import TestCA

from sipsimple.bus.client import BusClient, ServiceError, get_bus

pytestmark = pytest.mark.integration


@pytest.fixture
def bus(spawn_service: Callable[..., Any]) -> BusClient:
    return start_msrp_service(spawn_service)


def relay_of(kamailio: Kamailio, user: str, password: str | None = None) -> dict[str, str]:
    return {"uri": f"msrp://127.0.0.1:{kamailio.msrp_port};tcp", "username": user,
            "password": password or f"{user}-secret"}


def test_both_sides_behind_the_relay(bus: BusClient, events: Recorder,
                                     kamailio_factory: Callable[..., Kamailio]) -> None:
    relay = kamailio_factory(defines=["WITH_MSRP"])
    a = bus.call("msrp", "create_session", address="127.0.0.1",
                 relay=relay_of(relay, "alice"), timeout=20)
    b = bus.call("msrp", "create_session", address="127.0.0.1",
                 relay=relay_of(relay, "bob"), timeout=20)
    a_path, b_path = a["path"].split(), b["path"].split()
    assert len(a_path) == 2 and a_path[0].startswith(f"msrp://127.0.0.1:{relay.msrp_port}/")
    assert a_path[0] != b_path[0]  # a session of the relay each
    bus.call("msrp", "start_session", session_id=b["session_id"], remote_path=a_path,
             active=False)
    bus.call("msrp", "start_session", session_id=a["session_id"], remote_path=b_path,
             active=True)
    for s in (a, b):
        events.wait(of(s["session_id"], "msrp.session_started"))
    sent = bus.call("msrp", "send_message", session_id=a["session_id"],
                    content_type="text/plain", body=b"through the relay", success_report=True)
    got = events.wait(of(b["session_id"], "msrp.message_received"))
    assert got.data.body == b"through the relay" and got.data.message_id == sent["message_id"]
    delivered = events.wait(of(a["session_id"], "msrp.message_delivered"))
    assert delivered.data.message_id == sent["message_id"]
    bus.call("msrp", "send_message", session_id=b["session_id"], content_type="text/plain",
             body=b"and back")
    assert events.wait(of(a["session_id"], "msrp.message_received")).data.body == b"and back"
    assert not [n for n in events.seen if n.name == "msrp.session_failed"]


def test_the_relay_refusing_auth_is_a_clear_failure(
    bus: BusClient, kamailio_factory: Callable[..., Kamailio]
) -> None:
    relay = kamailio_factory(defines=["WITH_MSRP"])
    with pytest.raises(ServiceError) as error:
        bus.call("msrp", "create_session", address="127.0.0.1",
                 relay=relay_of(relay, "alice", "wrong"), timeout=20)
    assert error.value.code == "failed"
    assert "refused AUTH" in str(error.value) and "refused the credentials" in str(error.value)
    assert bus.call("msrp", "status")["sessions"] == []


def test_the_grant_is_refreshed(spawn_service: Callable[..., Any], tmp_path: Path,
                                events: Recorder,
                                kamailio_factory: Callable[..., Kamailio]) -> None:
    log = tmp_path / "msrp.log"
    spawn_service("sipsimple_services.msrp", "msrp", log=log)
    bus = get_bus()
    relay = kamailio_factory(defines=["WITH_MSRP", "WITH_MSRP_SHORT_AUTH"])
    a = bus.call("msrp", "create_session", address="127.0.0.1",
                 relay=relay_of(relay, "alice"), timeout=20)
    b = bus.call("msrp", "create_session", address="127.0.0.1",
                 relay=relay_of(relay, "bob"), timeout=20)
    bus.call("msrp", "start_session", session_id=b["session_id"],
             remote_path=a["path"].split(), active=False)
    bus.call("msrp", "start_session", session_id=a["session_id"],
             remote_path=b["path"].split(), active=True)
    for s in (a, b):
        events.wait(of(s["session_id"], "msrp.session_started"))
    wait_until(lambda: log.read_text().count("AUTH refreshed at the relay for 60 s") >= 2,
               "both sessions refresh their AUTH", timeout=90)
    bus.call("msrp", "send_message", session_id=a["session_id"], content_type="text/plain",
             body=b"after the refresh")
    got = events.wait(of(b["session_id"], "msrp.message_received"))
    assert got.data.body == b"after the refresh"
    assert not [n for n in events.seen if n.name == "msrp.session_failed"]


@pytest.fixture
def tls_relay(tmp_path: Path) -> Iterator[tuple[TestCA, int, list[str | None]]]:
    """A TLS server whose certificate names only relay-domain.test (a test CA's), on
    127.0.0.1: it completes the handshake, then closes. Yields the CA, its port and
    the SNI names it was sent."""
    ca = TestCA(tmp_path)
    leaf = ca.issue("relay", "relay-domain.test", dns=("relay-domain.test",))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(leaf.cert, leaf.key)
    names: list[str | None] = []
    context.sni_callback = lambda _sock, name, _context: names.append(name)  # type: ignore[assignment,return-value]
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            try:
                with context.wrap_socket(conn, server_side=True):
                    pass
            except (OSError, ssl.SSLError):
                conn.close()  # the client refused our certificate

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield ca, server.getsockname()[1], names
    server.close()
    thread.join(5)


def test_an_msrps_relay_found_by_address_is_verified_by_its_tls_name(
        spawn_service: Callable[..., Any],
        tls_relay: tuple[TestCA, int, list[str | None]]) -> None:
    ca, port, names = tls_relay
    spawn_service("sipsimple_services.msrp", "msrp", SIPSIMPLE_MSRP_TLS_CA_FILE=str(ca.path))
    bus = get_bus()
    relay = {"uri": f"msrps://127.0.0.1:{port};tcp", "username": "alice", "password": "x"}
    with pytest.raises(ServiceError) as error:  # the address is not in the certificate
        bus.call("msrp", "create_session", address="127.0.0.1", relay=relay, timeout=20)
    assert "certificate verify failed" in str(error.value)
    with pytest.raises(ServiceError) as error:  # verified: the relay then closes on us
        bus.call("msrp", "create_session", address="127.0.0.1",
                 relay={**relay, "tls_name": "relay-domain.test"}, timeout=20)
    assert "certificate verify failed" not in str(error.value)
    assert "closed the connection" in str(error.value)
    assert "relay-domain.test" in names  # and the name went as SNI
    with pytest.raises(ServiceError) as error:
        bus.call("msrp", "create_session", address="127.0.0.1",
                 relay={**relay, "tls_name": ""}, timeout=20)
    assert error.value.code == "invalid-params"
    assert bus.call("msrp", "status")["sessions"] == []
