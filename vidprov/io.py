"""Video I/O through PyAV: the one module of vidprov that talks to FFmpeg.

Reads stream (memory is bounded by what is returned), every read is checked against Limits,
and every failure becomes a VideoError that names the input and the problem.
"""

from __future__ import annotations

import io
import logging
import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import IO, Any, Union

import av
import numpy as np

from vidprov.atomic import atomic_write
from vidprov.clip import Clip
from vidprov.errors import (
    CorruptVideoError,
    NotAVideoError,
    UnsupportedVideoError,
    VideoError,
    VideoTooLargeError,
)
from vidprov.limits import DEFAULT_LIMITS, DecodeBudget, Limits

log = logging.getLogger(__name__)

Source = Union[str, os.PathLike, bytes, bytearray, memoryview, IO[bytes]]
Size = Union[int, tuple[int, int], None]

# Demuxers that open still images; a PNG renamed .mp4 must not pass as a one-frame video.
_IMAGE_DEMUXERS = ("image2", "_pipe", "png", "mjpeg", "bmp", "tiff", "webp")
_PROBE_OPTIONS = {"probesize": "5000000", "analyzeduration": "5000000"}


@dataclass(frozen=True)
class VideoInfo:
    """What probe() learns from headers and packets, without decoding pixels."""

    source: str
    container: str
    codec: str
    width: int
    height: int
    fps: float
    duration_s: float
    num_frames: int
    frames_exact: bool
    pix_fmt: str
    rotation: int
    size_bytes: int | None
    has_audio: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def describe_source(src: Source) -> str:
    if isinstance(src, (bytes, bytearray, memoryview)):
        return f"<{len(src)} bytes>"
    if isinstance(src, (str, os.PathLike)):
        return os.fspath(src)
    return getattr(src, "name", None) or f"<{type(src).__name__}>"


def _source_size(src: Source) -> int | None:
    if isinstance(src, (bytes, bytearray, memoryview)):
        return len(src)
    if isinstance(src, (str, os.PathLike)):
        return os.stat(src).st_size
    try:
        pos = src.tell()
        end = src.seek(0, io.SEEK_END)
        src.seek(pos)
        return end - pos
    except (AttributeError, OSError, ValueError):
        return None


def open_video(src: Source, limits: Limits) -> tuple[av.container.InputContainer, av.video.stream.VideoStream, str]:
    """Open src's first video stream after every Limits check: (container, stream, display name).
    The caller closes the container. Bad input raises the VideoError that names the problem."""
    name = describe_source(src)
    if isinstance(src, (str, os.PathLike)):
        check_regular_file(src)
    elif not isinstance(src, (bytes, bytearray, memoryview)) and not hasattr(src, "read"):
        raise NotAVideoError(f"expected a path, bytes or a binary file object, got {type(src).__name__}")
    size = _source_size(src)
    if size == 0:
        raise NotAVideoError(f"{name}: file is empty (0 bytes)")
    if size is not None and size > limits.max_file_bytes:
        raise VideoTooLargeError(f"{name}: {size} bytes exceeds the limit of {limits.max_file_bytes} bytes")
    target = io.BytesIO(bytes(src)) if isinstance(src, (bytes, bytearray, memoryview)) else src
    if not isinstance(target, (str, os.PathLike)):
        target = target  # a file object: PyAV reads it through its own buffered callbacks
    else:
        target = os.fspath(target)
    try:
        container = av.open(target, mode="r", options=_PROBE_OPTIONS, metadata_errors="ignore")
    except av.error.InvalidDataError as exc:
        kind = _sniff_container(src)
        if kind:
            raise CorruptVideoError(f"{name}: looks like {kind} but is truncated or damaged ({exc.strerror})") from exc
        raise NotAVideoError(f"{name}: not a video (no known container format could read it)") from exc
    except av.error.FFmpegError as exc:
        raise CorruptVideoError(f"{name}: FFmpeg rejected its header, damaged or invalid ({exc.strerror or exc})") from exc
    except UnicodeDecodeError as exc:
        raise CorruptVideoError(f"{name}: damaged container metadata") from exc
    try:
        fmt = container.format.name
        if any(tag in fmt for tag in _IMAGE_DEMUXERS):
            raise NotAVideoError(f"{name}: is a still image ({fmt}), not a video")
        if not container.streams.video:
            raise NotAVideoError(f"{name}: contains no video stream ({fmt} container)")
        stream = container.streams.video[0]
        ctx = stream.codec_context
        if ctx is None or stream.codec_context.name is None:
            raise UnsupportedVideoError(f"{name}: video stream has no decoder in this FFmpeg build")
        w, h = int(ctx.width or 0), int(ctx.height or 0)
        if w <= 0 or h <= 0:
            raise CorruptVideoError(f"{name}: video stream declares no frame size")
        if w * h > limits.max_pixels:
            raise VideoTooLargeError(
                f"{name}: frame size {w}x{h} exceeds the limit of {limits.max_pixels} pixels per frame"
            )
        duration = _duration_s(container, stream)
        if duration is not None and duration > limits.max_duration_s:
            raise VideoTooLargeError(
                f"{name}: duration {duration:.0f} s exceeds the limit of {limits.max_duration_s:.0f} s"
            )
        stream.thread_type = "AUTO"
        return container, stream, name
    except BaseException:
        container.close()
        raise


