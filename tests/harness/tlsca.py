"""A throwaway test CA (cryptography): a root and leaf certificates for loopback TLS tests."""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class Leaf:
    """A certificate and its private key, as PEM files."""

    cert: Path
    key: Path


class TestCA:
    """A self-signed root that issues short-lived leaf certificates into `directory`."""

    __test__ = False  # not a pytest test class

    def __init__(self, directory: Path, name: str = "sipsimple test CA") -> None:
        self.directory = directory
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.certificate = self._build(name, self.key, ca=True, names=())
        self.path = directory / "ca.pem"
        self.path.write_bytes(self.certificate.public_bytes(serialization.Encoding.PEM))

    def issue(self, filename: str, common_name: str, *, dns: tuple[str, ...] = (),
              ips: tuple[str, ...] = ()) -> Leaf:
        """A leaf for `common_name` with these SAN names and addresses."""
        key = ec.generate_private_key(ec.SECP256R1())
        names: list[x509.GeneralName] = [x509.DNSName(name) for name in dns]
        names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
        cert = self._build(common_name, key, ca=False, names=tuple(names))
        leaf = Leaf(self.directory / f"{filename}.pem", self.directory / f"{filename}.key")
        leaf.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        leaf.key.write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ))
        return leaf

    def _build(self, subject: str, key: ec.EllipticCurvePrivateKey, *, ca: bool,
               names: tuple[x509.GeneralName, ...]) -> x509.Certificate:
        now = datetime.datetime.now(datetime.UTC)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
        issuer = name if ca else self.certificate.subject
        builder = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(issuer)
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
            builder = builder.add_extension(
                x509.SubjectAlternativeName(list(names)), critical=False
            ).add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), False
            )
        return builder.sign(self.key, hashes.SHA256())


__all__ = ["Leaf", "TestCA"]
