"""Decode only the luma plane of a video: what the watermark detector needs, at the lowest cost.

For 8-bit planar YUV streams the Y plane is used as decoded (no colour conversion); anything
else goes through FFmpeg's gray conversion. Opening, limits and errors are vidprov.io's.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import av
import numpy as np

from vidprov.errors import CorruptVideoError
from vidprov.io import _open, _stream_fps
from vidprov.limits import DEFAULT_LIMITS, Limits

_PLANAR_8BIT = {"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "gray"}


def luma_plane(frame: av.VideoFrame) -> np.ndarray:
    if frame.format.name in _PLANAR_8BIT:
        plane = frame.planes[0]
        buf = np.frombuffer(plane, dtype=np.uint8).reshape(frame.height, plane.line_size)
        return buf[:, : frame.width]
    return frame.to_ndarray(format="gray")


def iter_luma(path: str | os.PathLike, *, max_frames: int | None = None, batch: int = 16,
              limits: Limits = DEFAULT_LIMITS) -> Iterator[tuple[float, np.ndarray]]:
    """Yield (fps, float32 (B, H, W) luma batches)."""
    container, stream, name = _open(path, limits)
    try:
        fps = _stream_fps(stream)
        buf: list[np.ndarray] = []
        n = 0
        try:
            for frame in container.decode(stream):
                y = luma_plane(frame)
                if buf and y.shape != buf[0].shape:
                    break  # a resolution change ends the usable run
                buf.append(y)
                n += 1
                if len(buf) == batch:
                    yield fps, np.stack(buf).astype(np.float32)
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
            yield fps, np.stack(buf).astype(np.float32)
    finally:
        container.close()
