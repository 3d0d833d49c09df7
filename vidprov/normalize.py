"""The one format normalisation shared by benchmarks and detectors.

Every clip, real or generated, leaves here with the same resolution, frame rate, length and
codec history (a real H.264 round-trip at a fixed CRF), so no model can learn the container.
"""

from __future__ import annotations

import cv2
import numpy as np

from vidprov.clip import Clip
from vidprov.io import reencode

DEFAULT_SIZE = 256
DEFAULT_FPS = 8.0
DEFAULT_NUM_FRAMES = 16
DEFAULT_CRF = 23


def resample_indices(n_src: int, src_fps: float, fps: float, num_frames: int, *, short: str = "reflect",
                     offset_s: float = 0.0) -> np.ndarray:
    """Source frame index for each output frame at the target fps (nearest earlier frame).

    Clips shorter than num_frames/fps are extended: 'reflect' plays back and forth,
    'repeat' holds the last frame, 'error' refuses.
    """
    if n_src < 1:
        raise ValueError("clip has no frames")
    start = int(round(offset_s * src_fps))
    times = start / src_fps + np.arange(num_frames) / fps
    idx = np.floor(times * src_fps + 1e-6).astype(np.int64)
    if idx[-1] < n_src:
        return idx
    if short == "error":
        raise ValueError(f"clip of {n_src} frames at {src_fps:g} fps is shorter than {num_frames} frames at {fps:g} fps")
    if short == "repeat":
        return np.minimum(idx, n_src - 1)
    if short == "reflect":
        if n_src == 1:
            return np.zeros_like(idx)
        period = 2 * (n_src - 1)
        m = np.mod(idx, period)
        return np.where(m < n_src, m, period - m)
    raise ValueError(f"short must be 'reflect', 'repeat' or 'error', got {short!r}")


def resize_center_crop(frames: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Resize so the short side fits, then centre-crop to size (int: square, or (H, W))."""
    out_h, out_w = (size, size) if isinstance(size, int) else size
    t, h, w, _ = frames.shape
    scale = max(out_h / h, out_w / w)
    rh, rw = max(out_h, round(h * scale)), max(out_w, round(w * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    y0, x0 = (rh - out_h) // 2, (rw - out_w) // 2
    out = np.empty((t, out_h, out_w, 3), np.uint8)
    for i, f in enumerate(frames):
        r = f if (rh, rw) == (h, w) else cv2.resize(f, (rw, rh), interpolation=interp)
        out[i] = r[y0 : y0 + out_h, x0 : x0 + out_w]
    return out


def normalize(
    clip: Clip,
    *,
    size: int | tuple[int, int] = DEFAULT_SIZE,
    fps: float = DEFAULT_FPS,
    num_frames: int = DEFAULT_NUM_FRAMES,
    crf: int | None = DEFAULT_CRF,
    short: str = "reflect",
    offset_s: float = 0.0,
    preset: str = "medium",
) -> Clip:
    """Resize short side + centre crop, resample to fps, fix the frame count, H.264 round-trip.

    crf=None skips the round-trip (for tests or lossless work). preset: the x264 preset of the round-trip
    (detectors store theirs: a model must scan with the preset it was trained with). meta['normalized'] records
    the parameters and how many distinct source frames were used. The round-trip is bit-reproducible
    only with a preset in vidprov.io.BIT_EXACT_PRESETS (ultrafast, the detectors' windows) at 64 px and
    above; other presets, and libx264 on smaller frames (e.g. 32x32), vary from call to call.
    """
    if not isinstance(clip, Clip):
        raise TypeError(f"normalize expects a Clip, got {type(clip).__name__}")
    idx = resample_indices(clip.num_frames, clip.fps, fps, num_frames, short=short, offset_s=offset_s)
    out = Clip(resize_center_crop(clip.frames[idx], size), fps=fps, meta=dict(clip.meta))
    if crf is not None:
        out = reencode(out, crf=crf, preset=preset)
    return out.replace(normalized=_record(size, fps, num_frames, crf, preset, short, offset_s, idx,
                                          [clip.height, clip.width], clip.fps))


def _record(size, fps, num_frames, crf, preset, short, offset_s, idx, source_size, source_fps) -> dict:
    """meta['normalized']: the parameters, and how many distinct source frames were used."""
    return {
        "size": size, "fps": fps, "num_frames": num_frames, "crf": crf, "preset": preset, "short": short,
        "offset_s": offset_s, "unique_source_frames": int(len(np.unique(idx))),
        "source_size": source_size, "source_fps": source_fps,
    }
