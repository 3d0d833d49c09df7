"""CLI: `vidprov bench detector` and `vidprov dataset index`."""

from __future__ import annotations

import json
import shlex
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

console = Console()
dataset_app = typer.Typer(help="Data sets: build a Manifest from a folder or an existing manifest.", no_args_is_help=True)

# --quick: small clips, few clips, fewer resamples, a short perturbation list; under 3 min on 2 cores.
QUICK = {"size": 64, "max_clips": 90, "n_boot": 200, "perturbations": "quick", "detectors": "d3,frame_cnn,saturation"}
FULL = {"size": 128, "n_boot": 1000, "perturbations": "grid", "detectors": "d3,aeroblade,frame_cnn,saturation"}


def _read_manifest(path: Path):
    from vidprov.manifest import Manifest, ManifestError

    if path.is_dir():
        for name in ("MANIFEST.csv", "manifest.csv", "manifest.parquet"):
            if (path / name).is_file():
                return Manifest.read(path / name)
        return Manifest.from_folder(path)
    if not path.exists():
        raise ManifestError(f"{path}: no such manifest or folder")
    return Manifest.read(path)


def _default_data(data: Path | None) -> Path:
    """--data, or the shared data when present (said on the console); else a one-line error."""
    from vidprov.errors import VidprovError
    from vidprov.manifest import DEFAULT_SHARED_MANIFEST

    if data is not None:
        return data
    if DEFAULT_SHARED_MANIFEST.is_file():
        console.print(f"data: the shared data ({DEFAULT_SHARED_MANIFEST}); pass --data to use another manifest")
        return DEFAULT_SHARED_MANIFEST
    raise VidprovError(f"no --data given and no shared data at {DEFAULT_SHARED_MANIFEST} (or $VIDPROV_DATA): pass "
                       "--data MANIFEST with real and generated clips (the sample clips packaged with the install "
                       "are all real, so they cannot train a detector)")


@dataset_app.command("index")
def dataset_index(
    folder: Annotated[Path, typer.Argument(help="real/ + generated/<generator>/ folders, a folder holding MANIFEST.csv "
                                                 "or manifest.csv (shared data, generate-dataset output), or a manifest file.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Manifest to write (.csv or .parquet).")],
    split: Annotated[bool, typer.Option("--split/--no-split", help="Add a group-aware train/test split column.")] = False,
    test_size: Annotated[float, typer.Option(help="Test fraction for --split.")] = 0.3,
    seed: Annotated[int, typer.Option(help="Seed for --split.")] = 0,
) -> None:
    """Build a Manifest (path, label, generator, group, split, source_format) from a data folder."""
    from rich.table import Table

    from vidprov.manifest import Manifest

    m = _read_manifest(folder)
    if m.root.resolve() != out.parent.resolve():
        # Relative paths resolve against the manifest's folder: written elsewhere, make them absolute.
        df = m.df.copy()
        df["path"] = [str(m.abspath(p).resolve()) for p in df["path"]]
        m = Manifest(df, root=out.parent)
    if split:
        m = m.group_split(test_size=test_size, seed=seed)
    m.write(out)
    table = Table("label", "clips", "groups", "generators", "formats")
    for label, g in m.df.groupby("label"):
        table.add_row(label, str(len(g)), str(g["group"].nunique()), str(g.loc[g["generator"] != "", "generator"].nunique()),
                      ", ".join(f"{k}:{v}" for k, v in g["source_format"].value_counts().items()))
    console.print(table)
    console.print(f"{len(m)} clips -> {out}")


