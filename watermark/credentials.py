"""Content Credentials (C2PA) through c2pa-python: the one module that talks to the SDK.

sign() embeds a manifest that says the clip was created by a trained algorithm (IPTC
digitalSourceType trainedAlgorithmicMedia), with the generator's name, version, model, checkpoint
hash, the prompt's hash and the seed, plus a c2pa.soft-binding assertion naming vidprov's
watermark algorithm and key id, so that a stripped copy can be tied back by its watermark.
read_credentials() validates a file against the local CA and any extra trust anchors.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vidprov.atomic import temp_prefix
from vidprov.errors import NotAVideoError, VidprovError
from vidprov.watermark import certs

TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
SOFT_BINDING_ALG = "io.github.vidprov.block-lattice-watermark.v2"
GENERATION_LABEL = "io.vidprov.generation"
MIME = {".mp4": "video/mp4", ".m4v": "video/mp4", ".mov": "video/quicktime", ".png": "image/png",
        ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}
STATES = ("Trusted", "Valid", "Invalid", "absent")


class SigningError(VidprovError):
    """A file could not be signed (unsupported format, damaged input, bad credentials)."""


class CredentialsReadError(VidprovError):
    """A file's Content Credentials could not be read at all (damaged or hostile container)."""


@dataclass
class Claims:
    """What the manifest states about how the clip was made."""

    generator: str = "vidprov"
    generator_version: str = ""
    model: str = ""
    checkpoint_sha256: str = ""
    prompt: str | None = None  # hashed, never stored
    prompt_sha256: str = ""
    seed: int | None = None
    watermark_key_id: str = ""
    watermark_payload: str = ""  # 16 hex digits: the word the mark carries (message, content digest, tag)
    title: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def prompt_hash(self) -> str:
        if self.prompt is not None:
            return hashlib.sha256(self.prompt.encode()).hexdigest()
        return self.prompt_sha256


@dataclass
class C2paState:
    state: str  # Trusted | Valid | Invalid | absent
    codes: list[str]
    manifest: dict | None

    def to_dict(self) -> dict:
        return asdict(self)


def _mime(path: Path) -> str:
    mime = MIME.get(path.suffix.lower())
    if mime is None:
        raise SigningError(f"{path}: cannot sign {path.suffix or 'files without a suffix'}; "
                           f"supported: {', '.join(sorted(MIME))}")
    return mime


def manifest_definition(claims: Claims) -> dict:
    from vidprov import __version__

    params = {"model": claims.model, "checkpoint_sha256": claims.checkpoint_sha256,
              "prompt_sha256": claims.prompt_hash(), "seed": claims.seed}
    assertions = [
        {"label": "c2pa.actions", "data": {"actions": [{
            "action": "c2pa.created",
            "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA,
            "softwareAgent": {"name": claims.generator, "version": claims.generator_version or __version__},
            "parameters": {k: v for k, v in params.items() if v not in (None, "")},
        }]}},
        {"label": GENERATION_LABEL, "data": {
            "generator": claims.generator, "generator_version": claims.generator_version or __version__,
            **{k: v for k, v in params.items() if v not in (None, "")}, **claims.extra}},
    ]
    if claims.watermark_key_id:
        value = bytes.fromhex(claims.watermark_payload) if claims.watermark_payload else b""
        assertions.append({"label": "c2pa.soft-binding", "data": {
            "alg": SOFT_BINDING_ALG,
            "name": f"vidprov pixel watermark, key id {claims.watermark_key_id}",
            "blocks": [{"scope": {}, "value": base64.b64encode(value).decode()}],
            "pad": [],
        }})
    return {
        "claim_generator_info": [{"name": "vidprov", "version": __version__}],
        "title": claims.title,
        "assertions": assertions,
    }


def _context(anchors: str | None, *, signing: bool = False):
    import c2pa

    cfg: dict[str, Any] = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}}
    if anchors:
        cfg["trust"] = {"user_anchors": anchors}
    if signing:
        cfg["builder"] = {"thumbnail": {"enabled": False}}
    return c2pa.Context.from_dict(cfg)


def sign(path: str | os.PathLike, out: str | os.PathLike, claims: Claims | None = None, *,
         cert: str | os.PathLike | None = None, key: str | os.PathLike | None = None) -> Path:
    """Write a signed copy of path to out (atomic). Uses the local dev chain unless cert/key are given."""
    import c2pa

    path, out = Path(path), Path(out)
    if not path.is_file():
        raise NotAVideoError(f"{path}: no such file")
    mime = _mime(path)
    if _mime(out) != mime:
        raise SigningError(f"{out}: must have the same format as {path} ({mime})")
    claims = claims or Claims()
    if not claims.title:
        claims.title = out.name
    files = certs.signer_files(cert, key)
    try:
        info = c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, files.chain.read_bytes(), files.key.read_bytes(), None)
        signer = c2pa.Signer.from_info(info)
    except (c2pa.C2paError, OSError, ValueError) as exc:
        raise certs.CredentialsError(f"cannot load the signing credentials {files.chain}: {exc}") from exc
    anchors = files.ca.read_text() if files.ca else None
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=temp_prefix(out.name), suffix=out.suffix, dir=out.parent)
    try:
        with signer, c2pa.Builder(manifest_definition(claims), context=_context(anchors, signing=True)) as builder:
            with open(path, "rb") as src, os.fdopen(fd, "w+b") as dst:
                builder.sign(signer, mime, src, dst)
        os.replace(tmp, out)
    except c2pa.C2paError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise SigningError(f"{path}: cannot sign ({exc})") from exc
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out


