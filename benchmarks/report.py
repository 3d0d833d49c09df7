"""Write a benchmark run to disk: metrics (Parquet + CSV), per-clip scores, a markdown report,
PNG plots (ROC per generator family, AUC vs H.264 CRF, calibration), config + versions JSON."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from vidprov import metrics as M
from vidprov.atomic import atomic_write as _atomic_write
from vidprov.atomic import atomic_write_json
from vidprov.benchmarks.harness import BenchResult
from vidprov.benchmarks.protocols import PERTURBED_PROTOCOLS

MAIN_METRICS = ("roc_auc", "average_precision", "eer", "tpr_at_fpr_1pct", "tpr_at_fpr_0.1pct", "accuracy", "f1", "ece")
SHORT = {"roc_auc": "AUC", "average_precision": "AP", "eer": "EER", "tpr_at_fpr_1pct": "TPR@1%FPR",
         "tpr_at_fpr_0.1pct": "TPR@0.1%FPR", "accuracy": "Acc@0.5", "f1": "F1@0.5", "ece": "ECE"}


def versions() -> dict:
    out = {"python": platform.python_version(), "platform": platform.platform(), "cpu_count": os.cpu_count()}
    for pkg in ("vidprov", "numpy", "pandas", "scikit-learn", "torch", "timm", "diffusers", "av", "opencv-python-headless"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    try:
        import av

        out["ffmpeg"] = {k: ".".join(map(str, v)) for k, v in av.library_versions.items()}
    except (ImportError, AttributeError):
        pass
    try:
        out["git_commit"] = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                                           cwd=Path(__file__).parent, timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        out["git_commit"] = None
    return out


def _fmt(v: float, lo: float, hi: float) -> str:
    if not np.isfinite(v):
        return "n/a"
    ci = f" [{lo:.2f}, {hi:.2f}]" if np.isfinite(lo) and np.isfinite(hi) else ""
    return f"{v:.3f}{ci}"


def _md_table(df: pd.DataFrame) -> str:
    if df.empty:
        return "_(none)_\n"
    cols = list(df.columns)
    lines = ["| " + " | ".join(map(str, cols)) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def _pivot(m: pd.DataFrame, index: list[str], column: str, metric: str = "roc_auc", n_col: str | None = None) -> pd.DataFrame:
    part = m[m["metric"] == metric].copy()
    if part.empty:
        return pd.DataFrame()
    part["cell"] = [_fmt(v, lo, hi) + (f" (n={int(n)})" if n_col else "")
                    for v, lo, hi, n in zip(part["value"], part["ci_low"], part["ci_high"],
                                            part[n_col] if n_col else part["value"], strict=True)]
    return part.pivot_table(index=index, columns=column, values="cell", aggfunc="first", sort=False).reset_index()


def summary_table(m: pd.DataFrame) -> pd.DataFrame:
    """One row per detector x protocol x fold, perturbation 'none', all test clips, video level."""
    part = m[(m["perturbation"] == "none") & (m["subset"] == "all") & (m["level"] == "video")]
    if (~part["protocol"].isin(PERTURBED_PROTOCOLS)).any():
        part = part[~part["protocol"].isin(PERTURBED_PROTOCOLS)]  # their clean rows repeat in-dist / unseen
    rows = []
    for (det, proto, fold), g in part.groupby(["detector", "protocol", "fold"], sort=False):
        by = g.set_index("metric")
        row = {"detector": det, "protocol": proto, "fold": fold, "split": g["split"].iloc[0],
               "clips (gen/neg)": f"{int(by['n_clips'].iloc[0])} ({int(by['n_pos'].iloc[0])}/{int(by['n_neg'].iloc[0])})"}
        for k in MAIN_METRICS:
            if k in by.index:
                row[SHORT[k]] = _fmt(by.loc[k, "value"], by.loc[k, "ci_low"], by.loc[k, "ci_high"])
        rows.append(row)
    return pd.DataFrame(rows)


def pyplot():
    """matplotlib.pyplot on the file-only Agg backend: reports are written where no display exists."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def markdown(result: BenchResult, config: dict, runtime_s: float, command: str) -> str:
    m = result.metrics
    out = [f"# Detector benchmark\n\nCommand: `{command}`  \nRuntime: {runtime_s:.0f} s on "
           f"{os.cpu_count()}-core CPU. Normalisation (all clips, both classes): {config['norm']}. "
           f"Bootstrap: {config['n_boot']} resamples of clips, stratified by class, 95% percentile CIs. "
           "Accuracy/F1 use threshold 0.5 on the detector's probability, calibrated on training clips only. "
           "Labels: generated = 1; real, animation and synthetic clips = 0 (the last two are hard negatives).\n"]
    out.append("## Folds\n")
    out.append(_md_table(pd.DataFrame(result.folds)[["protocol", "fold", "split", "describe"]]))
    if m.empty:
        out.append("\nNo results (every detector was skipped).\n")
    else:
        out.append("\n## Summary (perturbation: none, all test clips, video level)\n")
        out.append(_md_table(summary_table(m)))
        video = m[m["level"] == "video"]
        logo = video[(video["protocol"] == "logo") & (video["subset"] == "all") & (video["perturbation"] == "none")]
        if not logo.empty:
            out.append("\n## Leave-one-generator-family-out: AUC on the held-out family vs test-split negatives\n")
            out.append(_md_table(_pivot(logo, ["fold"], "detector", n_col="n_pos")))
        for proto, split in (("unseen-robust", "unseen-family"), ("robust", "in-dist")):
            rob = video[(video["protocol"] == proto) & (video["subset"] == "all")]
            if not rob.empty:
                out.append(f"\n## Robustness: AUC on the {split} test split under each perturbation\n")
                out.append(_md_table(_pivot(rob, ["perturbation"], "detector")))
        base = video[(video["protocol"].isin(["in-dist", "cross"])) & (video["perturbation"] == "none")]
        fmt = base[base["subset"].str.startswith("format=") | base["subset"].str.startswith("hard_")
                   | (base["subset"] == "real_vs_generated")]
        if not fmt.empty:
            out.append("\n## Per source format and hard negatives (AUC; n = generated clips)\n")
            out.append("A format shortcut shows as a high AUC overall but a low one inside a format.\n\n")
            out.append(_md_table(_pivot(fmt, ["protocol", "subset"], "detector", n_col="n_pos")))
            acc = fmt[fmt["subset"] == "hard_negatives_vs_generated"]
            if not acc.empty:
                out.append("\nAccuracy on generated + hard negatives (threshold 0.5):\n\n")
                out.append(_md_table(_pivot(acc, ["protocol", "subset"], "detector", metric="accuracy", n_col="n_neg")))
        gen = base[base["subset"].str.startswith("generator=")]
        if not gen.empty:
            out.append("\n## Per generator (AUC of that generator's clips vs all real test clips; n = its clips)\n")
            out.append(_md_table(_pivot(gen, ["protocol", "subset"], "detector", n_col="n_pos")))
        frame = m[(m["level"] == "frame") & (m["perturbation"] == "none")]
        if not frame.empty:
            out.append("\n## Frame level (CIs resample whole clips)\n")
            out.append(_md_table(_pivot(frame, ["protocol", "fold", "subset"], "detector")))
    if result.skipped:
        out.append("\n## Skipped\n")
        out.append(_md_table(pd.DataFrame(result.skipped).astype(object).fillna("")))
    if result.timings:
        out.append("\n## Timings\n")
        out.append(_md_table(pd.DataFrame(result.timings).astype(object).fillna("")))
    return "\n".join(out)


