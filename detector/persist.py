"""Atomic save/load of a detector folder: model.safetensors (arrays) + config.json (everything else)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from vidprov.atomic import atomic_write, atomic_write_json
from vidprov.errors import VidprovError

WEIGHTS = "model.safetensors"
CONFIG = "config.json"


class DetectorFileError(VidprovError):
    """A saved detector folder is missing, incomplete or of another kind."""


def save_folder(folder: str | os.PathLike, kind: str, config: dict, tensors: dict[str, np.ndarray]) -> Path:
    """Write tensors then config (config last: its presence marks a complete folder)."""
    from safetensors.numpy import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {k: np.ascontiguousarray(v) for k, v in tensors.items()}
    atomic_write(folder / WEIGHTS, lambda tmp: save_file(arrays, tmp))
    atomic_write_json(folder / CONFIG, {"kind": kind, **config}, sort_keys=True)
    return folder


def load_folder(folder: str | os.PathLike, kind: str | None = None) -> tuple[dict, dict[str, np.ndarray]]:
    from safetensors.numpy import load_file

    folder = Path(folder)
    cfg_path, w_path = folder / CONFIG, folder / WEIGHTS
    if not cfg_path.is_file() or not w_path.is_file():
        raise DetectorFileError(f"{folder}: not a saved detector (needs {CONFIG} and {WEIGHTS})")
    try:
        config = json.loads(cfg_path.read_text())
    except json.JSONDecodeError as exc:
        raise DetectorFileError(f"{cfg_path}: not valid JSON ({exc})") from exc
    if kind is not None and config.get("kind") != kind:
        raise DetectorFileError(f"{folder}: holds a {config.get('kind')!r} detector, not {kind!r}")
    try:
        tensors = load_file(str(w_path))
    except Exception as exc:  # safetensors raises its own error types for damaged files
        raise DetectorFileError(f"{w_path}: unreadable weights ({exc})") from exc
    return config, tensors


def read_kind(folder: str | os.PathLike) -> str:
    cfg = Path(folder) / CONFIG
    if not cfg.is_file():
        raise DetectorFileError(f"{folder}: not a saved detector (no {CONFIG})")
    return json.loads(cfg.read_text()).get("kind", "")