def sign_keyframe(video: str | os.PathLike, out: str | os.PathLike, claims: Claims | None = None, *,
                  index: int = 0, cert=None, key=None) -> Path:
    """Save frame `index` of a video as PNG/JPEG (by out's suffix) and sign it with the same claims."""
    import cv2

    import vidprov

    out = Path(out)
    mime = _mime(out)
    if not mime.startswith("image/"):
        raise SigningError(f"{out}: a keyframe must be .png, .jpg or .jpeg")
    clip = vidprov.read_video(video, max_frames=index + 1)
    frame = clip.frames[min(index, clip.num_frames - 1)]
    with tempfile.TemporaryDirectory(dir=out.parent if out.parent.exists() else None, prefix=temp_prefix("keyframe")) as tmp:
        plain = Path(tmp) / f"keyframe{out.suffix.lower()}"
        if not cv2.imwrite(str(plain), np.ascontiguousarray(frame[..., ::-1])):
            raise SigningError(f"{out}: could not encode the keyframe")
        return sign(plain, out, claims, cert=cert, key=key)


def _summary(active: dict) -> dict:
    """The parts of the active manifest a person reads: actions, source type, signer, generator."""
    actions, generation, soft = [], None, None
    for a in active.get("assertions", []):
        label = a.get("label", "")
        if label.startswith("c2pa.actions"):
            actions.extend(a.get("data", {}).get("actions", []))
        elif label == GENERATION_LABEL:
            generation = a.get("data")
        elif label.startswith("c2pa.soft-binding"):
            soft = a.get("data")
    sources = sorted({a.get("digitalSourceType") for a in actions if a.get("digitalSourceType")})
    sig = active.get("signature_info", {}) or {}
    return {
        "title": active.get("title"),
        "claim_generator": [g.get("name") for g in active.get("claim_generator_info", [])],
        "actions": [a.get("action") for a in actions],
        "digital_source_type": sources[0] if len(sources) == 1 else sources or None,
        "signer": {"issuer": sig.get("issuer"), "common_name": sig.get("common_name"), "alg": sig.get("alg"),
                   "time": sig.get("time")},
        "generation": generation,
        "soft_binding": soft,
    }


def read_credentials(path: str | os.PathLike, *, trust: list[str | os.PathLike] = ()) -> C2paState:
    """Validate the manifest of path. Trust anchors: the local CA plus the given PEM files."""
    import c2pa

    path = Path(path)
    if not path.is_file():
        raise NotAVideoError(f"{path}: no such file")
    anchors = "".join([certs.local_anchors(), *(certs.read_pem_certs(t) for t in trust)])
    try:
        reader = c2pa.Reader.try_create(str(path), context=_context(anchors or None))
    except c2pa.C2paError as exc:
        text = str(exc)
        if "NotSupported" in type(exc).__name__ or "not supported" in text.lower():
            return C2paState("absent", [f"unsupported format: {text}"], None)
        if "could not be parsed" in text or "invalid" in text.lower() and "structure" in text.lower():
            raise CredentialsReadError(f"{path}: damaged or not a media file ({text[:160]})") from exc
        # the SDK found a manifest but could not make sense of it: that is a failed validation
        return C2paState("Invalid", [f"manifest unreadable: {text[:160]}"], None)
    if reader is None:
        return C2paState("absent", [], None)
    with reader:
        store = json.loads(reader.json())
        state = reader.get_validation_state() or "Invalid"
        results = reader.get_validation_results() or {}
    active = store.get("manifests", {}).get(store.get("active_manifest", ""), None)
    status = results.get("activeManifest", {}) if isinstance(results, dict) else {}
    failures = [s.get("code") for s in status.get("failure", [])]
    codes = failures + [s.get("code") for s in status.get("success", [])]
    if not codes:
        codes = [s.get("code") for s in store.get("validation_status", [])]
    if state not in ("Trusted", "Valid"):
        state = "Invalid"
    return C2paState(state, [c for c in codes if c], _summary(active) if active else None)


def strip(path: str | os.PathLike, out: str | os.PathLike) -> Path:
    """Copy a video's streams into a new container without re-encoding: drops the manifest, keeps pixels."""
    import av

    path, out = Path(path), Path(out)
    fd, tmp = tempfile.mkstemp(prefix=temp_prefix(out.name), suffix=out.suffix, dir=out.parent)
    os.close(fd)
    try:
        with av.open(str(path)) as src, av.open(tmp, "w", format="mp4") as dst:
            s_in = src.streams.video[0]
            s_out = dst.add_stream_from_template(s_in)
            for packet in src.demux(s_in):
                if packet.dts is None:
                    continue
                packet.stream = s_out
                dst.mux(packet)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out
