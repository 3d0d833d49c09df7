"""Hostile video files, built on the spot: the inputs the safety limits (vidprov.limits) exist for.

Each builder writes one small file whose decoded size is huge: a GIF whose logical screen is far
larger than its frames, a tall H.264 stream, a long stream of tiny frames. The limits benchmark
and the tests make them here instead of shipping them.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import av
import numpy as np

from vidprov.atomic import atomic_write, atomic_write_bytes


def _lzw_2bit(indices: np.ndarray) -> bytes:
    """GIF LZW data for 2-bit colour indices, a clear code before every second literal so the code
    width stays at 3 bits (no compression, and no dictionary to get wrong)."""
    clear, end = 4, 5
    codes = []
    for i, v in enumerate(indices.ravel()):
        if i % 2 == 0:
            codes.append(clear)
        codes.append(int(v))
    codes.append(end)
    acc = nbits = 0
    out = bytearray()
    for c in codes:
        acc |= c << nbits
        nbits += 3
        while nbits >= 8:
            out.append(acc & 0xFF)
            acc >>= 8
            nbits -= 8
    if nbits:
        out.append(acc & 0xFF)
    blocks = bytearray([2])  # LZW minimum code size
    for i in range(0, len(out), 255):
        chunk = out[i : i + 255]
        blocks += bytes([len(chunk)]) + chunk
    return bytes(blocks + b"\0")


def gif_big_screen(path: str | os.PathLike, *, screen: int = 4000, frames: int = 50_000, tile: int = 16,
                   delay_cs: int = 2) -> Path:
    """A GIF with a screen x screen logical screen and `frames` tile x tile frames at scattered places:
    a few MB on disk, screen^2 pixels per decoded frame."""
    rng = np.random.default_rng(0)
    head = b"GIF89a" + struct.pack("<HHBBB", screen, screen, 0xF1, 0, 0)  # global table of 4 colours
    head += bytes([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255])
    head += b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"
    data = _lzw_2bit(rng.integers(0, 4, (tile, tile)))
    xs = rng.integers(0, screen - tile, frames)
    ys = rng.integers(0, screen - tile, frames)
    body = bytearray()
    for x, y in zip(xs, ys, strict=True):
        body += b"\x21\xf9\x04\x04" + struct.pack("<H", delay_cs) + b"\x00\x00"  # disposal 1, delay
        body += b"\x2c" + struct.pack("<HHHHB", int(x), int(y), tile, tile, 0) + data
    return atomic_write_bytes(path, head + bytes(body) + b"\x3b")


def h264_large(path: str | os.PathLike, *, width: int = 4096, height: int = 4096, frames: int = 200,
               fps: int = 25) -> Path:
    """An H.264 mp4 of large, smooth, moving frames (encodes fast and small at ultrafast)."""
    yy, xx = np.mgrid[0:height, 0:width]
    base = ((xx // 64 + yy // 64) % 2 * 120 + 60).astype(np.uint8)

    def write(tmp: str) -> None:
        with av.open(tmp, mode="w", format="mp4") as c:
            s = c.add_stream("libx264", rate=fps)
            s.width, s.height, s.pix_fmt = width, height, "yuv420p"
            s.options = {"preset": "ultrafast", "crf": "30"}
            u = np.full((height // 2, width // 2), 128, np.uint8)
            for i in range(frames):
                y = np.roll(base, 8 * i, axis=1)
                frame = av.VideoFrame.from_ndarray(np.concatenate([y, u.reshape(height // 4, width), u.reshape(height // 4, width)]),
                                                   format="yuv420p")
                for p in s.encode(frame):
                    c.mux(p)
            for p in s.encode():
                c.mux(p)

    return atomic_write(path, write)


def many_tiny_frames(path: str | os.PathLike, *, frames: int = 30_000, side: int = 64, fps: int = 100) -> Path:
    """A long H.264 stream of tiny frames: more frames than the default frame limit."""
    return h264_large(path, width=side, height=side, frames=frames, fps=fps)
