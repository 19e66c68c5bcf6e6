"""MSRP over TLS (msrps) in the msrp service process, with a throwaway test CA.

With a certificate the service's sessions are msrps by default: two sessions
talk over TLS on loopback, the active side verifying the listener's
certificate against the CA and the path's host. A certificate that names
another host is refused with a clear reason; without a certificate the
service is msrp only and says so when msrps is asked for.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from harness.audio import wait_until
from harness.msrp import of
from harness.notifications import Recorder
from harness.tlsca import TestCA

from sipsimple.bus.client import BusClient, ServiceError, get_bus
from sipsimple_services.msrp.transport.tls import TLSSettings


def start_msrp(spawn_service: Callable[..., Any], tmp_path: Path, **names: tuple[str, ...]
               ) -> BusClient:
    ca = TestCA(tmp_path)
    leaf = ca.issue("msrp", "msrp.test", **names)
    spawn_service("sipsimple_services.msrp", "msrp",
                  SIPSIMPLE_MSRP_TLS_CERTIFICATE=str(leaf.cert),
                  SIPSIMPLE_MSRP_TLS_PRIVATE_KEY=str(leaf.key),
                  SIPSIMPLE_MSRP_TLS_CA_FILE=str(ca.path))
    return get_bus()


def start_pair(bus: BusClient) -> tuple[dict[str, Any], dict[str, Any]]:
    a = bus.call("msrp", "create_session", address="127.0.0.1")
    b = bus.call("msrp", "create_session", address="127.0.0.1")
    bus.call("msrp", "start_session", session_id=b["session_id"], remote_path=[a["path"]],
             active=False)
    bus.call("msrp", "start_session", session_id=a["session_id"], remote_path=[b["path"]],
             active=True)
    return a, b


@pytest.mark.integration
def test_messages_over_tls(spawn_service: Callable[..., Any], tmp_path: Path,
                           events: Recorder) -> None:
    bus = start_msrp(spawn_service, tmp_path, ips=("127.0.0.1",))
    a, b = start_pair(bus)
    assert a["tls"] is True and a["path"].startswith(f"msrps://127.0.0.1:{a['port']}/")
    for s in (a, b):
        events.wait(of(s["session_id"], "msrp.session_started"))
    sent = bus.call("msrp", "send_message", session_id=a["session_id"],
                    content_type="text/plain", body=b"over tls", success_report=True)
    got = events.wait(of(b["session_id"], "msrp.message_received"))
    assert got.data.body == b"over tls" and got.data.message_id == sent["message_id"]
    events.wait(of(a["session_id"], "msrp.message_delivered"))
    bus.call("msrp", "send_message", session_id=b["session_id"], content_type="text/plain",
             body=b"back")
    assert events.wait(of(a["session_id"], "msrp.message_received")).data.body == b"back"
    status = bus.call("msrp", "status")
    assert status["tls"] is True
    assert status["listeners"] == [{"address": "127.0.0.1", "port": a["port"], "tls": True}]
    # a plain msrp session on demand: a TCP listener of its own
    plain = bus.call("msrp", "create_session", address="127.0.0.1", tls=False)
    assert plain["tls"] is False and plain["path"].startswith("msrp://")
    assert plain["port"] != a["port"]


@pytest.mark.integration
def test_plain_tcp_to_the_tls_listener_is_closed(spawn_service: Callable[..., Any],
                                                 tmp_path: Path, events: Recorder) -> None:
    """A peer that speaks MSRP without TLS to an msrps listener loses only its connection."""
    log = tmp_path / "msrp.log"
    ca = TestCA(tmp_path)
    leaf = ca.issue("msrp", "msrp.test", ips=("127.0.0.1",))
    spawn_service("sipsimple_services.msrp", "msrp", log=log,
                  SIPSIMPLE_MSRP_TLS_CERTIFICATE=str(leaf.cert),
                  SIPSIMPLE_MSRP_TLS_PRIVATE_KEY=str(leaf.key),
                  SIPSIMPLE_MSRP_TLS_CA_FILE=str(ca.path))
    bus = get_bus()
    target = bus.call("msrp", "create_session", address="127.0.0.1")
    with socket.create_connection(("127.0.0.1", target["port"]), timeout=15) as sock:
        sock.sendall(f"MSRP abcd1234 SEND\r\nTo-Path: {target['path']}\r\n"
                     "From-Path: msrp://127.0.0.1:1/x;tcp\r\n-------abcd1234$\r\n".encode())
        with contextlib.suppress(ConnectionResetError):
            assert sock.recv(4096) == b""  # closed, nothing answered
    a, b = start_pair(bus)
    for s in (a, b):
        events.wait(of(s["session_id"], "msrp.session_started"))
    wait_until(lambda: log.exists() and "TLS connection from" in log.read_text(),
               "the refused handshake is logged")


@pytest.mark.integration
def test_a_certificate_for_another_name_is_refused(spawn_service: Callable[..., Any],
                                                   tmp_path: Path, events: Recorder) -> None:
    bus = start_msrp(spawn_service, tmp_path, dns=("elsewhere.test",))
    a, _ = start_pair(bus)
    failed = events.wait(of(a["session_id"], "msrp.session_failed"))
    assert "certificate verify failed" in failed.data.reason
    assert "mismatch" in failed.data.reason and "127.0.0.1" in failed.data.reason
    assert not [n for n in events.seen if of(a["session_id"], "msrp.session_started")(n)]


@pytest.mark.integration
def test_without_a_certificate_sessions_are_tcp(spawn_service: Callable[..., Any]) -> None:
    spawn_service("sipsimple_services.msrp", "msrp")
    bus = get_bus()
    session = bus.call("msrp", "create_session", address="127.0.0.1")
    assert session["tls"] is False and session["path"].startswith("msrp://")
    with pytest.raises(ServiceError) as error:
        bus.call("msrp", "create_session", address="127.0.0.1", tls=True)
    assert error.value.code == "failed" and "certificate" in str(error.value)
    assert bus.call("msrp", "status")["tls"] is False


def test_settings_from_the_environment() -> None:
    assert TLSSettings.from_environment({}) == TLSSettings()
    assert not TLSSettings().can_serve
    settings = TLSSettings.from_environment({
        "SIPSIMPLE_MSRP_TLS_CERTIFICATE": "c.pem", "SIPSIMPLE_MSRP_TLS_PRIVATE_KEY": "k.pem",
        "SIPSIMPLE_MSRP_TLS_CA_FILE": "ca.pem", "SIPSIMPLE_MSRP_TLS_VERIFY_SERVER": "0"})
    assert settings == TLSSettings("c.pem", "k.pem", "ca.pem", verify_server=False)
    assert settings.can_serve
    with pytest.raises(ValueError):
        TLSSettings.from_environment({"SIPSIMPLE_MSRP_TLS_VERIFY_SERVER": "maybe"})
    with pytest.raises(ValueError):
        TLSSettings.from_environment({"SIPSIMPLE_MSRP_TLS_PRIVATE_KEY": "k.pem"})
    with pytest.raises(ValueError):
        TLSSettings().server_context()
    assert TLSSettings().client_context().check_hostname


def test_settings_whose_files_do_not_load(tmp_path: Path) -> None:
    ca = TestCA(tmp_path)
    leaf = ca.issue("msrp", "msrp.test", dns=("msrp.test",))
    good = TLSSettings(str(leaf.cert), str(leaf.key), str(ca.path))
    assert good.problem() is None and good.can_serve
    problem = TLSSettings(str(leaf.cert), None, str(ca.path)).problem()
    assert problem is not None and "does not load with its private key" in problem
    problem = TLSSettings(ca_file=str(leaf.key)).problem()
    assert problem is not None and "the CA file" in problem
    off = TLSSettings(unavailable=problem)
    assert not off.can_serve
    with pytest.raises(ValueError, match="TLS is off: the CA file"):
        off.client_context()
    assert TLSSettings.from_values({"tls_certificate": str(leaf.cert)}).private_key is None
    with pytest.raises(ValueError, match="private key without a certificate"):
        TLSSettings.from_values({"tls_private_key": str(leaf.key)})


@pytest.mark.integration
def test_configure_reports_what_became_of_the_settings(spawn_service: Callable[..., Any],
                                                       tmp_path: Path) -> None:
    ca = TestCA(tmp_path)
    leaf = ca.issue("msrp", "msrp.test", ips=("127.0.0.1",))
    spawn_service("sipsimple_services.msrp", "msrp")
    bus = get_bus()
    reply = bus.call("msrp", "configure", tls_certificate=str(leaf.cert))  # no key
    assert reply["tls"] is False and "does not load" in reply["tls_error"]
    with pytest.raises(ServiceError, match="msrps is off: the certificate"):
        bus.call("msrp", "create_session", address="127.0.0.1", tls=True)
    assert bus.call("msrp", "create_session", address="127.0.0.1")["tls"] is False
    reply = bus.call("msrp", "configure", tls_private_key=str(leaf.key))
    assert (reply["tls"], reply["tls_error"]) == (True, None)
    assert bus.call("msrp", "create_session", address="127.0.0.1")["tls"] is True
