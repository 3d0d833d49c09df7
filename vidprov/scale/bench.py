"""`vidprov bench scan --ray`: clips/s and video-seconds/s of the single-process Scanner and of the Ray
pipeline with 1 and 2 scoring actors, on the same files, in one run.

Each Ray run writes to a fresh output folder and is timed end to end from the driver (listing, check
tasks, actor start-up and model load, scoring, Parquet parts); the local Ray itself is started before
the clock. Ray's cost per clip is (Ray time with 1 worker - single-process time) / clips.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from pathlib import Path

from vidprov.scale.cluster import connect

log = logging.getLogger(__name__)


def run_bench_scan_ray(files=None, *, clips: int = 24, workers=(1, 2), model=None, address: str | None = None,
                       console=None, out=None) -> list[dict]:
    from rich.table import Table

    import vidprov
    from vidprov.detector.bench_scan import default_clip
    from vidprov.scale.scan import read_results, scan_dataset

    tmp = Path(tempfile.mkdtemp(prefix="vidprov-bench-ray-"))
    try:
        if files:
            paths = [Path(f) for f in files]
        else:  # copies of one clip: the work per clip does not depend on its content
            base = default_clip(tmp)
            paths = [base]
            for i in range(1, clips):
                paths.append(tmp / f"copy{i:03d}.mp4")
                shutil.copyfile(base, paths[-1])
        video_s = sum(vidprov.probe(p).duration_s or 0.0 for p in paths)
        rows = []

        scanner = vidprov.Scanner(model, provenance=False)
        scanner.scan(paths[0])  # warm-up: imports, first-call allocations
        t = time.perf_counter()
        reports = list(scanner.scan_many([str(p) for p in paths]))
        rows.append(_row("Scanner", 1, len(paths), video_s, time.perf_counter() - t,
                         sum(r.error is not None for r in reports)))

        ray = connect(address)
        cpus = int(ray.cluster_resources().get("CPU", 0))
        for n in workers:
            dest = tmp / f"ray-{n}"
            arrivals: list[tuple[float, int]] = []
            t = time.perf_counter()
            written, _ = scan_dataset(paths, dest, model=model, workers=n, rows_per_block=1, provenance=False,
                                      progress=lambda batch, seen=arrivals: seen.append((time.perf_counter(), len(batch))))
            row = _row(f"Ray, {n} actor{'s' if n > 1 else ''}", n, written, video_s,
                       time.perf_counter() - t, int(read_results(dest)["error"].notna().sum()))
            # Steady rate: rows after the first arrival over the time they took, so actor start-up and model
            # loading (paid once per actor, not per clip) are left out.
            if len(arrivals) > 1 and arrivals[-1][0] > arrivals[0][0]:
                steady = sum(k for _, k in arrivals[1:]) / (arrivals[-1][0] - arrivals[0][0])
                row.update(steady_clips_per_s=steady, steady_video_s_per_s=steady * video_s / len(paths),
                           startup_s=arrivals[0][0] - t)
            rows.append(row)
        single = rows[0]["seconds"] / rows[0]["clips"]
        rows[0].update(steady_clips_per_s=rows[0]["clips_per_s"], steady_video_s_per_s=rows[0]["video_s_per_s"])
        for r in rows:
            r["ray_cpus"] = cpus
            if r["how"].startswith("Ray") and r["workers"] == 1 and "steady_clips_per_s" in r:
                r["ray_overhead_s_per_clip"] = 1 / r["steady_clips_per_s"] - single
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if console is not None:
        table = Table("how", "clips", "wall s", "clips/s", "video-s/s", "steady clips/s", "steady video-s/s",
                      "start-up s", "errors")
        for r in rows:
            steady = r.get("steady_clips_per_s")
            table.add_row(r["how"], str(r["clips"]), f"{r['seconds']:.1f}",
                          f"{r['clips_per_s']:.3f}", f"{r['video_s_per_s']:.2f}",
                          "-" if steady is None else f"{steady:.3f}",
                          "-" if steady is None else f"{r['steady_video_s_per_s']:.2f}",
                          f"{r['startup_s']:.1f}" if "startup_s" in r else "-", str(r["errors"]))
        console.print(table)
        one = next((r for r in rows if r.get("ray_overhead_s_per_clip") is not None), None)
        if one is not None:
            console.print(f"Ray's cost per clip at the steady rate (1 actor vs the single process): "
                          f"{one['ray_overhead_s_per_clip']:+.3f} s; start-up {one['startup_s']:.1f} s once per run; "
                          f"local Ray with {cpus} CPUs")
    if out is not None:
        from vidprov.atomic import atomic_write_json

        atomic_write_json(out, rows)
    return rows


def _row(how: str, workers: int, clips: int, video_s: float, seconds: float, errors: int) -> dict:
    return {"how": how, "workers": workers, "clips": clips, "video_s": video_s, "seconds": seconds,
            "clips_per_s": clips / seconds, "video_s_per_s": video_s / seconds, "errors": errors}
