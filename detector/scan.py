"""The scanning API platforms call: `scan(src)` and `Scanner(...).scan_many(...)` -> ScanReport.

A Scanner loads its detector once and is safe to share between threads (a web server's workers):
models are read-only after loading, and every scan builds its own windows and flow objects.
Long videos are analysed in windows, a bounded number of them spread over the whole duration,
and the report says how much of the clip was looked at.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from vidprov.clip import Clip
from vidprov.detector.persist import DetectorFileError
from vidprov.detector.windows import clip_duration, rewindable, scan_windows
from vidprov.errors import VidprovError
from vidprov.io import describe_source, probe
from vidprov.limits import DEFAULT_LIMITS, Limits

log = logging.getLogger(__name__)

SHIPPED_DIR = Path(__file__).resolve().parent / "weights"
DEFAULT_MODEL_DIR = SHIPPED_DIR / "default"


def shipped_models() -> list[str]:
    """Names of the detectors shipped in detector/weights ('default', 'with-vidprov', ...)."""
    return sorted(p.name for p in SHIPPED_DIR.iterdir() if (p / "config.json").is_file()) if SHIPPED_DIR.is_dir() else []


def resolve_model_dir(model: str | os.PathLike | None) -> Path:
    """None -> the default; a shipped model's name -> its folder; anything else is a folder path."""
    if model is None:
        return DEFAULT_MODEL_DIR
    if str(model) in shipped_models() and not Path(model).exists():  # a local folder of that name wins
        return SHIPPED_DIR / str(model)
    return Path(model)


LIKELY_GENERATED, LIKELY_REAL, UNCERTAIN, ERROR = "likely generated", "likely real", "uncertain", "error"


@dataclass
class Segment:
    start_s: float
    end_s: float
    p_generated: float


@dataclass
class ScanReport:
    """What a scan found. p_generated is calibrated on held-out data; verdict applies the
    detector's thresholds (likely generated >= threshold > uncertain >= real_below > likely real)."""

    path: str
    p_generated: float | None
    verdict: str
    error: str | None = None
    threshold: float | None = None
    real_below: float | None = None
    segments: list[Segment] = field(default_factory=list)
    drivers: list[dict[str, Any]] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)  # the drivers in words, strongest first
    analysed_s: float = 0.0
    duration_s: float | None = None
    analysed_fraction: float | None = None
    detector: str | None = None
    provenance: dict[str, Any] | None = None
    provenance_verdict: str | None = None
    elapsed_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def evidence_sentence(what: str, log_odds: float) -> str:
    """One driver in words: which signal, which way, how strongly (log-odds on the detector's scale)."""
    strength = "strongly" if abs(log_odds) >= 2 else "moderately" if abs(log_odds) >= 0.5 else "weakly"
    side = "generated" if log_odds > 0 else "real camera footage"
    return f"{what[0].upper()}{what[1:]}: {strength} towards {side} ({log_odds:+.2f} log-odds)."


def verdict_for(p: float, threshold: float, real_below: float) -> str:
    if p >= threshold:
        return LIKELY_GENERATED
    if p < real_below:
        return LIKELY_REAL
    return UNCERTAIN


def _provenance(src) -> dict[str, Any] | None:
    """Watermark and C2PA findings from vidprov.watermark.verify, when that component provides it."""
    if not isinstance(src, (str, os.PathLike)):
        return None  # verify works on files (C2PA manifests live in the container)
    try:
        from vidprov import watermark
    except ImportError:
        return None
    verify = getattr(watermark, "verify", None)
    if verify is None:
        return None
    try:
        rep = verify(src)
    except VidprovError as exc:
        return {"error": str(exc)}
    data = rep.to_dict() if hasattr(rep, "to_dict") else dict(vars(rep))
    return data


def _combine(verdict: str, prov: dict[str, Any] | None) -> str | None:
    """One provenance verdict from vidprov.watermark.verify's report and the detector's verdict.
    Signed Content Credentials that declare AI generation, or a vidprov watermark, outrank the
    statistical detector; their absence proves nothing (credentials and marks can be stripped)."""
    if not prov:
        return None
    if "error" in prov:
        return f"{verdict} (provenance check failed)"
    c2pa = prov.get("c2pa") or {}
    state = c2pa.get("state")
    manifest = c2pa.get("manifest") or {}
    ai_claim = "trainedAlgorithmicMedia" in str(manifest.get("digital_source_type", ""))
    marked = bool((prov.get("watermark") or {}).get("detected")) or bool((prov.get("latent_watermark") or {}).get("detected"))
    if state in ("Trusted", "Valid") and ai_claim:
        return f"generated (Content Credentials from a{'' if state == 'Trusted' else 'n untrusted'} signer declare AI generation)"
    if marked:
        return "generated (vidprov watermark present)"
    if state == "Invalid":
        return f"{verdict} (Content Credentials present but invalid: tampered)"
    if state in ("Trusted", "Valid"):
        return f"{verdict} (signed Content Credentials without an AI-generation claim)"
    return f"{verdict} (no Content Credentials or watermark found)"


