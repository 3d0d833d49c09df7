"""Detectors to benchmark: registered vidprov detectors by name, or any external program.

External: `--external "python their_detector.py --files {list} --out {out}"`. The harness writes
each (normalised, perturbed) clip as a near-lossless H.264 mp4, puts their paths one per line in
{list}, runs the command, and reads {out}: a CSV with columns path,score (score = P(generated) in
[0, 1] for calibration metrics; any real number still gives AUC/AP/EER/TPR). No import of the
other project is needed, and it is never trained here (fit only checks the command exists).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vidprov.clip import Clip
from vidprov.errors import VidprovError
from vidprov.io import write_video

log = logging.getLogger(__name__)

# Small settings for --quick (seconds, not minutes, per fit on this CPU).
QUICK_KWARGS: dict[str, dict[str, Any]] = {
    "frame_cnn": {"input_size": 32, "frames_per_clip": 4, "epochs": 6, "batch_size": 32, "max_train_seconds": 40},
}


class ExternalDetectorError(VidprovError):
    """The external detector command failed or wrote unusable scores."""


class ExternalCommand:
    """A detector that is a shell command template with {list} and {out} placeholders."""

    def __init__(self, command: str, timeout_s: float = 3600.0):
        if "{list}" not in command or "{out}" not in command:
            raise ExternalDetectorError(f"external command must contain {{list}} and {{out}}: {command!r}")
        self.command = command
        self.timeout_s = timeout_s

    def fit(self, clips, y):
        exe = shlex.split(self.command)[0]
        if shutil.which(exe) is None and not Path(exe).exists():
            raise ExternalDetectorError(f"external detector program {exe!r} not found")
        self.fitted_ = True
        return self

    def predict_proba(self, clips: Sequence[Clip]) -> np.ndarray:
        with tempfile.TemporaryDirectory(prefix="vidprov-ext-") as tmp:
            tmp = Path(tmp)
            paths = []
            for i, clip in enumerate(clips):
                # crf 0: the clips were already normalised (H.264 round-trip); add no new loss.
                paths.append(str(write_video(clip, tmp / f"clip{i:05d}.mp4", crf=0)))
            (tmp / "list.txt").write_text("\n".join(paths) + "\n")
            out = tmp / "scores.csv"
            cmd = self.command.replace("{list}", shlex.quote(str(tmp / "list.txt"))).replace(
                "{out}", shlex.quote(str(out)))
            try:
                proc = subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=self.timeout_s)
            except subprocess.TimeoutExpired as exc:
                raise ExternalDetectorError(f"external detector timed out after {self.timeout_s:g} s") from exc
            if proc.returncode != 0:
                tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or [""]
                raise ExternalDetectorError(f"external detector exited with {proc.returncode}: {tail[0]}")
            if not out.is_file():
                raise ExternalDetectorError(f"external detector wrote no {{out}} file ({cmd})")
            try:
                table = pd.read_csv(out)
            except (ValueError, pd.errors.ParserError) as exc:
                raise ExternalDetectorError(f"external detector output is not a CSV: {exc}") from exc
            if not {"path", "score"} <= set(table.columns):
                raise ExternalDetectorError(f"external detector CSV needs columns path,score; has {list(table.columns)}")
            by_path = dict(zip(table["path"].astype(str), pd.to_numeric(table["score"], errors="coerce"), strict=True))
            missing = [p for p in paths if p not in by_path or not np.isfinite(by_path[p])]
            if missing:
                raise ExternalDetectorError(f"external detector gave no valid score for {len(missing)} of "
                                            f"{len(paths)} clips (first: {Path(missing[0]).name})")
            s = np.array([by_path[p] for p in paths], np.float64)
        # Raw (unbounded) scores pass through unchanged: ranking metrics hold, ECE becomes NaN.
        return np.stack([1 - s, s], axis=1)


@dataclass
class DetectorSpec:
    """What the harness benchmarks: a display name, a factory, and what identifies its version."""

    name: str
    factory: Any  # () -> detector with fit/predict_proba
    identity: dict = field(default_factory=dict)

    def fingerprint(self) -> str:
        text = json.dumps({"name": self.name, **self.identity}, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def registered(name: str, *, quick: bool = False, **kwargs) -> DetectorSpec:
    from vidprov.benchmarks.baselines import register_baselines
    from vidprov.detector import create

    register_baselines()
    kw = {**(QUICK_KWARGS.get(name, {}) if quick else {}), **kwargs}
    probe = create(name, **kw)  # fails early, with the list of names, on a typo
    identity = {"kind": "registered", "class": type(probe).__name__, "version": getattr(probe, "version", ""),
                "params": {k: v for k, v in probe.get_params().items() if _plain(v)}}
    for k, v in probe.get_params().items():
        if dataclasses.is_dataclass(v):  # a WindowSpec: its fields are what identify it
            identity["params"][k] = dataclasses.asdict(v)
        elif not _plain(v):
            identity["params"][k] = _object_identity(v)
    if getattr(probe, "vae", "absent") is None and hasattr(probe, "vae_handle"):
        # A VAE loaded by family name: key the cache on its weights, so retrained weights rescore.
        try:
            identity["vae_weights"] = _object_identity(probe.vae_handle())
        except VidprovError as exc:
            identity["vae_weights"] = f"unavailable: {exc}"
    return DetectorSpec(name, lambda: create(name, **kw), identity)


def external(command: str, name: str | None = None) -> DetectorSpec:
    ExternalCommand(command)  # validates the placeholders now
    return DetectorSpec(name or "external", lambda: ExternalCommand(command), {"kind": "external", "command": command})


def _plain(v) -> bool:
    return v is None or isinstance(v, (str, int, float, bool, tuple, list))


def _object_identity(obj) -> str:
    """A stable identity for a non-JSON parameter (a VAE object): its class and weights' hash."""
    model = getattr(obj, "vae", None)  # a vidprov.vae.VAEHandle's diffusers model
    if model is not None and hasattr(model, "state_dict"):
        h = hashlib.sha256()
        for k, v in sorted(model.state_dict().items()):
            h.update(k.encode())
            h.update(v.detach().cpu().numpy().tobytes())
        return f"{type(model).__name__}:{h.hexdigest()[:12]}"
    return type(obj).__name__
