"""The demo's certificate authority and the HTTPS certificate of its nginx.

A root CA signs an intermediate, which signs the server certificate for localhost and
127.0.0.1. nginx serves the leaf with the intermediate; the opscheck config trusts
the root alone through ``ca_file``, as a private CA is usually trusted.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from opscheck.log import logger

CA_DAYS = 3650
LEAF_DAYS = 90
# A leaf with fewer days left is replaced, so a fresh demo passes the 30-day warning.
RENEW_BELOW_DAYS = 45
SERVER_NAME = "localhost"


@dataclass(frozen=True)
class TlsFiles:
    """The certificate files of a demo folder."""

    folder: Path

    @property
    def ca(self) -> Path:
        """The root CA certificate that clients trust."""
        return self.folder / "ca.pem"

    @property
    def chain(self) -> Path:
        """The server certificate followed by the intermediate, as nginx sends them."""
        return self.folder / "server-chain.pem"

    @property
    def key(self) -> Path:
        """The server's private key."""
        return self.folder / "server.key"


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "opscheck demo"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _key_identifiers(
    builder: x509.CertificateBuilder,
    public_key: ec.EllipticCurvePublicKey,
    issuer_key: ec.EllipticCurvePrivateKey,
) -> x509.CertificateBuilder:
    return builder.add_extension(
        x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False
    ).add_extension(
        x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
        critical=False,
    )


def issue(
    subject: str,
    issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None,
    *,
    not_before: datetime,
    not_after: datetime,
    is_ca: bool,
    names: tuple[str, ...] = (),
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """Make a key and a certificate, self-signed when ``issuer`` is None."""
    key = ec.generate_private_key(ec.SECP256R1())
    issuer_name, issuer_key = issuer if issuer is not None else (_name(subject), key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
    )
    builder = _key_identifiers(builder, key.public_key(), issuer_key)
    if is_ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    else:
        alternatives: list[x509.GeneralName] = []
        for name in names:
            try:
                alternatives.append(x509.IPAddress(ipaddress.ip_address(name)))
            except ValueError:
                alternatives.append(x509.DNSName(name))
        builder = builder.add_extension(
            x509.SubjectAlternativeName(alternatives), critical=False
        ).add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256()), key


def pem(*certificates: x509.Certificate) -> bytes:
    """Return certificates as one PEM text, in order."""
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certificates)


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    """Return a private key as unencrypted PKCS#8 PEM."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _leaf_is_current(files: TlsFiles, now: datetime) -> bool:
    try:
        leaf = x509.load_pem_x509_certificates(files.chain.read_bytes())[0]
    except (OSError, ValueError):
        return False
    if not files.key.exists() or not files.ca.exists():
        return False
    return leaf.not_valid_after_utc - now > timedelta(days=RENEW_BELOW_DAYS)


def ensure(folder: Path, key_owner: int) -> TlsFiles:
    """Write a new CA, intermediate and server certificate unless current ones exist."""
    files = TlsFiles(folder)
    now = datetime.now(UTC)
    if _leaf_is_current(files, now):
        return files

    logger.info("issuing the demo's TLS certificates in %s", folder)
    folder.mkdir(parents=True, exist_ok=True)
    start = now - timedelta(minutes=5)
    root, root_key = issue(
        "opscheck demo root CA",
        None,
        not_before=start,
        not_after=now + timedelta(days=CA_DAYS),
        is_ca=True,
    )
    middle, middle_key = issue(
        "opscheck demo intermediate CA",
        (root.subject, root_key),
        not_before=start,
        not_after=now + timedelta(days=CA_DAYS),
        is_ca=True,
    )
    leaf, leaf_key = issue(
        SERVER_NAME,
        (middle.subject, middle_key),
        not_before=start,
        not_after=now + timedelta(days=LEAF_DAYS),
        is_ca=False,
        names=(SERVER_NAME, "127.0.0.1"),
    )

    files.ca.write_bytes(pem(root))
    files.chain.write_bytes(pem(leaf, middle))
    descriptor = os.open(files.key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(key_pem(leaf_key))
    os.chmod(files.key, 0o600)
    if os.geteuid() == 0:
        # nginx in the demo runs as the app user and must read its key.
        os.chown(files.key, key_owner, key_owner)
    return files
