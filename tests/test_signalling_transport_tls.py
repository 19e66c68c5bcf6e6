"""TLS between two TransportManagers with a test CA made here (cryptography), and tls.py."""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import gevent.queue
import pytest
from harness.loopback import HOSTS, request_bytes
from harness.tlsca import TestCA

from sipsimple_services.signalling.sip.message.values import SIPRequest, SIPResponse, make_response
from sipsimple_services.signalling.transport import (
    TLSConfig,
    TransportAddress,
    TransportConfig,
    TransportError,
    TransportManager,
)
from sipsimple_services.signalling.transport.tls import describe_tls_error, tls_problem


@dataclass(frozen=True)
class PKI:
    ca: Path
    cert: Path
    key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    ca = TestCA(tmp_path_factory.mktemp("pki"))
    server = ca.issue("server", "sip.test", dns=("sip.test",), ips=("127.0.0.1", "::1"))
    client = ca.issue("client", "alice.test", dns=("alice.test",))
    other = TestCA(tmp_path_factory.mktemp("other-pki"), name="some other CA")
    return PKI(ca.path, server.cert, server.key, client.cert, client.key, other.path)


Inbox = gevent.queue.Queue


@pytest.fixture
def tls_endpoint(pki: PKI) -> Iterator[Callable[..., tuple[TransportManager, Inbox]]]:
    started: list[TransportManager] = []

    def make(host: str = "127.0.0.1", **tls: object) -> tuple[TransportManager, Inbox]:
        inbox: Inbox = gevent.queue.Queue()
        settings = dict(certificate=str(pki.cert), private_key=str(pki.key), ca_file=str(pki.ca))
        settings.update(tls)  # type: ignore[arg-type]
        config = TransportConfig(
            host=host, udp_port=None, tcp_port=None, tls_port=0,
            tls=TLSConfig(**settings),  # type: ignore[arg-type]
        )
        manager = TransportManager(config, lambda *item: inbox.put(item))
        manager.start()
        started.append(manager)
        return manager, inbox

    yield make
    for manager in started:
        manager.stop()


@pytest.mark.parametrize("host", HOSTS)
def test_verified_tls_both_ways(
    host: str, tls_endpoint: Callable[..., tuple[TransportManager, Inbox]]
) -> None:
    a, a_inbox = tls_endpoint(host)
    b, b_inbox = tls_endpoint(host)
    b_tls = b.local_addresses["TLS"]
    a_port = a.local_addresses["TLS"].port
    # By name (SNI sip.test, checked against the DNS SAN)...
    first = a.send(request_bytes("TLS", host, a_port), b_tls, server_name="sip.test")
    request, source, b_side = b_inbox.get(timeout=5)
    assert isinstance(request, SIPRequest) and source.transport == "TLS"
    b.send_response(make_response(request, 200), connection_id=b_side)
    response, _, a_side = a_inbox.get(timeout=5)
    assert isinstance(response, SIPResponse) and a_side == first
    # The request's source address, without a connection id, also means that connection.
    assert b.send(make_response(request, 200), source) == b_side
    assert a_inbox.get(timeout=5)[2] == first
    # ...the same name reuses the connection; the IP address (IP SAN) opens another.
    assert a.send(request_bytes("TLS", host, a_port), b_tls, server_name="sip.test") == first
    by_ip = a.send(request_bytes("TLS", host, a_port), b_tls)
    assert by_ip not in (None, first)
    # The other way round.
    b.send(request_bytes("TLS", host, b_tls.port), a.local_addresses["TLS"],
           server_name="sip.test")
    assert isinstance(a_inbox.get(timeout=5)[0], SIPRequest)


def test_wrong_name_is_refused_with_a_clear_error(
    tls_endpoint: Callable[..., tuple[TransportManager, Inbox]],
) -> None:
    a, _ = tls_endpoint()
    b, b_inbox = tls_endpoint()
    with pytest.raises(TransportError) as error:
        a.send(b"OPTIONS", b.local_addresses["TLS"], server_name="wrong.test")
    assert error.value.reason == (
        "certificate verify failed: hostname mismatch, "
        "certificate is not valid for 'wrong.test'"
    )
    assert a.connections == {} and b_inbox.empty()


