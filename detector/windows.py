"""Cut any clip or video source into normalised analysis windows, streaming, with bounded memory.

Training and scanning both go through `iter_windows`, so a model sees clips prepared exactly as
at scan time: frames sampled at `fps` on their timestamps (nearest earlier frame), short side
resized and centre-cropped to `size`, then an H.264 round-trip through `vidprov.normalize`.
At most `chunk` windows of frames are held at once, whatever the length of the video.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields, replace

import numpy as np

from vidprov.clip import Clip
from vidprov.io import iter_frames, probe
from vidprov.limits import DEFAULT_LIMITS, Limits
from vidprov.normalize import normalize


@dataclass(frozen=True)
class WindowSpec:
    """How clips are cut and normalised: the one description of the analysis format. Every windowed
    detector takes one (`window=`) and saves it: scanning must match training."""

    size: int = 256
    fps: float = 8.0
    num_frames: int = 16
    crf: int | None = 23
    # x264 preset of the round-trip: ultrafast is 5x cheaper than medium and, unlike the other presets in
    # this FFmpeg build, bit-exact from run to run.
    preset: str = "ultrafast"
    max_windows: int | None = 16  # 32 s at the defaults; later footage is not analysed
    # Windows per H.264 round-trip. The spread windows of long clips are one encode each (chunk 1).
    chunk: int = 4
    min_fill: float = 0.5  # a trailing partial window is kept if it covers this fraction

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> WindowSpec:
        unknown = set(d) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown window settings {sorted(unknown)}; valid: {[f.name for f in fields(cls)]}")
        return cls(**d)

    @property
    def window_s(self) -> float:
        return self.num_frames / self.fps


@dataclass(frozen=True)
class Window:
    start_s: float
    end_s: float
    clip: Clip


def _sample_times(timed_frames, fps: float) -> Iterator[tuple[float, np.ndarray]]:
    """Resample a (t, frame) stream to a regular grid: each grid time takes the latest frame at or
    before it. Yields (grid_time, frame); the last frame is held for its nominal duration."""
    step = 1.0 / fps
    prev_t = prev_f = None
    t0 = None
    k = 0
    last_dt = step
    for t, f in timed_frames:
        if t0 is None:
            t0 = t
        if prev_f is not None:
            last_dt = max(t - prev_t, 1e-6)
            while t0 + k * step < t - 1e-6:
                yield k * step, prev_f
                k += 1
        prev_t, prev_f = t, f
    if prev_f is not None:
        end = prev_t + last_dt
        while t0 + k * step < end - 1e-6:
            yield k * step, prev_f
            k += 1


def _finish(frames: list[np.ndarray], spec: WindowSpec, n_windows: int, meta: dict) -> Clip:
    """One H.264 round-trip for a run of windows (normalize fixes size, count and codec history).
    A tail shorter than n_windows windows is extended to full length (played back and forth)."""
    n = n_windows * spec.num_frames
    clip = Clip(np.stack(frames), fps=spec.fps, meta=meta)
    return normalize(clip, size=spec.size, fps=spec.fps, num_frames=n, crf=spec.crf, preset=spec.preset)


def _windows_from_grid(grid, spec: WindowSpec, meta: dict) -> Iterator[Window]:
    n, per_chunk = spec.num_frames, spec.num_frames * spec.chunk
    buf: list[np.ndarray] = []
    start = 0.0
    emitted = 0
    limit = spec.max_windows

    def flush(frames: list[np.ndarray], n_win: int, start_s: float):
        norm = _finish(frames, spec, n_win, meta)
        for i in range(n_win):
            s = start_s + i * spec.window_s
            frames_i = norm.frames[i * n : (i + 1) * n]
            yield Window(s, s + spec.window_s, norm.replace(frames=frames_i, window_start_s=s))

    for t, f in grid:
        if not buf:
            start = t
        buf.append(f)
        room = per_chunk if limit is None else min(per_chunk, (limit - emitted) * n)
        if len(buf) >= room:
            n_win = len(buf) // n
            yield from flush(buf, n_win, start)
            emitted += n_win
            buf = []
            if limit is not None and emitted >= limit:
                return
    if buf:
        full, rest = divmod(len(buf), n)
        if full:
            yield from flush(buf[: full * n], full, start)
            emitted += full
        tail = buf[full * n :]
        if tail and (emitted == 0 or len(tail) >= spec.min_fill * n):
            # normalize extends a short tail (play back and forth) to a full window.
            s = start + full * spec.window_s
            norm = _finish(tail, spec, 1, meta)
            yield Window(s, s + len(tail) / spec.fps, norm.replace(window_start_s=s))


def clip_duration(clip: Clip) -> float:
    return clip.num_frames / clip.fps


def iter_windows(src, spec: WindowSpec = WindowSpec(), *, limits: Limits = DEFAULT_LIMITS,
                 src_fps: float | None = None) -> Iterator[Window]:
    """Normalised windows of a Clip, a path, bytes or a binary file object, in time order."""
    if isinstance(src, Clip):
        times = np.arange(src.num_frames) / src.fps
        grid = _sample_times(zip(times, src.frames, strict=True), spec.fps)
        yield from _windows_from_grid(grid, spec, dict(src.meta))
        return
    if src_fps is None:
        src_fps = probe(src, limits=limits).fps
        if hasattr(src, "seek"):
            src.seek(0)
    # Decode every stride-th frame only (colour conversion is the costly part), keeping >= fps.
    stride = max(1, int(np.floor(src_fps / spec.fps + 1e-6)))
    max_frames = None if spec.max_windows is None else int(
        np.ceil((spec.max_windows * spec.window_s + 1.0) * src_fps / stride))
    frames = iter_frames(src, size=spec.size, stride=stride, max_frames=max_frames, limits=limits)
    grid = _sample_times(frames, spec.fps)
    yield from _windows_from_grid(grid, spec, {})


def rewindable(src):
    """Bytes-like and seekable file objects can be read twice (probe, then decode); others are
    read into memory once. Paths pass through."""
    if isinstance(src, (str, os.PathLike, bytes, bytearray, memoryview, Clip)):
        return src
    try:
        pos = src.tell()
        src.seek(pos)
        return _Rewind(src, pos)
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return src.read()


class _Rewind(io.RawIOBase):
    """A view of a seekable binary file that starts at its current position for each reader."""

    def __init__(self, f, pos: int):
        self._f, self._pos0 = f, pos
        self.name = getattr(f, "name", None) or "<file object>"
        f.seek(pos)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        data = self._f.read(len(b))
        b[: len(data)] = data
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            return self._f.seek(self._pos0 + offset) - self._pos0
        return self._f.seek(offset, whence) - self._pos0

    def tell(self) -> int:
        return self._f.tell() - self._pos0


def iter_spread_windows(src, spec: WindowSpec, duration_s: float, *, limits: Limits = DEFAULT_LIMITS,
                        src_fps: float | None = None) -> Iterator[Window]:
    """`spec.max_windows` windows spread evenly over a long clip (each decoded after a seek), so a
    bounded amount of work covers the whole duration instead of only its beginning."""
    k = spec.max_windows or 1
    starts = np.linspace(0.0, max(0.0, duration_s - spec.window_s), k)
    one = replace(spec, max_windows=1, chunk=1)
    if not isinstance(src, Clip) and src_fps is None:
        src_fps = probe(src, limits=limits).fps
    for s in starts:
        if isinstance(src, Clip):
            i0 = int(round(s * src.fps))
            i1 = min(src.num_frames, i0 + int(np.ceil(spec.window_s * src.fps)) + 1)
            part = src.replace(frames=src.frames[i0:i1])
            wins = list(iter_windows(part, one))
        else:
            if hasattr(src, "seek"):
                src.seek(0)
            stride = max(1, int(np.floor(src_fps / spec.fps + 1e-6)))
            frames = iter_frames(src, size=spec.size, stride=stride, start_s=float(s),
                                 duration_s=spec.window_s + 1.0 / src_fps, limits=limits)
            wins = list(_windows_from_grid(_sample_times(frames, spec.fps), one, {}))
        for w in wins[:1]:
            yield Window(float(s), float(s) + (w.end_s - w.start_s), w.clip.replace(window_start_s=float(s)))


# Containers FFmpeg cannot seek in: a seek there decodes from the start, so spread windows are cut in one pass.
ONE_PASS_CONTAINERS = ("gif",)


def iter_spread_windows_one_pass(src, spec: WindowSpec, duration_s: float, *, limits: Limits = DEFAULT_LIMITS,
                                 src_fps: float | None = None) -> Iterator[Window]:
    """The windows of iter_spread_windows from a single decode of the stream, for sources that cannot seek:
    frames are sampled onto the spec's grid as they arrive and only those inside a window are kept."""
    k = spec.max_windows or 1
    one = replace(spec, max_windows=1, chunk=1)
    starts = np.linspace(0.0, max(0.0, duration_s - spec.window_s), k)
    if src_fps is None:
        src_fps = probe(src, limits=limits).fps
        if hasattr(src, "seek"):
            src.seek(0)
    stride = max(1, int(np.floor(src_fps / spec.fps + 1e-6)))
    frames = iter_frames(src, size=spec.size, stride=stride, duration_s=float(starts[-1]) + spec.window_s + 1.0 / src_fps,
                         limits=limits)
    grid = _sample_times(frames, spec.fps)
    i, buf = 0, []
    try:
        for t, f in grid:
            while i < k and t >= starts[i] + spec.window_s - 1e-6:  # a window the stream skipped past
                if buf:
                    yield from _one_window(buf, one, float(starts[i]))
                i, buf = i + 1, []
            if i >= k:
                break
            if t >= starts[i] - 1e-6:
                buf.append(f)
                if len(buf) == spec.num_frames:
                    yield from _one_window(buf, one, float(starts[i]))
                    i, buf = i + 1, []
                    if i >= k:
                        break
        if buf and i < k:
            yield from _one_window(buf, one, float(starts[i]))
    finally:
        frames.close()