class Scanner:
    """Load a detector once, scan many clips.

    model: a saved detector folder (default: the committed default detector) or a fitted detector.
    threshold: overrides the model card's 1%-FPR threshold. max_windows: windows analysed per clip
    (spread over the clip when it is longer). explain: how many driving features to report.
    pipeline: decode the next windows on a second thread while scoring the current ones (same scores).
    torch_threads: sets torch's intra-op CPU threads for the process (torch.set_num_threads) when the
    Scanner is built; None leaves them alone. The default 1 is never slower here: the networks see a few
    small windows at a time, and a second intra-op thread competes with the decode thread (idle 2-core
    machine, scan / decode time: shipped default 2.96x with 1 thread, 3.00x with 2; a model with one
    window per encode 2.28x vs 2.82x).
    """

    def __init__(self, model: str | os.PathLike | Any | None = None, *, threshold: float | None = None,
                 max_windows: int = 16, explain: int = 5, provenance: bool = True, device: str | None = None,
                 limits: Limits = DEFAULT_LIMITS, workers: int = 1, pipeline: bool = True,
                 torch_threads: int | None = 1):
        from vidprov.detector.fused import load_detector

        if torch_threads is not None:
            if torch_threads < 1:
                raise ValueError(f"torch_threads must be >= 1 or None, got {torch_threads}")
            import torch

            if torch.get_num_threads() != torch_threads:
                torch.set_num_threads(torch_threads)

        self._lock = threading.Lock()
        if model is None or isinstance(model, (str, os.PathLike)):
            folder = resolve_model_dir(model)
            if not (folder / "config.json").is_file():
                raise DetectorFileError(
                    f"{folder}: no trained detector there; shipped ones: {', '.join(shipped_models()) or 'none'}; "
                    "train one with `vidprov detector train --data MANIFEST --out DIR`")
            self.detector = load_detector(folder, device=device)
            self.name = folder.name
            card = _read_card(folder)
        else:
            self.detector, self.name, card = model, type(model).__name__, {}
        self.threshold = float(threshold if threshold is not None else card.get("threshold", 0.5))
        self.real_below = min(float(card.get("real_below", self.threshold / 2)), self.threshold)
        self.spec = replace(self.detector.spec, max_windows=max_windows)
        self.explain = explain
        self.provenance = provenance
        self.limits = limits
        self.workers = max(1, workers)
        self.pipeline = pipeline

    def _windows(self, src, duration: float | None, src_fps: float | None) -> Iterator:
        return scan_windows(src, self.spec, duration, src_fps, self.limits)

    def _score(self, windows: Iterator) -> tuple[list, list]:
        """Score windows while the next ones are still being decoded.

        Decoding and the H.264 round-trip run on a producer thread, the features and networks on
        this one; windows arrive in runs of spec.chunk (one encode each). On the 2-core machine here
        this is ~6% faster than decoding everything first for the shipped default (~12% with one
        window per encode). Both threads share one interpreter lock; a decode worker *process* was
        measured too (session 5) and gained only another 3%, because producing the windows (decode +
        round-trip, ~1.5x a plain decode) is the longer of the two stages. Windows are independent, so
        scoring them in the batches that happen to be ready gives the same scores as all at once.
        """
        if not self.pipeline:
            wins = list(windows)
            return wins, self.detector.score_windows(wins, explain=self.explain) if wins else []
        q: queue.Queue = queue.Queue(maxsize=4 * max(1, self.spec.chunk))
        stop = threading.Event()
        done = object()

        def put(item) -> bool:
            while not stop.is_set():
                try:
                    q.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        def produce():
            try:
                for w in windows:
                    if not put(w):
                        return
                put(done)
            except BaseException as exc:  # handed to the consumer, which raises it
                put(exc)
            finally:
                close = getattr(windows, "close", None)
                if close is not None:
                    close()  # releases the open container when the consumer stopped early

        thread = threading.Thread(target=produce, name="vidprov-scan-decode", daemon=True)
        thread.start()
        wins, scores = [], []
        try:
            finished = False
            while not finished:
                batch = [q.get()]
                while True:  # take whatever else is ready, without waiting
                    try:
                        batch.append(q.get_nowait())
                    except queue.Empty:
                        break
                if batch[-1] is done or isinstance(batch[-1], BaseException):
                    end = batch.pop()
                    if isinstance(end, BaseException):
                        raise end
                    finished = True
                if batch:
                    wins += batch
                    scores += self.detector.score_windows(batch, explain=self.explain)
        finally:
            stop.set()
            thread.join()
        return wins, scores

    def scan(self, src, *, name: str | None = None) -> ScanReport:
        """Scan one clip (path, bytes, binary file object or Clip). Bad input raises VidprovError."""
        t0 = time.perf_counter()
        label = name or (str(src.meta.get("path", "<clip>")) if isinstance(src, Clip) else describe_source(src))
        if isinstance(src, Clip):
            duration, fps = clip_duration(src), src.fps
        else:
            src = rewindable(src)
            info = probe(src, limits=self.limits)
            duration, fps = (info.duration_s or None), info.fps
            if hasattr(src, "seek"):
                src.seek(0)
        windows, scores = self._score(self._windows(src, duration, fps))
        if not windows:
            raise VidprovError(f"{label}: no frames could be analysed")
        p = float(np.mean([s.p_generated for s in scores]))
        analysed = float(sum(w.end_s - w.start_s for w in windows))
        if duration:  # a tail window ends at its last frame's nominal end, a little past the container's
            analysed = min(analysed, duration)
        verdict = verdict_for(p, self.threshold, self.real_below)
        drivers: dict[str, float] = {}
        for s in scores:
            for fname, contrib in s.drivers:
                drivers[fname] = drivers.get(fname, 0.0) + contrib / len(scores)
        top = sorted(drivers.items(), key=lambda kv: -abs(kv[1]))[: self.explain]
        describe = getattr(self.detector, "describe_signal", lambda name: f"the feature {name}")
        prov = _provenance(src) if self.provenance else None
        return ScanReport(
            path=label, p_generated=p, verdict=verdict, threshold=self.threshold, real_below=self.real_below,
            segments=[Segment(s.start_s, s.end_s, s.p_generated) for s in scores],
            drivers=[{"feature": k, "log_odds": v, "towards": "generated" if v > 0 else "real"} for k, v in top],
            evidence=[evidence_sentence(describe(k), v) for k, v in top],
            analysed_s=analysed, duration_s=duration,
            analysed_fraction=None if not duration else min(1.0, analysed / duration),
            detector=self.name, provenance=prov, provenance_verdict=_combine(verdict, prov),
            elapsed_s=time.perf_counter() - t0,
        )

    def safe_scan(self, src, *, name: str | None = None) -> ScanReport:
        """Like scan, but a failure becomes a report with `error` set instead of an exception."""
        t0 = time.perf_counter()
        try:
            return self.scan(src, name=name)
        except (VidprovError, ValueError, OSError) as exc:
            label = name or (describe_source(src) if not isinstance(src, Clip) else "<clip>")
            log.info("scan of %s failed: %s", label, exc)
            return ScanReport(path=label, p_generated=None, verdict=ERROR, error=str(exc), detector=self.name,
                              elapsed_s=time.perf_counter() - t0)

    def scan_many(self, sources: Iterable, workers: int | None = None) -> Iterator[ScanReport]:
        """Yield one report per source as each finishes (completion order when workers > 1).
        Failures are reports with `error` set; the batch never stops on a bad file."""
        n = max(1, workers or self.workers)
        if n == 1:
            for s in sources:
                yield self.safe_scan(s)
            return
        with ThreadPoolExecutor(max_workers=n) as pool:
            pending = set()
            for s in sources:
                pending.add(pool.submit(self.safe_scan, s))
                if len(pending) >= 2 * n:  # bounded queue: never materialise a huge iterable
                    done = next(as_completed(pending))
                    pending.remove(done)
                    yield done.result()
            for fut in as_completed(pending):
                yield fut.result()


def _read_card(folder: Path) -> dict[str, Any]:
    import json

    f = folder / "card.json"
    return json.loads(f.read_text()) if f.is_file() else {}


_default: Scanner | None = None
_default_lock = threading.Lock()


def scan(src, **kwargs) -> ScanReport:
    """Scan one clip with the default detector (loaded once per process). kwargs go to Scanner."""
    global _default
    if kwargs:
        return Scanner(**kwargs).scan(src)
    with _default_lock:
        if _default is None:
            _default = Scanner()
    return _default.scan(src)