@dataset_app.command("merge")
def dataset_merge(
    sources: Annotated[list[Path], typer.Argument(help="Manifests or data folders to join (two or more, or one "
                                                       "with --exclude-groups-of).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Manifest to write (.csv or .parquet); paths become absolute.")],
    exclude_groups_of: Annotated[Path | None, typer.Option(help="Drop every clip whose group appears in this manifest "
                                                                "(e.g. a cross-dataset test set), so no source group "
                                                                "is in both.")] = None,
) -> None:
    """Join manifests (e.g. ../shared/data and `vidprov generate-dataset` output) into one training manifest,
    or take the groups of a test set out of one."""
    if len(sources) < 2 and exclude_groups_of is None:
        raise typer.BadParameter("give at least two manifests or folders to merge (or one with --exclude-groups-of)")
    merged = _read_manifest(sources[0])
    for src in sources[1:]:
        merged = merged.concat(_read_manifest(src))
    if exclude_groups_of is not None:
        held = set(_read_manifest(exclude_groups_of).df["group"])
        keep = ~merged.df["group"].isin(held)
        console.print(f"left out {int((~keep).sum())} clips of {len(held)} groups in {exclude_groups_of}")
        merged = merged.subset(keep.to_numpy())
    merged.write(out)
    counts = merged.df["label"].value_counts().to_dict()
    console.print(f"{len(merged)} clips {counts} from {len(sources)} sources -> {out}")


def _detector_params(items: list[str], names: list[str]) -> dict[str, dict]:
    """--param NAME.KEY=VALUE options -> {name: {key: value}}; VALUE is parsed as JSON when it can be."""
    out: dict[str, dict] = {}
    for item in items:
        target, sep, raw = item.partition("=")
        name, dot, key = target.partition(".")
        if not sep or not dot or not key:
            raise typer.BadParameter(f"--param {item!r}: expected NAME.KEY=VALUE, e.g. fused.epochs=60")
        if name not in names:
            raise typer.BadParameter(f"--param {item!r}: {name!r} is not among --detectors ({', '.join(names)})")
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw
        out.setdefault(name, {})[key] = value
    return out