# -- plots ---------------------------------------------------------------------------------------
def plot_roc_per_family(scores: pd.DataFrame, path: Path) -> bool:
    plt = pyplot()

    part = scores[(scores["perturbation"] == "none") & (scores["protocol"].isin(["in-dist", "cross"]))]
    dets = list(part["detector"].unique())
    if not dets:
        return False
    fig, axes = plt.subplots(1, len(dets), figsize=(4.5 * len(dets), 4.2), squeeze=False)
    for ax, det in zip(axes[0], dets, strict=True):
        d = part[(part["detector"] == det)]
        d = d[d["protocol"] == d["protocol"].iloc[0]]
        neg = d[d["y"] == 0]
        for fam in sorted(d.loc[d["y"] == 1, "family"].unique()):
            pos = d[(d["y"] == 1) & (d["family"] == fam)]
            y = np.r_[np.ones(len(pos)), np.zeros(len(neg))]
            s = np.r_[pos["score"], neg["score"]]
            fpr, tpr, _ = M.roc_curve(y, s)
            ax.plot(fpr, tpr, label=f"{fam} (n={len(pos)}) {M.roc_auc(y, s):.2f}", lw=1.2)
        ax.plot([0, 1], [0, 1], "k:", lw=0.8)
        ax.set(title=f"{det}: ROC per generator family", xlabel="FPR", ylabel="TPR")
        ax.legend(fontsize=6, loc="lower right")
    save_figure(fig, path)
    return True