_SPECIAL_KINDS = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                  (stat.S_ISSOCK, "a socket"))


def check_regular_file(path: str | os.PathLike) -> None:
    """Raise NotAVideoError naming what path is when it is not a readable regular file (missing, a
    broken link, a directory, a FIFO or device), without opening it: opening a FIFO would block."""
    name = os.fspath(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            raise NotAVideoError(f"{name}: broken link (its target does not exist)") from None
        raise NotAVideoError(f"{name}: no such file") from None
    except OSError as exc:
        raise NotAVideoError(f"{name}: cannot be read ({exc.strerror or exc})") from None
    if stat.S_ISDIR(st.st_mode):
        raise NotAVideoError(f"{name}: is a directory, not a video file")
    if not stat.S_ISREG(st.st_mode):
        kind = next((k for test, k in _SPECIAL_KINDS if test(st.st_mode)), "a special file")
        raise NotAVideoError(f"{name}: not a regular file ({kind})")


def _sniff_container(src: Source) -> str | None:
    """Name the container a file's first bytes announce, to tell damaged videos from non-videos."""
    try:
        if isinstance(src, (bytes, bytearray, memoryview)):
            head = bytes(src[:16])
        elif isinstance(src, (str, os.PathLike)):
            with open(src, "rb") as f:
                head = f.read(16)
        else:
            with _rewound(src):
                src.seek(0)
                head = src.read(16)
    except (OSError, ValueError, AttributeError):
        return None
    if head[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"wide"):
        return "an MP4/MOV file"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "a Matroska/WebM file"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "an AVI file"
    if head[:4] == b"GIF8":
        return "a GIF file"
    return None


def _duration_s(container, stream) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return None


def stream_fps(stream) -> float:
    """A stream's frame rate: the first plausible of its average, guessed and base rates (else 25)."""
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate is not None and rate > 0 and float(rate) < 1000:
            return float(rate)
    return 25.0


def _rotation(frame) -> int:
    # PyAV reports the display-matrix angle counter-clockwise in degrees.
    return int(round(getattr(frame, "rotation", 0) or 0)) % 360


def _resolve_size(size: Size, w: int, h: int, rot: int) -> tuple[int, int]:
    """Target (width, height) of the decoded frame before rotation is applied."""
    if rot in (90, 270):
        w, h = h, w
    if size is None:
        out_w, out_h = w, h
    elif isinstance(size, int):
        if size <= 0:
            raise ValueError(f"size must be positive, got {size}")
        scale = size / min(w, h)
        out_w, out_h = max(1, round(w * scale)), max(1, round(h * scale))
    else:
        out_h, out_w = (int(v) for v in size)
        if out_h <= 0 or out_w <= 0:
            raise ValueError(f"size must be positive, got {size}")
    if rot in (90, 270):
        out_w, out_h = out_h, out_w
    return out_w, out_h


def _to_rgb(frame, size: Size) -> np.ndarray:
    rot = _rotation(frame)
    out_w, out_h = _resolve_size(size, frame.width, frame.height, rot)
    # threads=1: swscale's automatic slice threads made conversions differ from run to run.
    if (out_w, out_h) != (frame.width, frame.height):
        rgb = frame.reformat(width=out_w, height=out_h, format="rgb24", interpolation="AREA", threads=1)
    else:
        rgb = frame.reformat(format="rgb24", threads=1)
    # A view on the frame's own buffer (it stays alive with the array): one copy fewer than to_ndarray.
    plane = rgb.planes[0]
    arr = np.frombuffer(plane, np.uint8).reshape(rgb.height, plane.line_size)[:, : rgb.width * 3]
    arr = arr.reshape(rgb.height, rgb.width, 3)
    if rot:
        arr = np.rot90(arr, k=rot // 90)
    return arr


def iter_frames(
    src: Source,
    *,
    max_frames: int | None = None,
    stride: int = 1,
    size: Size = None,
    start_s: float | None = None,
    duration_s: float | None = None,
    allow_partial: bool = False,
    limits: Limits = DEFAULT_LIMITS,
) -> Iterator[tuple[float, np.ndarray]]:
    """Yield (time_s, uint8 frame (H, W, 3)) one at a time.

    size: None keeps the stored size; an int resizes the short side to it; (H, W) resizes exactly.
    A stream that breaks off (damaged or truncated, fewer frames than its header declares) raises
    CorruptVideoError after the frames it could decode; allow_partial=True stops there with a warning.
    """
    for t, frame in _decode(src, {}, max_frames=max_frames, stride=stride, size=size, start_s=start_s,
                            duration_s=duration_s, allow_partial=allow_partial, limits=limits):
        # _decode yields views on FFmpeg's frame buffers; hand out memory the caller owns.
        yield t, np.array(frame, copy=True, order="C")


def _decode(src, header: dict, *, max_frames, stride, size, start_s, duration_s, allow_partial, limits):
    """iter_frames, filling `header` (fps, codec, container, declared frames) once the file is open."""
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    if max_frames is not None and max_frames < 1:
        raise ValueError(f"max_frames must be >= 1, got {max_frames}")
    container, stream, name = open_video(src, limits)
    budget = DecodeBudget(limits, name)
    try:
        fps = stream_fps(stream)
        # mp4/mov sample tables count real frames; AVI indexes also count empty (dropped) ones.
        declared = int(stream.frames or 0) if container.format.name.startswith("mov") else 0
        if start_s is None and duration_s is None:
            planned = [n for n in (declared or int(stream.frames or 0), max_frames and max_frames * stride) if n]
            budget.check_plan(stream.codec_context.width, stream.codec_context.height, min(planned, default=0))
        header.update(name=name, fps=fps, codec=stream.codec_context.name, container=container.format.name,
                      declared_frames=declared)
        if start_s:
            # Frame-threaded decoding after a seek returned different pixels from run to run (seen on H.264
            # scans of long clips); slice threads are deterministic.
            stream.thread_type = "SLICE"
            try:
                container.seek(int(start_s / stream.time_base), stream=stream, backward=True)
            except av.error.FFmpegError:
                log.debug("%s: seek failed, decoding from the start", name)
        end_s = None if duration_s is None else (start_s or 0.0) + duration_s
        n_decoded = n_yielded = 0
        try:
            for frame in container.decode(stream):
                budget.frame(frame.width, frame.height)
                t = float(frame.time) if frame.time is not None else n_decoded / fps
                if start_s is not None and t < start_s - 1e-6:
                    continue
                if end_s is not None and t >= end_s - 1e-6:
                    break
                index = n_decoded
                n_decoded += 1
                if index % stride:
                    continue
                if n_yielded >= limits.max_frames and max_frames is None:
                    raise VideoTooLargeError(
                        f"{name}: more than {limits.max_frames} frames; pass max_frames or raise the limit"
                    )
                yield t, _to_rgb(frame, size)
                n_yielded += 1
                if max_frames is not None and n_yielded >= max_frames:
                    break
        except (av.error.FFmpegError, ValueError, UnicodeDecodeError) as exc:
            if n_yielded == 0 or not allow_partial:
                raise CorruptVideoError(f"{name}: damaged video, decoding failed after {n_decoded} frames ({exc})") from exc
            log.warning("%s: stream damaged after %d frames; stopping there (%s)", name, n_decoded, exc)
        if n_yielded == 0:
            raise CorruptVideoError(f"{name}: contains no decodable video frames")
        whole_file = max_frames is None and start_s is None and duration_s is None
        if whole_file and declared and n_decoded < declared * 0.98 - 1:
            msg = f"{name}: truncated or damaged, header declares {declared} frames but only {n_decoded} decode"
            if not allow_partial:
                raise CorruptVideoError(msg + " (allow_partial=True accepts what decodes)")
            log.warning(msg)
    finally:
        container.close()


def read_video(
    src: Source,
    *,
    max_frames: int | None = None,
    stride: int = 1,
    size: Size = None,
    start_s: float | None = None,
    duration_s: float | None = None,
    allow_partial: bool = False,
    limits: Limits = DEFAULT_LIMITS,
) -> Clip:
    """Decode a video into a Clip (uint8 (T, H, W, 3) RGB). See iter_frames for the arguments."""
    header: dict = {}
    buf: np.ndarray | None = None
    times: list[float] = []
    n = 0
    frames = _decode(src, header, max_frames=max_frames, stride=stride, size=size, start_s=start_s,
                     duration_s=duration_s, allow_partial=allow_partial, limits=limits)
    for t, frame in frames:
        if buf is None:
            # One array reserved up front for as many frames as the limit allows: pages are committed only as
            # frames land and the tail is given back at the end, so the array never grows (a growing array
            # holds its old and new copies at once) and the limit holds before memory is spent.
            capacity = limits.max_decoded_bytes // frame.nbytes
            if max_frames is not None:
                capacity = min(capacity, max_frames)
            if capacity < 1:
                raise VideoTooLargeError(f"{header['name']}: one decoded frame ({frame.nbytes} bytes) exceeds "
                                         f"the limit of {limits.max_decoded_bytes} bytes; pass size")
            buf = np.empty((capacity, *frame.shape), np.uint8)
        if frame.shape != buf.shape[1:]:
            # Streams that change resolution mid-way are resized to the first frame's size.
            import cv2

            frame = cv2.resize(frame, (buf.shape[2], buf.shape[1]), interpolation=cv2.INTER_AREA)
        if n == len(buf):
            frames.close()
            raise VideoTooLargeError(
                f"{header['name']}: decoded frames exceed {limits.max_decoded_bytes} bytes "
                "(VIDPROV_MAX_DECODED_BYTES); use max_frames, stride or size")
        buf[n] = frame
        times.append(t)
        n += 1
    if n < len(buf):
        buf.resize((n, *buf.shape[1:]), refcheck=False)  # realloc: gives back the reserved tail in place
    fps = header["fps"] / stride
    if len(times) > 1 and times[-1] > times[0]:
        # Variable frame rate: the mean rate of what was actually decoded.
        fps = (len(times) - 1) / (times[-1] - times[0])
    meta = {"source": header["name"], "codec": header["codec"], "container": header["container"],
            "source_fps": header["fps"]}
    return Clip(buf, fps=fps, meta=meta)


class _rewound:
    """Restore a file object's position after a probe so the next open starts where the caller left it."""

    def __init__(self, src: Source):
        self.src = src
        self.pos = src.tell() if hasattr(src, "tell") and hasattr(src, "seek") else None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.pos is not None:
            self.src.seek(self.pos)


def probe(src: Source, *, limits: Limits = DEFAULT_LIMITS) -> VideoInfo:
    """Container, codec, size, fps, duration and frame count, read from headers and packets only."""
    size_bytes = None
    if isinstance(src, (str, os.PathLike)) and Path(src).is_file():
        size_bytes = os.stat(src).st_size
    elif isinstance(src, (bytes, bytearray, memoryview)):
        size_bytes = len(src)
    with _rewound(src):
        container, stream, name = open_video(src, limits)
        try:
            ctx = stream.codec_context
            fps = stream_fps(stream)
            duration = _duration_s(container, stream)
            n = int(stream.frames or 0)
            exact = n > 0
            rotation = 0
            if n == 0:
                # Count packets (no decoding); bounded by the file size limit.
                n = 0
                last_t = 0.0
                budget = limits.started()
                try:
                    for packet in container.demux(stream):
                        if packet.size:
                            n += 1
                            if n % 1024 == 0:
                                budget.check_time(name)
                            if packet.pts is not None and packet.time_base is not None:
                                last_t = max(last_t, float((packet.pts + (packet.duration or 0)) * packet.time_base))
                except av.error.FFmpegError:
                    pass
                exact = n > 0
                if duration is None and last_t:
                    duration = last_t
            if duration is None:
                duration = n / fps if fps else 0.0
            side = getattr(stream, "side_data", None)
            if side is not None:
                try:
                    rotation = int(round(side.get("DISPLAYMATRIX", 0) or 0)) % 360
                except (TypeError, ValueError, AttributeError):
                    rotation = 0
            w, h = int(ctx.width), int(ctx.height)
            return VideoInfo(
                source=name,
                container=container.format.name,
                codec=ctx.name,
                width=w,
                height=h,
                fps=round(fps, 4),
                duration_s=round(float(duration), 4),
                num_frames=n,
                frames_exact=exact,
                pix_fmt=str(ctx.pix_fmt or stream.format.name if stream.format else ctx.pix_fmt),
                rotation=rotation,
                size_bytes=size_bytes,
                has_audio=bool(container.streams.audio),
            )
        finally:
            container.close()


def _rate(fps: float) -> Fraction:
    return Fraction(fps).limit_denominator(1001)


def _even(frames: np.ndarray) -> np.ndarray:
    """yuv420p needs even sides: replicate the last row/column instead of dropping pixels."""
    t, h, w, _ = frames.shape
    ph, pw = h % 2, w % 2
    if ph or pw:
        frames = np.pad(frames, ((0, 0), (0, ph), (0, pw), (0, 0)), mode="edge")
    return frames


def _encode(clip: Clip, target, *, fmt: str, codec: str, crf: int | None, pix_fmt: str, options: dict | None):
    if not isinstance(clip, Clip):
        raise TypeError(f"expected a Clip, got {type(clip).__name__}")
    frames = _even(clip.frames) if pix_fmt.startswith(("yuv420", "nv12")) else clip.frames

    def video_frames():
        for frame in frames:
            vf = av.VideoFrame.from_ndarray(frame, format="rgb24")
            # Convert here with one thread: the encoder's own conversion uses automatic swscale threads,
            # which gave different bytes from run to run once other decodes had run in between.
            yield vf if pix_fmt == "rgb24" else vf.reformat(format=pix_fmt, threads=1)

    _mux(video_frames(), target, fmt=fmt, codec=codec, fps=clip.fps, width=frames.shape[2], height=frames.shape[1],
         crf=crf, pix_fmt=pix_fmt, options=options)


def _mux(video_frames, target, *, fmt: str, codec: str, fps: float, width: int, height: int, crf: int | None,
         pix_fmt: str, options: dict | None) -> None:
    """Encode av.VideoFrames already in `pix_fmt` into `target` (a path or a buffer)."""
    # faststart rewrites the file after muxing, which needs a path, not a buffer.
    opts = {"movflags": "+faststart"} if fmt == "mp4" and isinstance(target, (str, os.PathLike)) else {}
    with av.open(target, mode="w", format=fmt, options=opts) as container:
        try:
            stream = container.add_stream(codec, rate=_rate(fps))
        except (av.error.FFmpegError, ValueError) as exc:
            raise UnsupportedVideoError(f"codec {codec!r} is not available in this FFmpeg build") from exc
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        codec_opts = dict(options or {})
        if crf is not None and codec in ("libx264", "libx265", "libvpx-vp9", "libaom-av1"):
            codec_opts.setdefault("crf", str(crf))
        if codec == "libx264":
            codec_opts.setdefault("preset", "medium")
        stream.options = codec_opts
        for vf in video_frames:
            for packet in stream.encode(vf):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def write_video(
    clip: Clip,
    path: str | os.PathLike,
    *,
    codec: str = "libx264",
    crf: int | None = 18,
    pix_fmt: str = "yuv420p",
    options: dict | None = None,
) -> Path:
    """Write an H.264 mp4 (by default) that browsers play. Atomic: a temp file renamed into place.

    Odd frame sizes are padded by one replicated row/column (yuv420p needs even sides).
    """
    path = Path(path)
    if not path.parent.exists():
        raise VideoError(f"{path}: directory {path.parent} does not exist")
    suffix = path.suffix.lower().lstrip(".") or "mp4"
    fmt = {"mkv": "matroska", "mov": "mov", "webm": "webm", "avi": "avi", "gif": "gif"}.get(suffix, "mp4")
    atomic_write(path, lambda tmp: _encode(clip, tmp, fmt=fmt, codec=codec, crf=crf, pix_fmt=pix_fmt, options=options))
    return path


def write_frames(
    frames: Iterable[np.ndarray],
    path: str | os.PathLike,
    *,
    fps: float,
    codec: str = "libx264",
    crf: int | None = 18,
    pix_fmt: str = "yuv420p",
    options: dict | None = None,
) -> Path:
    """write_video for a stream of uint8 (H, W, 3) frames, encoded as they arrive (memory: one frame).
    Atomic like write_video; odd sides are padded the same way."""
    path = Path(path)
    if not path.parent.exists():
        raise VideoError(f"{path}: directory {path.parent} does not exist")
    it = iter(frames)
    try:
        first = next(it)
    except StopIteration:
        raise VideoError(f"{path}: no frames to write") from None
    h, w = first.shape[:2]
    pad_h, pad_w = (h % 2, w % 2) if pix_fmt.startswith(("yuv420", "nv12")) else (0, 0)

    def video_frames():
        for frame in _chain(first, it):
            if frame.shape != first.shape or frame.dtype != np.uint8:
                raise VideoError(f"{path}: frames must all be uint8 {first.shape}, got {frame.dtype} {frame.shape}")
            if pad_h or pad_w:
                frame = np.pad(frame, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
            yield vf if pix_fmt == "rgb24" else vf.reformat(format=pix_fmt, threads=1)

    suffix = path.suffix.lower().lstrip(".") or "mp4"
    fmt = {"mkv": "matroska", "mov": "mov", "webm": "webm", "avi": "avi", "gif": "gif"}.get(suffix, "mp4")
    atomic_write(path, lambda tmp: _mux(video_frames(), tmp, fmt=fmt, codec=codec, fps=fps, width=w + pad_w,
                                        height=h + pad_h, crf=crf, pix_fmt=pix_fmt, options=options))
    return path


def _chain(first, rest):
    yield first
    yield from rest


X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")


def _check_preset(preset: str) -> str:
    if preset not in X264_PRESETS:
        raise ValueError(f"unknown x264 preset {preset!r}; valid: {', '.join(X264_PRESETS)}")
    return preset


# The x264 presets that give the same bytes from run to run in this FFmpeg build (on one thread). The others
# vary by a fraction of the compression error itself, so they cannot promise reproducible output.
BIT_EXACT_PRESETS = ("ultrafast",)


def encode_video(clip: Clip, *, codec: str = "libx264", crf: int | None = 18, pix_fmt: str = "yuv420p",
                 deterministic: bool = True, preset: str | None = None) -> bytes:
    """Encode a Clip to mp4 bytes in memory, always on one encoder thread (libx264's frame threads vary
    more, and with the load of the machine).

    deterministic=True promises the same bytes for the same clip: libx264 then runs the bit-exact
    configuration (a preset in BIT_EXACT_PRESETS, by default ultrafast) and any other preset is refused.
    deterministic=False accepts every x264 preset (by default medium). preset is ignored by other codecs.
    """
    buf = io.BytesIO()
    options = {"threads": "1"}
    if codec == "libx264":
        options["preset"] = _encoder_preset(preset, deterministic)
    _encode(clip, buf, fmt="mp4", codec=codec, crf=crf, pix_fmt=pix_fmt, options=options)
    return buf.getvalue()


def _encoder_preset(preset: str | None, deterministic: bool) -> str:
    if preset is None:
        return BIT_EXACT_PRESETS[0] if deterministic else "medium"
    _check_preset(preset)
    if deterministic and preset not in BIT_EXACT_PRESETS:
        raise ValueError(f"x264 preset {preset!r} is not bit-exact in this FFmpeg build (only "
                         f"{', '.join(BIT_EXACT_PRESETS)}); pass deterministic=False to use it")
    return preset


def reencode(clip: Clip, *, crf: int = 23, codec: str = "libx264", pix_fmt: str = "yuv420p",
             preset: str = "medium") -> Clip:
    """Round-trip a Clip through a real lossy encode and decode (in memory); meta and fps kept.

    Reproducible bit for bit only with a preset in BIT_EXACT_PRESETS (see encode_video).
    """
    data = encode_video(clip, codec=codec, crf=crf, pix_fmt=pix_fmt, preset=preset,
                        deterministic=preset in BIT_EXACT_PRESETS)
    decoded = read_video(data)
    frames = decoded.frames[:, : clip.height, : clip.width]  # undo the padding of odd sizes
    return Clip(np.ascontiguousarray(frames), fps=clip.fps, meta=dict(clip.meta))
