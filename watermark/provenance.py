"""verify(): every provenance layer of one file, and one sentence that sums them up.

Layers: the C2PA manifest (Trusted / Valid / Invalid / absent), vidprov's pixel watermark under
the given keys (plus the per-user default key) and, when a generator is given, its latent
watermark. The finding puts them together, e.g. "manifest stripped, watermark present".
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from vidprov.errors import NotAVideoError
from vidprov.watermark import binding, credentials, pixel
from vidprov.watermark.keys import as_key, default_key

log = logging.getLogger(__name__)
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}


@dataclass
class ProvenanceReport:
    path: str
    c2pa: credentials.C2paState
    watermark: pixel.WatermarkResult | None
    latent_watermark: dict | None
    finding: str

    def to_dict(self) -> dict:
        return {
            "path": self.path,
            "c2pa": self.c2pa.to_dict(),
            "watermark": self.watermark.to_dict() if self.watermark else None,
            "latent_watermark": self.latent_watermark,
            "finding": self.finding,
        }


def _keys(keys) -> list:
    out = [as_key(k) for k in (keys or [])]
    dk = default_key(create=False)
    if dk is not None and all(k.key_id != dk.key_id for k in out):
        out.append(dk)
    return out


def detect_any(path: str | os.PathLike, keys, *, max_frames: int | None = 600) -> pixel.WatermarkResult | None:
    """Best pixel-watermark result over keys (the luma is folded once); p-values Bonferroni-corrected."""
    keys = _keys(keys)
    if not keys:
        return None
    try:
        folder = pixel.fold_file(path, max_frames=max_frames)
    except pixel.WatermarkError as exc:
        log.info("%s: no watermark test: %s", path, exc)
        return None
    results = [pixel.analyse(folder, k) for k in keys]
    best = min(results, key=lambda r: r.p_value)
    best.p_value = min(1.0, best.p_value * len(keys))
    best.signal = best.p_value < pixel.DEFAULT_ALPHA
    best.status = binding.status(best.signal, best.tag_ok, best.digest_distance)
    best.detected = best.status == binding.BOUND
    return best


def latent_check(path: str | os.PathLike, model: str, keys) -> dict:
    """Latent-watermark test of a clip made by one of vidprov's generators (best key, Bonferroni)."""
    import vidprov
    from vidprov.errors import VidprovError
    from vidprov.watermark import latent

    keys = _keys(keys)
    if not keys:
        return {"tested": False, "reason": "no watermark key to test"}
    try:
        from vidprov.generator import load

        gen = load(model)
        clip = vidprov.read_video(path, max_frames=int(gen.settings["num_frames"]))
        wm = latent.GeneratorWatermark(gen)
        noise = wm.recover_noise(clip)  # the costly part (VAE + inversion) is done once for all keys
    except (VidprovError, ImportError, RuntimeError, ValueError) as exc:
        return {"tested": False, "reason": f"{type(exc).__name__}: {exc}"[:300]}
    results = [latent.test_noise(noise, k) for k in keys]
    best = min(results, key=lambda r: r.p_value)
    p = min(1.0, best.p_value * len(keys))
    return {**best.to_dict(), "p_value": p, "detected": p < latent.DEFAULT_ALPHA, "model": model, "tested": True}


def _generator_model(state: credentials.C2paState) -> str | None:
    """The vidprov generator family a signed manifest names, if any."""
    from vidprov.generator.models import FAMILIES

    gen = ((state.manifest or {}).get("generation") or {})
    model = str(gen.get("model", ""))
    return model if str(gen.get("generator", "")).startswith("vidprov") and model in FAMILIES else None


def finding(c2pa: credentials.C2paState, wm: pixel.WatermarkResult | None, latent: dict | None) -> str:
    marked = bool(wm and wm.detected) or bool(latent and latent.get("detected"))
    ai_claim = bool(c2pa.manifest and c2pa.manifest.get("digital_source_type") == credentials.TRAINED_ALGORITHMIC_MEDIA)
    if c2pa.state == "Invalid":
        return "tampered: manifest invalid" + (", but the vidprov watermark is present" if marked else "") + "."
    if c2pa.state in ("Trusted", "Valid"):
        who = "a trusted signer" if c2pa.state == "Trusted" else "an untrusted signer"
        what = "AI-generated" if ai_claim else "Signed content"
        if marked:
            return f"{what}: signed by {who} and marked by vidprov."
        return f"{what}: signed by {who}; no vidprov watermark found for the given keys."
    if marked:
        return "Manifest stripped (or never attached), watermark present: made or marked by vidprov."
    if wm is not None and wm.status == binding.COPIED:
        return ("A valid vidprov watermark made for other content (copied onto this video, or this video was "
                "cropped or edited past recognition): not evidence of where this video came from.")
    if wm is not None and wm.status == binding.UNREADABLE:
        return ("A watermark-like signal whose payload is unreadable (no valid checksum under the key): "
                "not a vidprov mark; provenance unknown.")
    return "No Content Credentials and no vidprov watermark for the given keys: provenance unknown."


def verify(path: str | os.PathLike, *, keys=None, trust=(), max_frames: int | None = 600,
           latent_model: str | None = "auto") -> ProvenanceReport:
    """Check every provenance layer of path.

    keys: watermark keys to test besides the per-user default key. trust: extra PEM trust anchors.
    latent_model: generator family ('wan', 'ltx') whose latent watermark to test; 'auto' tests the
    one a signed manifest names (clips made by vidprov's generators); None skips it.
    """
    path = Path(path)
    if not path.is_file():
        raise NotAVideoError(f"{path}: no such file")
    is_image = path.suffix.lower() in IMAGE_SUFFIXES
    wm = None
    if not is_image:
        import vidprov

        vidprov.probe(path)  # a damaged or hostile file fails here with a clear VideoError
        wm = detect_any(path, keys, max_frames=max_frames)
    state = credentials.read_credentials(path, trust=list(trust))
    model = _generator_model(state) if latent_model == "auto" else latent_model
    latent = latent_check(path, model, keys) if model and not is_image else None
    return ProvenanceReport(str(path), state, wm, latent, finding(state, wm, latent))


def protect(clip, out: str | os.PathLike, claims: credentials.Claims | None = None, *, key=None,
            payload: str | bytes | None = None, crf: int = 18) -> Path:
    """Mark clip with the pixel watermark (default: the per-user key), write it as mp4 and sign it.

    The manifest's soft-binding assertion names the key id and payload of the mark. Returns out.
    """
    import vidprov
    from vidprov.atomic import temp_dir

    k = as_key(key) if key is not None else default_key()
    marked = pixel.embed(clip, k, payload)
    claims = claims or credentials.Claims()
    claims.watermark_key_id = k.key_id
    claims.watermark_payload = marked.meta["watermark_payload"]
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with temp_dir(out.parent, "protect") as tmp:
        plain = vidprov.write_video(marked, Path(tmp) / "marked.mp4", crf=crf)
        return credentials.sign(plain, out, claims)