def _one_window(frames: list[np.ndarray], one: WindowSpec, s: float) -> Iterator[Window]:
    for w in list(_windows_from_grid(iter(zip(np.arange(len(frames)) / one.fps, frames, strict=True)), one, {}))[:1]:
        yield Window(s, s + (w.end_s - w.start_s), w.clip.replace(window_start_s=s))


def scan_windows(src, spec: WindowSpec, duration: float | None, src_fps: float | None,
                 limits: Limits = DEFAULT_LIMITS, *, seekable: bool = True) -> Iterator[Window]:
    """The windows a scan analyses: consecutive from the start, or, for a clip longer than
    spec.max_windows windows, that many spread evenly over its whole duration (found by seeking,
    or in one pass over a stream that cannot seek)."""
    long = duration is not None and spec.max_windows is not None and duration > spec.max_windows * spec.window_s
    if long and not isinstance(src, Clip):
        if not seekable:
            return iter_spread_windows_one_pass(src, spec, duration, limits=limits, src_fps=src_fps)
        return iter_spread_windows(src, spec, duration, limits=limits, src_fps=src_fps)
    if long:  # a Clip in memory: spread by slicing its frames
        return iter_spread_windows(src, spec, duration)
    if isinstance(src, Clip):
        return iter_windows(src, spec)
    return iter_windows(src, spec, limits=limits, src_fps=src_fps)
