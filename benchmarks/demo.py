"""Demo step: a small benchmark of the baseline detectors on a quick protocol."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd

from vidprov.manifest import Manifest


def _demo_manifest(ctx) -> Manifest | None:
    if ctx.manifest is not None:
        return ctx.manifest
    # No shared data: the sample real clips against what the generator step produced, if anything.
    generated = list(ctx.state.get("generated") or [])
    if not ctx.real_paths or not generated:
        return None
    # Absolute paths: the demo's output folder is usually given relative to the working directory.
    rows = [{"path": str(Path(p).resolve()), "label": "real"} for p in ctx.real_paths]
    rows += [{"path": str(Path(p).resolve()), "label": "generated", "generator": "vidprov"} for p in generated]
    return Manifest(pd.DataFrame(rows), root="/")


def demo_step(ctx) -> None:
    from vidprov.benchmarks.clipstore import NormConfig
    from vidprov.benchmarks.harness import BenchConfig, run_benchmark
    from vidprov.benchmarks.plugins import registered
    from vidprov.benchmarks.protocols import subsample
    from vidprov.benchmarks.report import summary_table, write_outputs
    from vidprov.perturb import QUICK_GRID

    manifest = _demo_manifest(ctx)
    if manifest is None:
        ctx.console.print("[yellow]benchmark skipped: no labelled data (no shared data, no generated clips)[/yellow]")
        ctx.section("Benchmark", "Skipped: no labelled real + generated clips were available.")
        return
    t0 = time.monotonic()
    manifest = subsample(manifest, 60 if ctx.quick else 216, seed=0)
    cfg = BenchConfig(norm=NormConfig(size=64 if ctx.quick else 128), protocols=("in-dist", "robust"),
                      perturbations=QUICK_GRID, n_boot=100 if ctx.quick else 1000, test_size=0.3)
    specs = [registered("d3", quick=True), registered("frame_cnn", quick=True)]
    out = ctx.out / "benchmark"
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # on a busy 2-core machine, more OpenMP threads only spin
    try:
        result = run_benchmark(manifest, specs, cfg, cache_dir=out / "cache")
    finally:
        torch.set_num_threads(threads)
    runtime = time.monotonic() - t0
    write_outputs(result, out, config={**cfg.to_dict(), "n_clips": len(manifest)}, runtime_s=runtime,
                  command="vidprov demo (benchmark step)")
    summary = summary_table(result.metrics) if not result.metrics.empty else pd.DataFrame()
    rob = result.metrics
    if not rob.empty:
        rob = rob[(rob["protocol"] == "robust") & (rob["subset"] == "all") & (rob["level"] == "video")
                  & (rob["metric"] == "roc_auc")].pivot_table(index="perturbation", columns="detector",
                                                                values="value", sort=False).round(3)
    from rich.table import Table

    if not summary.empty:
        table = Table("detector", "protocol", "clips (gen/neg)", "AUC [95% CI]", "EER", title="baselines, clean test split")
        for r in summary.to_dict("records"):
            table.add_row(r["detector"], r["protocol"], r["clips (gen/neg)"], r["AUC"], r["EER"])
        best = summary.iloc[0]
        ctx.show(table, f"{len(summary)} baseline rows on the clean test split (first: {best['detector']} AUC "
                        f"{best['AUC']})")
    md = [f"{len(manifest)} clips (group split, 30% test), normalised to {cfg.norm.size}px, {cfg.norm.num_frames} "
          f"frames at {cfg.norm.fps:g} fps, H.264 CRF {cfg.norm.crf}; {runtime:.0f} s. Full report: "
          "`benchmark/report.md`.\n"]
    if not summary.empty:
        cols = ["detector", "protocol", "clips (gen/neg)", "AUC", "AP", "EER", "TPR@1%FPR", "ECE"]
        md.append("| " + " | ".join(cols) + " |\n|" + "---|" * len(cols))
        md += ["| " + " | ".join(str(r[c]) for c in cols) + " |" for r in summary.to_dict("records")]
    if isinstance(rob, pd.DataFrame) and not rob.empty:
        md.append("\nAUC under perturbations (robust protocol, same test split):\n")
        md.append("| perturbation | " + " | ".join(rob.columns) + " |\n|" + "---|" * (len(rob.columns) + 1))
        md += [f"| {p} | " + " | ".join(f"{v:.3f}" for v in row) + " |" for p, row in zip(rob.index, rob.values, strict=True)]
    ctx.state["benchmark"] = {"report": str(out / "report.md"), "runtime_s": runtime}
    ctx.section("Benchmark", "\n".join(md))
