"""A local development CA and signing certificate for Content Credentials.

C2PA validators refuse self-signed signing certificates, so `vidprov sign` makes, on first use, a
small chain in the per-user config folder: a root CA (basicConstraints CA, keyCertSign) and a leaf
(digitalSignature, EKU emailProtection) issued by it, both ECDSA P-256. Nothing here is ever
committed; `vidprov verify` trusts this CA (plus any --trust anchors), so clips you signed verify
as Trusted on your machine and as Valid-but-untrusted anywhere else.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from vidprov.errors import VidprovError
from vidprov.watermark.keys import vidprov_home, write_private

ENV_CERT = "VIDPROV_SIGN_CERT"  # PEM chain (leaf first) of a user-provided signer
ENV_KEY = "VIDPROV_SIGN_KEY"  # its PEM private key


class CredentialsError(VidprovError):
    """Signing certificates or keys are missing, unreadable or malformed."""


@dataclass(frozen=True)
class SignerFiles:
    chain: Path  # PEM, leaf first, then the CA
    key: Path  # PEM private key of the leaf
    ca: Path | None  # the local root CA (a trust anchor), None for user-provided chains


def _name(cn: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, cn),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "vidprov local development"),
    ])


def _pem_key(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def create_local_chain(folder: Path, *, days: int = 3650) -> SignerFiles:
    """Write ca.pem, ca.key, signer.pem (leaf + CA) and signer.key into folder."""
    now = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("vidprov local root CA")
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                     crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder().subject_name(_name(f"vidprov signer ({os.environ.get('USER', 'user')})"))
        .issuer_name(ca_name).public_key(leaf_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(now + dt.timedelta(days=days - 1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    files = SignerFiles(chain=folder / "signer.pem", key=folder / "signer.key", ca=folder / "ca.pem")
    write_private(folder / "ca.key", _pem_key(ca_key))
    write_private(files.key, _pem_key(leaf_key))
    write_private(files.ca, ca.public_bytes(pem))
    write_private(files.chain, leaf.public_bytes(pem) + ca.public_bytes(pem))
    return files


def local_folder() -> Path:
    return vidprov_home() / "c2pa"


def signer_files(cert: str | os.PathLike | None = None, key: str | os.PathLike | None = None,
                 *, create: bool = True) -> SignerFiles:
    """The signer to use: explicit paths, else $VIDPROV_SIGN_CERT/$VIDPROV_SIGN_KEY, else the local chain."""
    cert = cert or os.environ.get(ENV_CERT)
    key = key or os.environ.get(ENV_KEY)
    if bool(cert) != bool(key):
        raise CredentialsError("give both a certificate chain and its private key, or neither")
    if cert:
        files = SignerFiles(chain=Path(cert), key=Path(key), ca=None)
        for p in (files.chain, files.key):
            if not p.is_file():
                raise CredentialsError(f"{p}: no such file")
        return files
    folder = local_folder()
    files = SignerFiles(chain=folder / "signer.pem", key=folder / "signer.key", ca=folder / "ca.pem")
    if not (files.chain.exists() and files.key.exists() and files.ca.exists()):
        if not create:
            raise CredentialsError(f"no local signing chain in {folder}; run `vidprov sign` once to create it")
        files = create_local_chain(folder)
    return files


def local_anchors() -> str:
    """PEM of the local CA if it exists (the verifier trusts it), else ''."""
    ca = local_folder() / "ca.pem"
    return ca.read_text() if ca.exists() else ""


def read_pem_certs(path: str | os.PathLike) -> str:
    """Read and check a PEM bundle of certificates (e.g. a --trust anchor)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise CredentialsError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise CredentialsError(f"{path}: not a PEM certificate bundle") from exc
    if not certs:
        raise CredentialsError(f"{path}: holds no certificate")
    return data.decode()