def bench_detector(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder for results, report and plots.")],
    data: Annotated[Path | None, typer.Option("--data", help="Manifest (or data folder) to train/test on "
                                                             "(default: the shared data, when present).")] = None,
    detectors: Annotated[str | None, typer.Option(help="Comma-separated registered detector names "
                                                       "(default: d3,frame_cnn,saturation with --quick, else d3,aeroblade,frame_cnn,saturation).")] = None,
    external: Annotated[list[str] | None, typer.Option("--external", help="External detector command with {list} and {out}; "
                                                                          "repeatable.")] = None,
    protocol: Annotated[str, typer.Option(help="unseen | logo | in-dist | cross | robust | unseen-robust | all, or a comma list (unseen generators first).")] = "unseen,logo,in-dist,robust",
    test_data: Annotated[Path | None, typer.Option("--test-data", help="Second manifest for the cross protocol.")] = None,
    quick: Annotated[bool, typer.Option("--quick", help="Smoke run: few small clips, short grid (< 3 min).")] = False,
    size: Annotated[int | None, typer.Option(help="Normalised frame size (default 64 quick, 128 full).")] = None,
    perturbations: Annotated[str | None, typer.Option(help="Robust grid: names, 'grid' or 'quick'.")] = None,
    families: Annotated[str | None, typer.Option(help="logo: only these held-out families (comma list).")] = None,
    max_clips: Annotated[int | None, typer.Option(help="Subsample the manifest to this many clips (by group).")] = None,
    n_boot: Annotated[int | None, typer.Option(help="Bootstrap resamples for CIs.")] = None,
    test_size: Annotated[float, typer.Option(help="Test fraction of the group split.")] = 0.3,
    seed: Annotated[int, typer.Option(help="Seed for splits, bootstrap and perturbations.")] = 0,
    cache: Annotated[Path | None, typer.Option(help="Cache folder (default OUT/cache): makes re-runs resume.")] = None,
    threads: Annotated[int, typer.Option(help="torch CPU threads (1 is fastest on a busy shared CPU).")] = 1,
    param: Annotated[list[str] | None, typer.Option("--param", help="Constructor parameter of a registered "
                                                                    "detector, NAME.KEY=VALUE (VALUE as JSON, "
                                                                    "else a string); repeatable.")] = None,
) -> None:
    """Benchmark detectors: metrics with bootstrap CIs per protocol, perturbation, generator and format."""
    import torch
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from vidprov.backbones.imagenet import remembered_statistics
    from vidprov.benchmarks.clipstore import NormConfig
    from vidprov.benchmarks.harness import BenchConfig, run_benchmark
    from vidprov.benchmarks.plugins import external as external_spec
    from vidprov.benchmarks.plugins import registered
    from vidprov.benchmarks.protocols import PROTOCOLS, family_of, subsample
    from vidprov.benchmarks.report import summary_table, write_outputs
    from vidprov.perturb import parse_list

    torch.set_num_threads(max(1, threads))
    t0 = time.monotonic()
    preset = QUICK if quick else FULL
    data = _default_data(data)
    manifest = _read_manifest(data)
    clips_cap = max_clips if max_clips is not None else preset.get("max_clips")
    if clips_cap:
        manifest = subsample(manifest, clips_cap, seed=seed)
    test_manifest = _read_manifest(test_data) if test_data else None
    protos = list(PROTOCOLS) if protocol == "all" else [p.strip() for p in protocol.split(",") if p.strip()]
    if "cross" in protos and test_manifest is None:
        protos.remove("cross")
        console.print("[yellow]cross protocol skipped: no --test-data[/yellow]")
    names = [d.strip() for d in (detectors or preset["detectors"]).split(",") if d.strip()]
    params = _detector_params(param or [], names)
    specs = [registered(n, quick=quick, **params.get(n, {})) for n in names]
    specs += [external_spec(cmd, name=f"external{i + 1}" if len(external or []) > 1 else "external")
              for i, cmd in enumerate(external or [])]
    perts = tuple(p.name for p in parse_list(perturbations or preset["perturbations"]))
    if quick and "logo" in protos and not families:
        # --quick keeps its time budget: hold out only the three largest families.
        fams = manifest.where(label="generated").df["generator"].map(family_of).value_counts()
        families = ",".join(fams.index[:3])
        console.print(f"[yellow]--quick: logo folds limited to {families}[/yellow]")
    cfg = BenchConfig(norm=NormConfig(size=size or preset["size"]), protocols=tuple(protos), perturbations=perts,
                      test_size=test_size, seed=seed, n_boot=n_boot if n_boot is not None else preset["n_boot"],
                      logo_families=tuple(f.strip() for f in families.split(",")) if families else None)
    console.print(f"{len(manifest)} clips {manifest.df['label'].value_counts().to_dict()}; detectors {names + ['external'] * len(external or [])}; "
                  f"protocols {protos}; size {cfg.norm.size}")
    cache_dir = cache or out / "cache"
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=False) as progress:
        with remembered_statistics():  # the backbone detectors see each clip in many folds
            result = run_benchmark(manifest, specs, cfg, test_manifest=test_manifest, cache_dir=cache_dir,
                                   progress=progress)
    runtime = time.monotonic() - t0
    command = "vidprov " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    config = {**cfg.to_dict(), "data": str(data), "test_data": str(test_data) if test_data else None,
              "detectors": names, "external": external or [], "quick": quick, "max_clips": clips_cap,
              "n_clips": len(manifest)}
    files = write_outputs(result, out, config=config, runtime_s=runtime, command=command)
    if not result.metrics.empty:
        from rich.table import Table

        summary = summary_table(result.metrics)
        summary = summary[[c for c in ("detector", "protocol", "fold", "clips (gen/neg)", "AUC", "AP", "EER")
                           if c in summary.columns]]
        table = Table(*summary.columns, title="perturbation none, all test clips")
        for row in summary.itertuples(index=False):
            table.add_row(*map(str, row))
        console.print(table)
    said: dict[tuple[str, str], int] = {}
    for s in result.skipped:
        if s.get("what") == "detector":
            said[(s["detector"], s["reason"])] = said.get((s["detector"], s["reason"]), 0) + 1
    for (det, reason), n in said.items():
        console.print(f"[yellow]skipped {det} on {n} fold(s)/perturbation(s): {reason}[/yellow]")
    n_bad = sum(s.get("what") == "clip" for s in result.skipped)
    if n_bad:
        console.print(f"[yellow]{n_bad} unreadable clip(s) left out; see report.md[/yellow]")
    console.print(f"done in {runtime:.0f} s -> {files['report']}")


def register(app: typer.Typer, bench: typer.Typer) -> None:
    bench.command("detector")(bench_detector)
    app.add_typer(dataset_app, name="dataset")
