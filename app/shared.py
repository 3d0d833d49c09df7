"""What every page of the app shares: models loaded once per server process, upload limits, a
temporary folder per scan, reports without server paths, and the bundled sample clips."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import streamlit as st

UPLOAD_TYPES = ["mp4", "mov", "webm", "mkv", "avi", "gif"]
DEFAULT_MAX_UPLOAD_MB = 200
RESULTS_ENV = "VIDPROV_RESULTS_DIR"  # the one folder whose benchmark runs the Benchmarks page lists


def max_upload_mb() -> int:
    """Upload cap in MB: VIDPROV_APP_MAX_UPLOAD_MB (set by `vidprov app --max-upload-mb`), default 200."""
    try:
        return max(1, int(os.environ.get("VIDPROV_APP_MAX_UPLOAD_MB", DEFAULT_MAX_UPLOAD_MB)))
    except ValueError:
        return DEFAULT_MAX_UPLOAD_MB


@st.cache_resource(show_spinner="Loading the detector (once per server)...")
def scanner(model: str | None = None):
    import vidprov

    return vidprov.Scanner(model)


@st.cache_resource(show_spinner="Loading the generator (once per server)...")
def generator(model: str):
    from vidprov.generator import load

    return load(model, device=None)


def safe_name(name: str | None) -> str:
    """A user-supplied file name reduced to something safe to show: no folders, no control characters."""
    base = re.split(r"[\\/]", str(name or ""))[-1]
    base = re.sub(r"[^\w.\- ()]+", "_", base).strip(" ._") or "upload"
    return base[:80]


def suffix_of(name: str) -> str | None:
    """The allowed lower-case suffix of a file name, or None when it is not a video type the app takes."""
    suffix = Path(safe_name(name)).suffix.lower().lstrip(".")
    return suffix if suffix in UPLOAD_TYPES else None


@contextlib.contextmanager
def scratch_file(data: bytes, suffix: str) -> Iterator[Path]:
    """data written to a private temporary folder that is removed when the block ends. The name on
    disk is fixed: nothing the user typed ever becomes a server path."""
    with tempfile.TemporaryDirectory(prefix="vidprov-app-") as tmp:
        path = Path(tmp) / f"clip.{suffix}"
        path.write_bytes(data)
        yield path


def without_paths(value: Any, replacements: dict[str, str]) -> Any:
    """A copy of a report (dicts, lists, strings) with every server path replaced by its public name."""
    if isinstance(value, dict):
        return {k: without_paths(v, replacements) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [without_paths(v, replacements) for v in value]
    if isinstance(value, str):
        for server, public in replacements.items():
            value = value.replace(server, public)
        return value
    return value


def sample_clips() -> dict[str, Path]:
    """Bundled sample clips by display name: real camera clips that ship with installed packages."""
    from vidprov.samples import packaged_real_clips

    return {p.name: p for p in packaged_real_clips()}


def results_root() -> Path:
    """Where the Benchmarks page looks for runs: VIDPROV_RESULTS_DIR, default ./reports."""
    return Path(os.environ.get(RESULTS_ENV, "reports")).resolve()
