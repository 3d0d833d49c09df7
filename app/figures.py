"""Images for the How it works page, drawn from a generator.explain Explanation (display only)."""

from __future__ import annotations

import cv2
import numpy as np

from vidprov.generator.viz import grid

SCALE = 4  # the shipped models make 64-px frames: enlarge them so a reader can see them


def strip(frames: np.ndarray, max_frames: int = 9) -> np.ndarray:
    """Evenly spaced frames side by side, enlarged."""
    return grid([frames], max_frames=max_frames, scale=SCALE)


def _to_uint8(a: np.ndarray) -> np.ndarray:
    lo, hi = float(a.min()), float(a.max())
    return ((a - lo) / (hi - lo or 1.0) * 255).astype(np.uint8)


def channels(latent: np.ndarray, max_channels: int = 16, per_row: int = 8) -> np.ndarray:
    """Latent frame 0, one grey tile per channel (each scaled to its own range), as RGB."""
    tiles = [_to_uint8(latent[c, 0]) for c in range(min(max_channels, latent.shape[0]))]
    size = max(48, 8 * tiles[0].shape[0])
    tiles = [cv2.resize(t, (size, size), interpolation=cv2.INTER_NEAREST) for t in tiles]
    tiles += [np.zeros_like(tiles[0])] * (-len(tiles) % per_row)
    rows = [np.concatenate([np.pad(t, 2, constant_values=255) for t in tiles[i:i + per_row]], axis=1)
            for i in range(0, len(tiles), per_row)]
    return np.repeat(np.concatenate(rows, axis=0)[..., None], 3, axis=2)


def frame_of(frames: np.ndarray, latent_frames: int) -> list[int]:
    """For each latent frame, the pixel frame it starts at (the VAE keeps frame 0, then groups the rest)."""
    return np.linspace(0, len(frames) - 1, latent_frames).round().astype(int).tolist()


def _enlarge(f: np.ndarray) -> np.ndarray:
    return cv2.resize(f, (f.shape[1] * SCALE, f.shape[0] * SCALE), interpolation=cv2.INTER_NEAREST)


def patch_grid(frames: np.ndarray, tokens: tuple[int, int, int]) -> np.ndarray:
    """One frame per latent frame with the token grid drawn on it."""
    t, h, w = tokens
    out = []
    for i in frame_of(frames, t):
        f = _enlarge(frames[i]).copy()
        for r in range(1, h):
            f[round(r * f.shape[0] / h), :] = (255, 255, 0)
        for c in range(1, w):
            f[:, round(c * f.shape[1] / w)] = (255, 255, 0)
        out.append(np.pad(f, ((2, 2), (2, 2), (0, 0)), constant_values=255))
    return np.concatenate(out, axis=1)


def attention(frames: np.ndarray, attn: np.ndarray, query: tuple[int, int, int]) -> np.ndarray:
    """Each latent frame's first pixel frame with the query's attention over it as a heat map."""
    t, h, w = attn.shape
    top = float(attn.max()) or 1.0
    out = []
    for k, i in enumerate(frame_of(frames, t)):
        f = _enlarge(frames[i])
        heat = cv2.resize((attn[k] / top * 255).astype(np.uint8), (f.shape[1], f.shape[0]), interpolation=cv2.INTER_NEAREST)
        heat = cv2.cvtColor(cv2.applyColorMap(heat, cv2.COLORMAP_INFERNO), cv2.COLOR_BGR2RGB)
        mixed = (0.45 * f + 0.55 * heat).astype(np.uint8)
        if k == query[0]:
            ch, cw = f.shape[0] / h, f.shape[1] / w
            y0, x0 = round(query[1] * ch), round(query[2] * cw)
            cv2.rectangle(mixed, (x0, y0), (round(x0 + cw) - 1, round(y0 + ch) - 1), (0, 255, 0), 2)
        out.append(np.pad(mixed, ((2, 2), (2, 2), (0, 0)), constant_values=255))
    return np.concatenate(out, axis=1)
