"""PNG outputs of training: sample grids (clips x frames) and loss curves."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from vidprov.atomic import atomic_write


def _atomic_png(path: Path, save) -> None:
    atomic_write(path, save, suffix=".png")


def grid(clips: list[np.ndarray], *, max_frames: int = 9, scale: int = 1) -> np.ndarray:
    """uint8 (T, H, W, 3) clips -> one image: a row per clip, evenly spaced frames as columns."""
    rows = []
    for c in clips:
        idx = np.linspace(0, len(c) - 1, min(max_frames, len(c))).round().astype(int)
        rows.append(np.concatenate(list(c[idx]), axis=1))
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0))) for r in rows]
    img = np.concatenate(rows, axis=0)
    if scale > 1:
        img = img.repeat(scale, 0).repeat(scale, 1)
    return img


def save_grid(path: str | os.PathLike, clips: list[np.ndarray], **kw) -> Path:
    from PIL import Image

    path = Path(path)
    img = grid(clips, **kw)
    _atomic_png(path, lambda tmp: Image.fromarray(img).save(tmp, format="PNG"))
    return path


def save_curves(path: str | os.PathLike, history: dict[str, list[tuple[int, float]]], title: str = "") -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, pts in history.items():
        if pts:
            s, v = zip(*pts, strict=True)
            ax.plot(s, v, label=name)
    ax.set_xlabel("step")
    ax.set_yscale("log")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    _atomic_png(path, lambda tmp: fig.savefig(tmp, format="png", dpi=90))
    plt.close(fig)
    return path