def plot_auc_vs_crf(metrics: pd.DataFrame, path: Path) -> bool:
    plt = pyplot()

    m = metrics[(metrics["protocol"] == "robust") & (metrics["subset"] == "all") & (metrics["level"] == "video")
                & (metrics["metric"] == "roc_auc")]
    m = m[m["perturbation"].str.fullmatch(r"h264_crf\d+") | (m["perturbation"] == "none")]
    if m.empty or m["perturbation"].nunique() < 2:
        return False
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for det, d in m.groupby("detector"):
        crf = d["perturbation"].map(lambda p: 0 if p == "none" else int(p.split("crf")[1]))
        d = d.assign(crf=crf).sort_values("crf")
        ax.errorbar(d["crf"], d["value"], yerr=[d["value"] - d["ci_low"], d["ci_high"] - d["value"]],
                    marker="o", capsize=3, label=det)
    ax.axhline(0.5, color="k", ls=":", lw=0.8)
    ax.set(xlabel="extra H.264 CRF (0 = clean)", ylabel="ROC AUC (95% CI)", title="AUC vs re-encoding strength",
           ylim=(0, 1))
    ax.legend()
    save_figure(fig, path)
    return True


def plot_calibration(scores: pd.DataFrame, path: Path) -> bool:
    plt = pyplot()

    part = scores[(scores["perturbation"] == "none") & (scores["protocol"].isin(["in-dist", "cross"]))]
    if part.empty:
        return False
    fig, ax = plt.subplots(figsize=(4.8, 4.5))
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    for det, d in part.groupby("detector"):
        d = d[d["protocol"] == d["protocol"].iloc[0]]
        if d["score"].min() < 0 or d["score"].max() > 1:
            continue
        conf, frac, count = M.calibration_curve(d["y"], d["score"], n_bins=10)
        ece = M.expected_calibration_error(d["y"], d["score"])
        ax.plot(conf, frac, marker="o", label=f"{det} (ECE {ece:.3f})")
    ax.set(xlabel="predicted P(generated)", ylabel="fraction generated", title="Calibration (test split)",
           xlim=(0, 1), ylim=(0, 1))
    ax.legend(fontsize=8)
    save_figure(fig, path)
    return True


def write_outputs(result: BenchResult, out: str | os.PathLike, *, config: dict, runtime_s: float,
                  command: str) -> dict[str, Path]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = {}
    m = result.metrics
    _atomic_write(out / "results.parquet", lambda t: m.to_parquet(t, index=False))
    _atomic_write(out / "results.csv", lambda t: m.to_csv(t, index=False))
    files["results"] = out / "results.parquet"
    scores = result.scores.copy()
    if not scores.empty:
        scores["frame_scores"] = scores["frame_scores"].map(lambda f: json.dumps(f) if f is not None else "")
    _atomic_write(out / "scores.parquet", lambda t: scores.to_parquet(t, index=False))
    files["scores"] = out / "scores.parquet"
    text = markdown(result, config, runtime_s, command)
    plots = []
    if not result.scores.empty:
        for name, fn, arg in (("roc_per_generator.png", plot_roc_per_family, result.scores),
                              ("auc_vs_crf.png", plot_auc_vs_crf, m),
                              ("calibration.png", plot_calibration, result.scores)):
            if fn(arg, out / name):
                plots.append(name)
                files[name] = out / name
    if plots:
        text += "\n## Plots\n\n" + "\n".join(f"![{p}]({p})" for p in plots) + "\n"
    _atomic_write(out / "report.md", lambda t: Path(t).write_text(text))
    files["report"] = out / "report.md"
    meta = {"config": config, "versions": versions(), "runtime_s": round(runtime_s, 1), "command": command,
            "folds": result.folds, "skipped": result.skipped, "timings": result.timings}
    atomic_write_json(out / "config.json", meta)
    files["config"] = out / "config.json"
    return files
