"""Caches of decoded and prepared clips: one key scheme and one array file format for all of them.

Keys are the first 16 hex digits of a sha256: of a file's bytes (file_digest) or of the JSON of the
parameters that made an entry (key). Entries are .npz files written atomically, so an interrupted job
resumes from the entries it finished.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from vidprov.atomic import atomic_write


def key(*parts) -> str:
    """A cache key for everything that determines an entry (JSON-able parts; paths and other objects
    count by their str())."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def file_digest(path: str | os.PathLike) -> str:
    """The key of a file's content (sha256 of its bytes)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def save_arrays(path: str | os.PathLike, *, compressed: bool = False, **arrays: np.ndarray) -> Path:
    """Write arrays to path (.npz) atomically; compressed trades write time for disk."""
    save = np.savez_compressed if compressed else np.savez
    return atomic_write(path, lambda tmp: save(tmp, **arrays), suffix=".npz")


def load_arrays(path: str | os.PathLike) -> dict[str, np.ndarray] | None:
    """The arrays of a cache entry, or None when there is none."""
    path = Path(path)
    if not path.is_file():
        return None
    with np.load(path) as z:
        return {k: z[k] for k in z.files}
