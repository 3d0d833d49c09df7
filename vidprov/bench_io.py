"""`vidprov bench io`: read_video's decode throughput against a bare PyAV loop on the same
files, measured side by side in one run, and write_video's encode frames/s."""

from __future__ import annotations

import platform
import tempfile
import time
from pathlib import Path

import av
import numpy as np
from rich.console import Console
from rich.table import Table

from vidprov.atomic import atomic_write_json
from vidprov.clip import Clip
from vidprov.io import read_video, write_video
from vidprov.samples import packaged_real_clips


def _bare_pyav(path: Path) -> int:
    """The loop a user would write to get the frames of a file as one array."""
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        s.thread_type = "AUTO"
        return len(np.stack([f.to_ndarray(format="rgb24") for f in c.decode(s)]))


def _decode_only(path: Path) -> int:
    """Lower bound: decode and convert, keeping nothing (no memory traffic for the result)."""
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        s.thread_type = "AUTO"
        return sum(1 for f in c.decode(s) if f.to_ndarray(format="rgb24") is not None)


def _best(fn, repeats: int) -> tuple[float, int]:
    best, n = float("inf"), 0
    for _ in range(repeats):
        t0 = time.perf_counter()
        n = fn()
        best = min(best, time.perf_counter() - t0)
    return best, n


def run_bench_io(*, files: list[Path] | None, repeats: int, out: Path | None, console: Console) -> dict:
    files = list(files or packaged_real_clips())
    if not files:
        raise SystemExit("no files to decode")
    table = Table("file", "frames", "decode-only fps", "bare PyAV fps", "read_video fps", "ratio")
    rows = []
    tot_bare = tot_ours = 0.0
    for f in files:
        t_bare, n = _best(lambda f=f: _bare_pyav(f), repeats)
        t_ours, n2 = _best(lambda f=f: read_video(f, allow_partial=True).num_frames, repeats)
        t_only, _ = _best(lambda f=f: _decode_only(f), repeats)
        tot_bare += t_bare
        tot_ours += t_ours
        rows.append({"file": f.name, "frames": n, "bare_fps": n / t_bare, "read_video_fps": n2 / t_ours,
                     "decode_only_fps": n / t_only,
                     "ratio": t_bare / t_ours})
        table.add_row(f.name, str(n), f"{n / t_only:.0f}", f"{n / t_bare:.0f}", f"{n2 / t_ours:.0f}", f"{t_bare / t_ours:.2f}")
    # Real frames at 640x360 (noise would be an unrealistic worst case for the encoder).
    real = read_video(files[0], max_frames=60, size=(360, 640), allow_partial=True)
    clip = Clip(np.ascontiguousarray(real.frames), fps=25)
    with tempfile.TemporaryDirectory() as d:
        t_write, _ = _best(lambda: write_video(clip, Path(d) / "w.mp4", crf=23) and clip.num_frames, repeats)
    overall = tot_bare / tot_ours
    console.print(table)
    console.print(f"overall decode ratio read_video / bare PyAV (frames kept as one array): [bold]{overall:.3f}[/bold]"
                  " (target >= 0.9)")
    console.print(f"write_video 640x360 ({files[0].name}), libx264 crf 23: "
                  f"[bold]{clip.num_frames / t_write:.1f}[/bold] frames/s")
    result = {"files": rows, "overall_ratio": overall, "write_fps_640x360": clip.num_frames / t_write,
              "machine": f"{platform.machine()} {platform.processor() or ''}".strip(), "repeats": repeats}
    if out:
        atomic_write_json(out, result)
    return result
