"""TLS between two TransportManagers with a test CA made here (cryptography), and tls.py."""

from __future__ import annotations

import datetime
import ipaddress
import itertools
import socket
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import gevent.queue
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sipsimple_services.signalling.message import SIPRequest, SIPResponse, make_response
from sipsimple_services.signalling.transport import (
    TLSConfig,
    TransportAddress,
    TransportConfig,
    TransportError,
    TransportManager,
)
from sipsimple_services.signalling.transport.tls import describe_tls_error


def ipv6_available() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


HOSTS = [
    "127.0.0.1",
    pytest.param("::1", marks=pytest.mark.skipif(not ipv6_available(), reason="no IPv6")),
]
_branches = itertools.count(1)


def request_bytes(transport: str, host: str, port: int) -> bytes:
    sent_by = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return (
        "OPTIONS sip:bob@sip.test SIP/2.0\r\n"
        f"Via: SIP/2.0/{transport} {sent_by};branch=z9hG4bK{next(_branches)}\r\n"
        "Max-Forwards: 70\r\nTo: <sip:bob@sip.test>\r\n"
        "From: <sip:alice@sip.test>;tag=1\r\nCall-ID: c1@sip.test\r\n"
        "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    ).encode()


@dataclass(frozen=True)
class PKI:
    ca: Path
    cert: Path
    key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ))


def _certificate(
    subject: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Certificate | None,
    issuer_key: ec.EllipticCurvePrivateKey, *, ca: bool, names: tuple[x509.GeneralName, ...] = (),
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.subject if issuer is not None else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        ).add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
    else:
        assert issuer is not None
        builder = builder.add_extension(x509.SubjectAlternativeName(list(names)), critical=False)
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), False
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _write_cert(cert: x509.Certificate, path: Path) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    root = tmp_path_factory.mktemp("pki")
    ca_key = _key()
    ca = _certificate("sipsimple test CA", ca_key, None, ca_key, ca=True)
    server_key = _key()
    server = _certificate(
        "sip.test", server_key, ca, ca_key, ca=False,
        names=(x509.DNSName("sip.test"), x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
               x509.IPAddress(ipaddress.ip_address("::1"))),
    )
    client_key = _key()
    client = _certificate("alice.test", client_key, ca, ca_key, ca=False,
                          names=(x509.DNSName("alice.test"),))
    other_key = _key()
    other = _certificate("some other CA", other_key, None, other_key, ca=True)
    paths = PKI(root / "ca.pem", root / "server.pem", root / "server.key",
                root / "client.pem", root / "client.key", root / "other-ca.pem")
    _write_cert(ca, paths.ca)
    _write_cert(server, paths.cert)
    _write_key(server_key, paths.key)
    _write_cert(client, paths.client_cert)
    _write_key(client_key, paths.client_key)
    _write_cert(other, paths.other_ca)
    return paths


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
