"""The one format normalisation shared by benchmarks and detectors.

Every clip, real or generated, leaves here with the same resolution, frame rate, length and
codec history (a real H.264 round-trip at a fixed CRF), so no model can learn the container.
"""

from __future__ import annotations

import cv2
import numpy as np

from vidprov.clip import Clip
from vidprov.io import reencode, reencode_yuv420, rgb_to_yuv420_square, yuv420_to_rgb

DEFAULT_SIZE = 256
DEFAULT_FPS = 8.0
DEFAULT_NUM_FRAMES = 16
DEFAULT_CRF = 23
# Where frames are resized before the round-trip: "rgb24" (OpenCV, then swscale converts to yuv420p for
# the encoder) or "yuv420p" (swscale resizes straight into the encoder's format: no RGB detour).
RESIZE_IN = ("rgb24", "yuv420p")


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
    resize_in: str = "rgb24",
) -> Clip:
    """Resize short side + centre crop, resample to fps, fix the frame count, H.264 round-trip.

    crf=None skips the round-trip (for tests or lossless work). preset: the x264 preset of the round-trip
    (detectors store theirs: a model must scan with the preset it was trained with). meta['normalized'] records
    the parameters and how many distinct source frames were used. The round-trip is bit-reproducible
    only with a preset in vidprov.io.BIT_EXACT_PRESETS (ultrafast, the detectors' windows) at 64 px and
    above; other presets, and libx264 on smaller frames (e.g. 32x32), vary from call to call.
    resize_in: see RESIZE_IN; "yuv420p" needs a square, even `size`.
    """
    if not isinstance(clip, Clip):
        raise TypeError(f"normalize expects a Clip, got {type(clip).__name__}")
    _check_resize_in(resize_in, size)
    idx = resample_indices(clip.num_frames, clip.fps, fps, num_frames, short=short, offset_s=offset_s)
    if resize_in == "yuv420p":
        uniq, inverse = np.unique(idx, return_inverse=True)  # convert each source frame once
        out = _finish_yuv420(rgb_to_yuv420_square(clip.frames[uniq], size)[inverse], fps, crf, preset, clip.meta)
    else:
        out = Clip(resize_center_crop(clip.frames[idx], size), fps=fps, meta=dict(clip.meta))
        if crf is not None:
            out = reencode(out, crf=crf, preset=preset)
    return out.replace(normalized=_record(size, fps, num_frames, crf, preset, short, offset_s, idx,
                                          [clip.height, clip.width], clip.fps, resize_in))


def _record(size, fps, num_frames, crf, preset, short, offset_s, idx, source_size, source_fps, resize_in) -> dict:
    """meta['normalized']: the parameters, and how many distinct source frames were used."""
    params = {
        "size": size, "fps": fps, "num_frames": num_frames, "crf": crf, "preset": preset, "short": short,
        "offset_s": offset_s, "unique_source_frames": int(len(np.unique(idx))),
        "source_size": source_size, "source_fps": source_fps,
    }
    if resize_in != "rgb24":  # the key is absent from windows made before it existed (all rgb24)
        params["resize_in"] = resize_in
    return params


def _check_resize_in(resize_in: str, size) -> None:
    if resize_in not in RESIZE_IN:
        raise ValueError(f"resize_in must be one of {RESIZE_IN}, got {resize_in!r}")
    if resize_in == "yuv420p" and (not isinstance(size, (int, np.integer)) or size < 2 or size % 2):
        raise ValueError(f"resize_in='yuv420p' needs an even square size, got {size!r}")


def _finish_yuv420(frames: np.ndarray, fps: float, crf: int | None, preset: str, meta: dict) -> Clip:
    if crf is None:
        return Clip(yuv420_to_rgb(frames), fps=fps, meta=dict(meta))
    return reencode_yuv420(frames, fps=fps, crf=crf, preset=preset, meta=meta)


def normalize_yuv420(frames: np.ndarray, *, fps: float = DEFAULT_FPS, num_frames: int = DEFAULT_NUM_FRAMES,
                     crf: int | None = DEFAULT_CRF, preset: str = "medium", short: str = "reflect",
                     meta: dict | None = None) -> Clip:
    """normalize() for frames already cut to the target size in yuv420p and sampled at `fps`
    ((T, 3S/2, S) packed, as vidprov.io.iter_frames_yuv420 yields them): fix the count, round-trip."""
    frames = np.asarray(frames)
    if frames.ndim != 3 or frames.shape[1] * 2 != frames.shape[2] * 3:
        raise ValueError(f"expected packed square yuv420p frames (T, 3S/2, S), got shape {frames.shape}")
    size = frames.shape[2]
    idx = resample_indices(len(frames), fps, fps, num_frames, short=short)
    out = _finish_yuv420(frames[idx], fps, crf, preset, meta or {})
    return out.replace(normalized=_record(size, fps, num_frames, crf, preset, short, 0.0, idx, [size, size], fps,
                                          "yuv420p"))
