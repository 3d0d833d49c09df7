"""The provenance layer: mark + sign, verify, and the one verdict that sums up a file.

It sits above the components. `protect` marks a clip with the pixel watermark, writes it and signs
it (the one path for every clip vidprov hands out, generated ones included); `verify` checks every
layer of a file: the C2PA manifest (Trusted / Valid / Invalid / absent), vidprov's pixel watermark
under the given keys (plus the per-user default key) and, for clips of vidprov's generators, their
latent watermark; `Scanner` adds those findings to a detector's scan. `sentence` is the only place
that turns the findings (and a detector's verdict) into words.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import vidprov.generator  # noqa: F401  (registers the shipped VAE families a latent-feature detector names)
from vidprov.atomic import atomic_write_json, temp_dir
from vidprov.detector import scan as detector_scan
from vidprov.detector.scan import ScanReport
from vidprov.errors import NotAVideoError, VidprovError
from vidprov.io import probe, read_video, write_video
from vidprov.watermark import binding, credentials, pixel
from vidprov.watermark.keys import as_key, default_key

log = logging.getLogger(__name__)
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}

__all__ = ["ProvenanceReport", "ScanReport", "Scanner", "protect", "scan", "sentence", "verify", "write_clip"]


@dataclass
class ProvenanceReport:
    path: str
    c2pa: credentials.C2paState
    watermark: pixel.WatermarkResult | None
    latent_watermark: dict | None
    finding: str

    @property
    def marked(self) -> bool:
        """A vidprov watermark (pixel or latent) was detected."""
        return bool(self.watermark and self.watermark.detected) or bool(
            self.latent_watermark and self.latent_watermark.get("detected"))

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
    from vidprov.watermark import latent

    keys = _keys(keys)
    if not keys:
        return {"tested": False, "reason": "no watermark key to test"}
    try:
        from vidprov.generator import load

        gen = load(model)
        clip = read_video(path, max_frames=int(gen.settings["num_frames"]))
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
    from vidprov.generator import FAMILIES

    gen = ((state.manifest or {}).get("generation") or {})
    model = str(gen.get("model", ""))
    return model if str(gen.get("generator", "")).startswith("vidprov") and model in FAMILIES else None


def sentence(c2pa: credentials.C2paState, marked: bool, detector_verdict: str | None = None, *,
             mark_status: str | None = None) -> str:
    """What the provenance layers say, in one sentence.

    Without detector_verdict: the finding of verify(). With it: the scan's verdict, where signed
    Content Credentials that declare AI generation, or a vidprov watermark, outrank the statistical
    detector; their absence proves nothing (credentials and marks can be stripped). mark_status: the
    watermark's binding status; a mark copied from other content, or one whose payload does not
    decode, is never reported as provenance.
    """
    sources = (c2pa.manifest or {}).get("digital_source_type")
    ai_claim = credentials.TRAINED_ALGORITHMIC_MEDIA in (sources if isinstance(sources, list) else [sources])
    signed = c2pa.state in ("Trusted", "Valid")
    who = "a trusted signer" if c2pa.state == "Trusted" else "an untrusted signer"
    if detector_verdict is not None:
        if signed and ai_claim:
            return f"generated (Content Credentials from {'a' if c2pa.state == 'Trusted' else 'an untrusted'} signer declare AI generation)"
        if marked:
            return "generated (vidprov watermark present)"
        if c2pa.state == "Invalid":
            return f"{detector_verdict} (Content Credentials present but invalid: tampered)"
        if signed:
            return f"{detector_verdict} (signed Content Credentials without an AI-generation claim)"
        return f"{detector_verdict} (no Content Credentials or watermark found)"
    if c2pa.state == "Invalid":
        return "tampered: manifest invalid" + (", but the vidprov watermark is present" if marked else "") + "."
    if signed:
        what = "AI-generated" if ai_claim else "Signed content"
        if marked:
            return f"{what}: signed by {who} and marked by vidprov."
        return f"{what}: signed by {who}; no vidprov watermark found for the given keys."
    if marked:
        return "Manifest stripped (or never attached), watermark present: made or marked by vidprov."
    if mark_status == binding.COPIED:
        return ("A valid vidprov watermark made for other content (copied onto this video, or this video was "
                "cropped or edited past recognition): not evidence of where this video came from.")
    if mark_status == binding.UNREADABLE:
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
        probe(path)  # a damaged or hostile file fails here with a clear VideoError
        wm = detect_any(path, keys, max_frames=max_frames)
    state = credentials.read_credentials(path, trust=list(trust))
    model = _generator_model(state) if latent_model == "auto" else latent_model
    latent = latent_check(path, model, keys) if model and not is_image else None
    report = ProvenanceReport(str(path), state, wm, latent, finding="")
    report.finding = sentence(state, report.marked, mark_status=wm.status if wm is not None else None)
    return report


def protect(clip, out: str | os.PathLike, claims: credentials.Claims | None = None, *, key=None,
            payload: str | bytes | None = None, mark: bool = True, sign: bool = True, crf: int = 18,
            strict: bool = True) -> Path:
    """Mark clip with the pixel watermark (default: the per-user key), write it as mp4 and sign it.

    The manifest's soft-binding assertion names the key id and payload of the mark (also set on
    claims). mark/sign: either step can be left out. strict=False writes a clip too small for the
    mark unmarked, with a warning, instead of raising WatermarkError. Returns out.
    """
    claims = claims or credentials.Claims()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if mark:
        k = as_key(key) if key is not None else default_key()
        try:
            clip = pixel.embed(clip, k, payload)
            claims.watermark_key_id = k.key_id
            claims.watermark_payload = clip.meta["watermark_payload"]
        except pixel.WatermarkError as exc:
            if strict:
                raise
            log.warning("%s: not watermarked (%s)", out.name, exc)
    if not sign:
        return write_video(clip, out, crf=crf)
    with temp_dir(out.parent, "protect") as tmp:
        plain = write_video(clip, Path(tmp) / "marked.mp4", crf=crf)
        return credentials.sign(plain, out, claims)  # atomic into place


def write_clip(clip, out_mp4: str | os.PathLike, *, mark: bool = False, sign: bool = False) -> dict:
    """A generated (or real) clip as mp4 + JSON sidecar (its metadata), both atomic; returns the sidecar.

    mark: the pixel watermark under the per-user default key (skipped, with a warning, on frames
    smaller than its tile); sign: a C2PA manifest (trainedAlgorithmicMedia, model, checkpoint hash,
    prompt hash, seed, and the watermark's soft binding). Both go through protect().
    """
    out_mp4 = Path(out_mp4)
    claims = credentials.Claims(model=str(clip.meta.get("model", "")),
                                checkpoint_sha256=str(clip.meta.get("checkpoint_hash", "")),
                                prompt=clip.meta.get("prompt"), seed=clip.meta.get("seed"))
    protect(clip, out_mp4, claims, mark=mark, sign=sign, strict=False)
    marked = bool(claims.watermark_payload)
    meta = {k: v for k, v in clip.meta.items() if isinstance(v, (str, int, float, bool, type(None)))}
    if marked:
        meta.update(watermark_key_id=claims.watermark_key_id, watermark_payload=claims.watermark_payload)
    meta.update(fps=clip.fps, frames=clip.num_frames, height=clip.height, width=clip.width, file=out_mp4.name,
                watermarked=marked, signed=sign)
    atomic_write_json(out_mp4.with_suffix(".json"), meta)
    return meta


class Scanner(detector_scan.Scanner):
    """A detector's Scanner (see vidprov.detector.scan.Scanner for the arguments) whose reports also
    carry the file's provenance: verify()'s findings in `provenance` and, in `provenance_verdict`,
    one verdict from them and the detector's. provenance=False scans with the detector alone."""

    def __init__(self, model=None, *, provenance: bool = True, **kwargs):
        super().__init__(model, **kwargs)
        self.provenance = provenance

    def scan(self, src, *, name: str | None = None, progress=None) -> ScanReport:
        report = super().scan(src, name=name, progress=progress)
        if self.provenance and isinstance(src, (str, os.PathLike)):  # C2PA manifests live in files
            try:
                found = verify(src)
            except VidprovError as exc:
                report.provenance = {"error": str(exc)}
                report.provenance_verdict = f"{report.verdict} (provenance check failed)"
            else:
                report.provenance = found.to_dict()
                report.provenance_verdict = sentence(found.c2pa, found.marked, report.verdict,
                                                     mark_status=found.watermark.status if found.watermark else None)
        return report


def scan(src, **kwargs) -> ScanReport:
    """Scan one clip with the default detector (loaded once per process) and check its provenance.
    kwargs go to Scanner."""
    return (Scanner(**kwargs) if kwargs else detector_scan.default_scanner(Scanner)).scan(src)
