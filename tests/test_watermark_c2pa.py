"""Content Credentials: sign with the local CA, validate, detect tampering, stripping and bad input."""

import json

import cv2
import numpy as np
import pytest

import vidprov
from vidprov.errors import VidprovError
from vidprov.provenance import verify
from vidprov.watermark import certs, credentials, embed, sign
from vidprov.watermark.keys import as_key

KEY = "c2pa-test-key"


@pytest.fixture()
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("VIDPROV_HOME", str(tmp_path / "home"))
    monkeypatch.delenv(certs.ENV_CERT, raising=False)
    monkeypatch.delenv(certs.ENV_KEY, raising=False)
    return tmp_path


@pytest.fixture(scope="module")
def marked_file(tmp_path_factory):
    rng = np.random.default_rng(0)
    base = cv2.GaussianBlur(rng.normal(0, 1, (224, 320, 3)).astype(np.float32), (0, 0), 2.0)
    base = ((base - base.min()) / (base.max() - base.min()) * 200 + 28).astype(np.uint8)
    frames = np.stack([base[i : i + 160, 2 * i : 2 * i + 256] for i in range(16)])
    clip = embed(vidprov.Clip(frames, fps=8.0), KEY, "001122")
    path = tmp_path_factory.mktemp("media") / "marked.mp4"
    vidprov.write_video(clip, path, crf=18)
    return path


def claims():
    k = as_key(KEY)
    return credentials.Claims(generator="tinygen", generator_version="0.1", model="tiny-dit",
                              checkpoint_sha256="ab" * 32, prompt="a red fox", seed=7,
                              watermark_key_id=k.key_id, watermark_payload="001122")


def test_local_chain_has_the_extensions_c2pa_requires(home):
    from cryptography import x509
    from cryptography.x509.oid import ExtendedKeyUsageOID

    files = certs.signer_files()
    leaf, ca = x509.load_pem_x509_certificates(files.chain.read_bytes())
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert ca.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    assert leaf.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature
    assert ExtendedKeyUsageOID.EMAIL_PROTECTION in leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert leaf.issuer == ca.subject
    assert files.key.stat().st_mode & 0o777 == 0o600
    assert certs.signer_files() == files  # created once, then reused


def test_sign_verifies_trusted_with_full_manifest(home, marked_file):
    out = sign(marked_file, home / "signed.mp4", claims())
    report = verify(out, keys=[KEY])
    assert report.c2pa.state == "Trusted"
    assert "signingCredential.trusted" in report.c2pa.codes
    m = report.c2pa.manifest
    assert m["actions"] == ["c2pa.created"]
    assert m["digital_source_type"].endswith("trainedAlgorithmicMedia")
    assert m["generation"]["seed"] == 7 and m["generation"]["model"] == "tiny-dit"
    assert m["generation"]["prompt_sha256"] == __import__("hashlib").sha256(b"a red fox").hexdigest()
    assert as_key(KEY).key_id in m["soft_binding"]["name"]
    assert m["soft_binding"]["alg"] == credentials.SOFT_BINDING_ALG
    assert report.watermark.detected and report.watermark.message == "001122"
    assert report.finding.startswith("AI-generated: signed by a trusted signer and marked by vidprov")
    d = json.loads(json.dumps(report.to_dict()))
    assert set(d) >= {"c2pa", "watermark", "latent_watermark", "finding"}
    assert set(d["c2pa"]) == {"state", "codes", "manifest"}


def test_flipped_media_byte_is_invalid(home, marked_file):
    out = sign(marked_file, home / "signed.mp4", claims())
    data = bytearray(out.read_bytes())
    data[data.find(b"mdat") + 400] ^= 0x01
    tampered = home / "tampered.mp4"
    tampered.write_bytes(bytes(data))
    report = verify(tampered, keys=[KEY])
    assert report.c2pa.state == "Invalid"
    assert any("mismatch" in c for c in report.c2pa.codes)
    assert report.finding.startswith("tampered: manifest invalid")


def test_stripped_manifest_is_absent_but_watermark_detects(home, marked_file):
    out = sign(marked_file, home / "signed.mp4", claims())
    stripped = credentials.strip(out, home / "stripped.mp4")
    report = verify(stripped, keys=[KEY])
    assert report.c2pa.state == "absent" and report.c2pa.manifest is None
    assert report.watermark.detected
    assert report.finding.startswith("Manifest stripped")


def test_unsigned_unmarked_is_absent_without_error(home, tmp_path):
    clip = vidprov.Clip(np.full((4, 96, 96, 3), 120, np.uint8), fps=4)
    path = vidprov.write_video(clip, tmp_path / "plain.mp4")
    report = verify(path, keys=["nobody"])
    assert report.c2pa.state == "absent" and not report.watermark.detected
    assert "provenance unknown" in report.finding


def test_untrusted_signer_is_valid_until_its_ca_is_given(home, marked_file, monkeypatch):
    other = home / "other"
    monkeypatch.setenv("VIDPROV_HOME", str(other))
    out = sign(marked_file, home / "other-signed.mp4", claims())
    other_ca = other / "c2pa" / "ca.pem"
    monkeypatch.setenv("VIDPROV_HOME", str(home / "home"))
    assert verify(out, keys=[KEY]).c2pa.state == "Valid"
    assert verify(out, keys=[KEY], trust=[other_ca]).c2pa.state == "Trusted"


def test_user_supplied_chain_by_env(home, marked_file, monkeypatch):
    files = certs.create_local_chain(home / "mine")
    monkeypatch.setenv(certs.ENV_CERT, str(files.chain))
    monkeypatch.setenv(certs.ENV_KEY, str(files.key))
    out = sign(marked_file, home / "mine.mp4", claims())
    assert credentials.read_credentials(out, trust=[files.ca]).state == "Trusted"
    assert not (home / "home" / "c2pa").exists()  # no local chain made when one was given


def test_corrupt_and_hostile_inputs_raise_clear_errors(home, tmp_path, marked_file):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(VidprovError):
        verify(junk)
    with pytest.raises(VidprovError):
        credentials.read_credentials(junk)
    with pytest.raises(VidprovError, match="no such file"):
        verify(tmp_path / "missing.mp4")
    with pytest.raises(credentials.SigningError):
        sign(marked_file, tmp_path / "out.avi")
    bad = tmp_path / "bad.pem"
    bad.write_text("not a cert")
    with pytest.raises(certs.CredentialsError):
        verify(marked_file, trust=[bad])


def test_sign_keyframe_png(home, tmp_path):
    png = tmp_path / "frame.png"
    cv2.imwrite(str(png), np.full((64, 64, 3), 90, np.uint8))
    out = sign(png, tmp_path / "signed.png", claims())
    assert credentials.read_credentials(out).state == "Trusted"


def test_sign_keyframe_jpeg_from_video(home, marked_file):
    out = credentials.sign_keyframe(marked_file, home / "key.jpg", claims())
    state = credentials.read_credentials(out)
    assert state.state == "Trusted" and state.manifest["generation"]["seed"] == 7
    with pytest.raises(credentials.SigningError):
        credentials.sign_keyframe(marked_file, home / "key.gif", claims())
