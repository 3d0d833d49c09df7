"""Decode only the luma plane of a video: what the watermark detector needs, at the lowest cost.

For 8-bit planar YUV streams the Y plane is used as decoded (no colour conversion) and mapped
from limited ("TV", 16-235) to full range unless the stream says it is full range, so it matches
the luma of the RGB frames the watermark was embedded in (the lattice step follows the mean luma,
so a 16-level offset and a 0.86 gain would put every block off its lattice); anything else goes
through FFmpeg's gray conversion. Opening, limits and errors are vidprov.io's.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import av
import numpy as np

from vidprov.errors import CorruptVideoError
from vidprov.io import open_video, stream_fps
from vidprov.limits import DEFAULT_LIMITS, DecodeBudget, Limits

_PLANAR_8BIT = {"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "gray"}
_FULL_RANGE_FORMATS = {"yuvj420p", "yuvj422p", "yuvj444p", "gray"}
_LIMITED_TO_FULL = np.clip((np.arange(256, dtype=np.float32) - 16.0) * (255.0 / 219.0), 0.0, 255.0)
_IDENTITY = np.arange(256, dtype=np.float32)


def _is_full_range(frame: av.VideoFrame) -> bool:
    rng = getattr(frame, "color_range", 0)  # 1 MPEG (limited), 2 JPEG (full), 0 unspecified
    return frame.format.name in _FULL_RANGE_FORMATS or int(rng or 0) == 2


def luma_plane(frame: av.VideoFrame) -> np.ndarray:
    """Full-range luma, float32 (H, W)."""
    if frame.format.name in _PLANAR_8BIT:
        plane = frame.planes[0]
        buf = np.frombuffer(plane, dtype=np.uint8).reshape(frame.height, plane.line_size)
        lut = _IDENTITY if _is_full_range(frame) else _LIMITED_TO_FULL
        return lut[buf[:, : frame.width]]
    return frame.to_ndarray(format="gray").astype(np.float32)  # swscale's gray is full range


def iter_luma(path: str | os.PathLike, *, max_frames: int | None = None, batch: int = 16,
              limits: Limits = DEFAULT_LIMITS) -> Iterator[tuple[float, np.ndarray]]:
    """Yield (fps, float32 (B, H, W) luma batches)."""
    container, stream, name = open_video(path, limits)
    budget = DecodeBudget(limits, name)
    try:
        fps = stream_fps(stream)
        planned = [k for k in (int(stream.frames or 0), max_frames) if k]
        budget.check_plan(stream.codec_context.width, stream.codec_context.height, min(planned, default=0))
        # Batches of about 4 Mpixel: 16 frames at 640x360, 1 at 4K, so large frames do not pile up.
        batch = max(1, min(batch, 4_000_000 // max(1, stream.codec_context.width * stream.codec_context.height)))
        buf: list[np.ndarray] = []
        n = 0
        try:
            for frame in container.decode(stream):
                budget.frame(frame.width, frame.height)
                y = luma_plane(frame)
                if buf and y.shape != buf[0].shape:
                    break  # a resolution change ends the usable run
                buf.append(y)
                n += 1
                if len(buf) == batch:
                    yield fps, np.stack(buf)
                    buf = []
                if max_frames is not None and n >= max_frames:
                    break
                if n > limits.max_frames:
                    break
        except (av.error.FFmpegError, ValueError) as exc:
            if n == 0:
                raise CorruptVideoError(f"{name}: cannot decode video frames ({exc})") from exc
        if n == 0:
            raise CorruptVideoError(f"{name}: contains no decodable video frames")
        if buf:
            yield fps, np.stack(buf)
    finally:
        container.close()