def test_untrusted_ca_is_refused(
    pki: PKI, tls_endpoint: Callable[..., tuple[TransportManager, Inbox]],
) -> None:
    a, _ = tls_endpoint(ca_file=str(pki.other_ca))
    b, _ = tls_endpoint()
    with pytest.raises(TransportError, match="certificate verify failed: "):
        a.send(b"OPTIONS", b.local_addresses["TLS"], server_name="sip.test")


def test_verification_disabled_explicitly_connects(
    tls_endpoint: Callable[..., tuple[TransportManager, Inbox]],
) -> None:
    a, _ = tls_endpoint(ca_file=None, verify_server=False)
    b, b_inbox = tls_endpoint()
    a.send(request_bytes("TLS", "127.0.0.1", 5061), b.local_addresses["TLS"],
           server_name="wrong.test")
    assert isinstance(b_inbox.get(timeout=5)[0], SIPRequest)


def test_client_certificate_is_presented(
    pki: PKI, tls_endpoint: Callable[..., tuple[TransportManager, Inbox]],
) -> None:
    a, _ = tls_endpoint(client_certificate=str(pki.client_cert),
                        client_private_key=str(pki.client_key))
    b, b_inbox = tls_endpoint()
    a.send(request_bytes("TLS", "127.0.0.1", 5061), b.local_addresses["TLS"],
           server_name="sip.test")
    _, _, cid = b_inbox.get(timeout=5)
    peer = b._connections[cid].sock.getpeercert()
    assert ("commonName", "alice.test") in [item for rdn in peer["subject"] for item in rdn]


def test_plain_tcp_to_a_tls_listener_is_dropped(
    tls_endpoint: Callable[..., tuple[TransportManager, Inbox]],
) -> None:
    b, b_inbox = tls_endpoint()
    port = b.local_addresses["TLS"].port
    plain = TransportManager(TransportConfig(host="127.0.0.1", udp_port=None),
                             lambda *args: None)
    plain.start()
    try:
        plain.send(request_bytes("TCP", "127.0.0.1", 5060), TransportAddress("127.0.0.1", port,
                                                                          "TCP"))
        with pytest.raises(gevent.queue.Empty):
            b_inbox.get(timeout=0.5)
        assert b.connections == {}
    finally:
        plain.stop()


def test_a_listener_needs_a_certificate() -> None:
    manager = TransportManager(
        TransportConfig(host="127.0.0.1", udp_port=None, tcp_port=None, tls_port=0),
        lambda *args: None,
    )
    with pytest.raises(ValueError, match="certificate"):
        manager.start()


def test_describe_tls_error() -> None:
    error = ssl.SSLCertVerificationError(1, "certificate verify failed")
    error.verify_message = "Hostname mismatch, certificate is not valid for 'x'."
    assert describe_tls_error(error) == (
        "certificate verify failed: hostname mismatch, certificate is not valid for 'x'"
    )
    assert describe_tls_error(OSError("boom")) == "TLS error: boom"


def test_tls_problem_loads_every_file(pki: PKI) -> None:
    good = TLSConfig(certificate=str(pki.cert), private_key=str(pki.key), ca_file=str(pki.ca),
                     client_certificate=str(pki.client_cert),
                     client_private_key=str(pki.client_key))
    assert tls_problem(good) is None
    assert tls_problem(TLSConfig()) is None  # the system store, no certificate
    problem = tls_problem(replace(good, client_private_key=str(pki.key)))  # not its key
    assert problem is not None and f"the certificate {pki.client_cert}" in problem
    problem = tls_problem(replace(good, private_key=None))
    assert problem is not None and "(in the same file)" in problem
    problem = tls_problem(replace(good, ca_file=str(pki.key)))
    assert problem is not None and f"the CA file {pki.key} does not load" in problem


def test_unavailable_tls_fails_at_once_with_the_reason(
        tls_endpoint: Callable[..., tuple[TransportManager, Inbox]]) -> None:
    server, _ = tls_endpoint()
    client, _ = tls_endpoint(unavailable="the CA file /x does not load: no certificate")
    with pytest.raises(TransportError, match="TLS is off: the CA file /x does not load"):
        port = server.ports["TLS"]
        client.send(request_bytes("TLS", "127.0.0.1", port),
                    TransportAddress("127.0.0.1", port, "TLS"), server_name="sip.test")
