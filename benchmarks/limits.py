"""`vidprov bench limits`: every reading command on hostile files must finish or refuse with a
one-line error within the time and memory a shared server can give one file.

The files are built on the spot (vidprov.benchmarks.hostile). Each command runs in its own process; its wall
time and peak resident memory (the kernel's ru_maxrss of that child, via os.wait4) are recorded.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from vidprov.atomic import atomic_write_text
from vidprov.benchmarks import hostile

log = logging.getLogger(__name__)

TARGET_S = 60.0
TARGET_RSS_MB = 1536.0
KILL_AFTER_S = 180.0

# name -> (builder, kwargs); quick sizes keep the build to seconds on a 2-core machine.
FILES = {
    "gif_4000_screen_50k_frames.gif": (hostile.gif_big_screen, {"screen": 4000, "frames": 50_000}),
    "gif_1400_screen_20k_frames.gif": (hostile.gif_big_screen, {"screen": 1400, "frames": 20_000}),
    "h264_4096x4096_200f.mp4": (hostile.h264_large, {"width": 4096, "height": 4096, "frames": 200}),
    "h264_1920x1080_120f.mp4": (hostile.h264_large, {"width": 1920, "height": 1080, "frames": 120}),
    "h264_2560x1440_120f.mp4": (hostile.h264_large, {"width": 2560, "height": 1440, "frames": 120}),
    "h264_64x64_30k_frames.mp4": (hostile.many_tiny_frames, {"frames": 30_000}),
}
QUICK_FILES = ("gif_4000_screen_50k_frames.gif", "h264_1920x1080_120f.mp4", "h264_64x64_30k_frames.mp4")

# How a service calls read_video: a VidprovError becomes its one-line message.
_READ = ("import sys, vidprov\n"
         "try:\n    print(vidprov.read_video(sys.argv[1]).frames.shape)\n"
         "except vidprov.VidprovError as exc:\n    sys.exit(f'error: {exc}')")


def _console_script() -> str:
    """The `vidprov` command of this environment: what a service would run."""
    exe = Path(sys.executable).parent / "vidprov"
    if not exe.exists():
        raise FileNotFoundError(f"{exe}: no vidprov command next to this Python; install vidprov (pip install -e .)")
    return str(exe)


def commands(path: Path, tmp: Path) -> dict[str, list[str]]:
    cli = [_console_script()]
    return {
        "scan": cli + ["scan", str(path), "--json"],
        "read_video": [sys.executable, "-c", _READ, str(path)],
        "mark embed": cli + ["mark", "embed", str(path), str(tmp / f"{path.stem}.marked.mp4"), "--key", "bench-limits"],
        "mark detect": cli + ["mark", "detect", str(path), "--key", "bench-limits"],
    }


# Runs the command as its own child and reports that child's rusage. A child's ru_maxrss starts from its
# parent's resident size at fork, so the command is started from this small process, not from the
# benchmark (which holds the hostile files it built).
_WRAPPER = """
import json, os, signal, subprocess, sys, time
out, kill_after, cmd = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
proc = subprocess.Popen(cmd)
t0, killed = time.monotonic(), False
while True:
    pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
    if pid:
        break
    if time.monotonic() - t0 > kill_after:
        proc.kill()
        killed = True
        pid, status, usage = os.wait4(proc.pid, 0)
        break
    time.sleep(0.05)
with open(out, "w") as f:
    json.dump({"exit": os.waitstatus_to_exitcode(status), "maxrss_kb": usage.ru_maxrss, "killed": killed,
               "wall_s": time.monotonic() - t0}, f)
"""


def run_measured(cmd: list[str], *, kill_after_s: float = KILL_AFTER_S, env: dict | None = None) -> dict:
    """Run cmd; wall seconds, peak RSS (MB) of that process, exit code and the last stderr line."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile(suffix=".json") as res:
        subprocess.run([sys.executable, "-S", "-c", _WRAPPER, res.name, str(kill_after_s), *cmd],
                       stdout=out, stderr=err, env=env, check=False)
        m = json.loads(Path(res.name).read_text())
        err.seek(0)
        lines = [ln for ln in err.read().decode(errors="replace").splitlines() if ln.strip()]
        out.seek(0)
        stdout = out.read().decode(errors="replace")
    try:  # `scan --json` reports a refusal in its JSON (error field) instead of on stderr
        errors = [r["error"] for r in json.loads(stdout) if r.get("error")]
        lines += errors[:1]
    except (ValueError, TypeError, AttributeError, KeyError):
        pass
    # ru_maxrss is in kilobytes on Linux
    return {"wall_s": round(m["wall_s"], 2), "peak_rss_mb": round(m["maxrss_kb"] / 1024, 1), "exit": m["exit"],
            "killed": m["killed"], "stderr_lines": len(lines),
            "message": (lines[-1] if lines else stdout.strip()[-200:])[:300]}


def one_line_error(r: dict) -> bool:
    """A refusal counts when the process exited with an error and printed one line, no traceback."""
    return r["exit"] != 0 and not r["killed"] and r["stderr_lines"] == 1 and "Traceback" not in r["message"]


def run_bench_limits(*, out: Path | None, quick: bool, console: Console, workdir: Path | None = None) -> dict:
    names = QUICK_FILES if quick else tuple(FILES)
    rows = []
    with tempfile.TemporaryDirectory(prefix="vidprov-bench-limits-", dir=workdir) as tmp:
        tmp = Path(tmp)
        for name in names:
            build, kwargs = FILES[name]
            t0 = time.perf_counter()
            path = build(tmp / name, **kwargs)
            log.info("built %s (%d bytes) in %.1f s", name, path.stat().st_size, time.perf_counter() - t0)
            for cmd_name, cmd in commands(path, tmp).items():
                r = run_measured(cmd)
                ok_outcome = r["exit"] == 0 or one_line_error(r)
                r.update(file=name, size_bytes=path.stat().st_size, command=cmd_name,
                         outcome="finished" if r["exit"] == 0 else ("refused" if one_line_error(r) else "FAILED"),
                         met=bool(ok_outcome and r["wall_s"] <= TARGET_S and r["peak_rss_mb"] <= TARGET_RSS_MB))
                rows.append(r)
                console.print(f"{name} {cmd_name}: {r['outcome']} in {r['wall_s']} s, {r['peak_rss_mb']} MB"
                              f" ({r['message'][:120]})")
    table = Table("file", "command", "outcome", "wall s", "peak RSS MB", "met", "message",
                  title=f"hostile inputs: target <= {TARGET_S:.0f} s and <= {TARGET_RSS_MB:.0f} MB each")
    for r in rows:
        table.add_row(r["file"], r["command"], r["outcome"], f"{r['wall_s']:.1f}", f"{r['peak_rss_mb']:.0f}",
                      "[green]yes[/green]" if r["met"] else "[red]no[/red]", r["message"][:80])
    console.print(table)
    summary = {"rows": rows, "all_met": all(r["met"] for r in rows),
               "max_wall_s": max(r["wall_s"] for r in rows), "max_peak_rss_mb": max(r["peak_rss_mb"] for r in rows)}
    console.print(f"all met: {summary['all_met']}; slowest {summary['max_wall_s']} s, "
                  f"largest peak RSS {summary['max_peak_rss_mb']} MB")
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / "bench_limits.json", json.dumps(summary, indent=2))
    return summary
