"""`vidprov bench watermark`: every target of the watermark issue, measured on real clips.

Per clip (native size): mark with a fresh key and payload, measure PSNR/SSIM, apply every attack,
detect. The invisible-watermark package's dwtDctSvd runs on the same frames (32 bits, majority vote
over frames) when it is installed. False positives: the unmarked clips, folded once, are tested
against thousands of random keys. Speed: embed / detect frames per second at 640x360.
Writes rows.csv, summary.csv, summary.md, summary.json and plots into --out.
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

import vidprov
from vidprov.atomic import atomic_write_json
from vidprov.atomic import atomic_write_text as _atomic_text
from vidprov.color import luma_u8
from vidprov.perturb import RESCALE_CHAIN, WATERMARK_GRID, WATERMARK_QUICK_GRID, WATERMARK_TARGETS, get
from vidprov.watermark import forgery, pixel

log = logging.getLogger(__name__)
ALPHA = 1e-6
BASELINE_BITS = 32
BASELINE_MAX_PIXELS = 640 * 480  # dwtDctSvd runs at a few frames/s above this: skipped there to bound the run


def select_clips(manifest: vidprov.Manifest, n: int) -> list[Path]:
    """Real clips, one per group, at least 128 px on the short side, at most 1280x720, spread over sizes."""
    df = manifest.df
    df = df[(df["label"] == "real")].copy()
    w = pd.to_numeric(df.get("width"), errors="coerce")
    h = pd.to_numeric(df.get("height"), errors="coerce")
    df = df[(np.minimum(w, h) >= 128) & (w * h <= 1280 * 720)]
    df = df.assign(pixels=w * h).sort_values(["pixels", "path"]).drop_duplicates("group")
    idx = np.unique(np.linspace(0, len(df) - 1, min(n, len(df))).round().astype(int))
    return [manifest.abspath(p) for p in df.iloc[idx]["path"]]


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / max(mse, 1e-12)))


def _ssim(a: np.ndarray, b: np.ndarray, step: int) -> float:
    from skimage.metrics import structural_similarity

    return float(np.mean([structural_similarity(a[i], b[i], channel_axis=2) for i in range(0, len(a), step)]))


class Baseline:
    """invisible-watermark's dwtDctSvd (chroma-domain, per image), 32 bits, majority over frames."""

    name = "dwtDctSvd"

    def __init__(self):
        from imwatermark import WatermarkDecoder, WatermarkEncoder  # optional, benchmark only

        self._enc, self._dec = WatermarkEncoder, WatermarkDecoder

    @staticmethod
    def fits(clip: vidprov.Clip) -> bool:
        return clip.height * clip.width >= 256 * 256

    def embed(self, clip: vidprov.Clip, bits: np.ndarray) -> vidprov.Clip:
        enc = self._enc()
        enc.set_watermark("bits", [int(b) for b in bits])
        frames = [enc.encode(np.ascontiguousarray(f[..., ::-1]), "dwtDctSvd")[..., ::-1] for f in clip.frames]
        return clip.replace(frames=np.ascontiguousarray(np.stack(frames)))

    def decode(self, clip: vidprov.Clip) -> np.ndarray:
        if not self.fits(clip):
            return np.full(BASELINE_BITS, -1)
        dec = self._dec("bits", BASELINE_BITS)
        votes = np.stack([np.asarray(dec.decode(np.ascontiguousarray(f[..., ::-1]), "dwtDctSvd"), dtype=float)
                          for f in clip.frames])
        return (votes.mean(axis=0) > 0.5).astype(int)


def _baseline() -> Baseline | None:
    try:
        return Baseline()
    except ImportError:
        return None


def _speed(clip: vidprov.Clip, baseline: Baseline | None, repeats: int) -> dict:
    """Frames/s at 640x360 (best of repeats): embed, detect on frames, detect from an H.264 file."""
    import cv2

    frames = np.stack([cv2.resize(f, (640, 360), interpolation=cv2.INTER_AREA) for f in clip.frames])
    c = clip.replace(frames=frames)
    n = c.num_frames

    def best(fn):
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            out = fn()
            times.append(time.perf_counter() - t0)
        return n / min(times), out

    out = {}
    out["vidprov_embed_fps"], marked = best(lambda: pixel.embed(c, "speed-key"))
    out["vidprov_detect_fps"], _ = best(lambda: pixel.detect(marked, "speed-key"))
    with tempfile.TemporaryDirectory() as tmp:
        path = vidprov.write_video(marked, Path(tmp) / "m.mp4", crf=23)
        out["vidprov_detect_file_fps"], _ = best(lambda: pixel.detect_file(path, "speed-key"))
    if baseline is not None:
        bits = np.random.default_rng(0).integers(0, 2, BASELINE_BITS)
        sub = c.replace(frames=frames[: min(n, 24)])
        m = n
        n = sub.num_frames
        out["dwtDctSvd_embed_fps"], bmarked = best(lambda: baseline.embed(sub, bits))
        out["dwtDctSvd_detect_fps"], _ = best(lambda: baseline.decode(bmarked))
        n = m
    return out


LOOK_ALIKE_DB = 30.0  # same-seed PSNR from which marked and unmarked samples count as looking alike


def run_latent(*, quick: bool, console, model: str) -> dict:
    """The latent watermark's AUC on one trained generator, or why it could not be measured."""
    from vidprov.errors import VidprovError
    from vidprov.watermark import latent

    try:
        return {"status": "measured", **latent.benchmark(model, pairs=4 if quick else 12)}
    except VidprovError as exc:  # ModelNotFoundError when the generator has no trained weights yet
        console.print(f"[yellow]latent watermark ({model}) not measured: {exc}[/yellow]")
        return {"status": f"not measured: {exc}"}


def latent_targets(family: str, lat: dict) -> list[dict]:
    """The issue's latent-watermark rows of the targets table for one generator family."""
    if lat["status"] != "measured":
        return [{"target": f"latent AUC ({family})", "measured": lat["status"], "goal": ">= 0.99 / 0.95", "met": False}]
    psnr = lat["psnr_marked_vs_unmarked_db"]
    return [
        {"target": f"latent AUC, clean ({family})", "measured": round(lat["auc_clean"], 4), "goal": ">= 0.99",
         "met": lat["auc_clean"] >= 0.99},
        {"target": f"latent AUC, H.264 CRF 30 ({family})", "measured": round(lat["auc_crf30"], 4), "goal": ">= 0.95",
         "met": lat["auc_crf30"] >= 0.95},
        {"target": f"latent: same-seed PSNR marked vs unmarked, dB ({family})", "measured": round(psnr, 2),
         "goal": f">= {LOOK_ALIKE_DB:.0f} (look alike)", "met": psnr >= LOOK_ALIKE_DB},
    ]


def run_bench(*, out: Path, quick: bool = False, data: Path | None = None, trials: int = 10_000,
              baseline: bool = True, console=None, clips: list[Path] | None = None,
              latent: bool = True) -> dict:
    from rich.console import Console
    from tqdm import tqdm

    console = console or Console()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if clips is None:
        manifest = vidprov.Manifest.read(data) if data else vidprov.Manifest.from_shared()
        clips = select_clips(manifest, 4 if quick else 10)
    max_frames = 48 if quick else 96
    names = WATERMARK_QUICK_GRID if quick else WATERMARK_GRID
    base = _baseline() if baseline else None
    if baseline and base is None:
        console.print("[yellow]invisible-watermark is not installed: dwtDctSvd rows skipped "
                      "(pip install --no-deps invisible-watermark PyWavelets)[/yellow]")
    rng = np.random.default_rng(2026)
    rows, quality, null_p, forgeries = [], [], [], []
    targets: list[vidprov.Clip] = []  # the opening frames of earlier clips, to paste marks onto
    keys_per_clip = int(np.ceil(trials / max(len(clips), 1)))
    for ci, path in enumerate(tqdm(clips, desc="clips", unit="clip")):
        clip = vidprov.read_video(path, max_frames=max_frames)
        name = Path(path).name
        key = f"bench-{ci}-{rng.integers(1 << 62)}"
        t0 = time.perf_counter()
        marked = pixel.embed(clip, key, rng.bytes(3).hex())
        embed_s = time.perf_counter() - t0
        payload = marked.meta["watermark_payload"]  # the 64-bit word embedded: bit accuracy over all of it
        q = {"clip": name, "width": clip.width, "height": clip.height, "frames": clip.num_frames,
             "psnr": _psnr(clip.frames, marked.frames), "ssim": _ssim(clip.frames, marked.frames, 8),
             "embed_fps": clip.num_frames / embed_s}
        bmarked = bbits = None
        if base is not None and base.fits(clip) and clip.width * clip.height <= BASELINE_MAX_PIXELS:
            # the same payload: its first 32 bits (dwtDctSvd's usual length)
            bbits = np.unpackbits(np.frombuffer(bytes.fromhex(payload), dtype=np.uint8))[:BASELINE_BITS]
            bmarked = base.embed(clip, bbits)
            q["dwtDctSvd_psnr"] = _psnr(clip.frames, bmarked.frames)
        quality.append(q)
        for a in names:
            attacked = get(a)(marked, seed=ci)
            r = pixel.detect(attacked, key, expected_payload=payload)
            rows.append({"method": "vidprov", "clip": name, "attack": a, "p_value": r.p_value,
                         "detected": r.p_value < ALPHA, "bound": r.status == "bound", "bit_accuracy": r.bit_accuracy,
                         "block": r.block})
            if bmarked is not None:
                bits = base.decode(get(a)(bmarked, seed=ci))
                match = int(np.sum(bits == bbits))
                p = float(stats.binom.sf(match - 1, BASELINE_BITS, 0.5))
                rows.append({"method": "dwtDctSvd", "clip": name, "attack": a, "p_value": p,
                             "detected": p < ALPHA, "bit_accuracy": match / BASELINE_BITS, "block": np.nan})
        forgeries += copy_attacks(clip, marked, key, targets, name)
        targets = (targets + [clip.replace(frames=clip.frames[:FORGERY_FRAMES].copy())])[-FORGERY_TARGETS:]
        # false positives: this unmarked clip against many random keys (folded once)
        # every block size's sums kept (about 400 MB at 720p): a thousand keys must not rebuild them per key
        folder = pixel.Folder(clip.height, clip.width, clip.fps, grid_cache_bytes=1 << 30)
        for i in range(0, clip.num_frames, pixel.BATCH):
            folder.add_luma(luma_u8(clip.frames[i : i + pixel.BATCH]).astype(np.float32))
        for j in range(keys_per_clip):
            null_p.append(pixel.analyse(folder, f"null-{ci}-{j}-{rng.integers(1 << 62)}", segments=False).p_value)
    # speed on the clip nearest to 640x360 (frames are resized to exactly 640x360)
    nearest = min(range(len(quality)), key=lambda i: abs(quality[i]["width"] * quality[i]["height"] - 640 * 360))
    speed_clip = vidprov.read_video(clips[nearest], max_frames=48)
    speed = _speed(speed_clip, base, repeats=2 if quick else 3)
    summary = summarise(pd.DataFrame(rows), pd.DataFrame(quality), np.array(null_p), speed, pd.DataFrame(forgeries))
    if latent:
        from vidprov.generator import FAMILIES

        summary["latent"] = {}
        for family in FAMILIES:  # every family vidprov ships
            lat = run_latent(quick=quick, console=console, model=family)
            summary["latent"][family] = lat
            summary["targets"] += latent_targets(family, lat)
    write_reports(out, pd.DataFrame(rows), pd.DataFrame(quality), np.array(null_p), summary, console)
    return summary


FORGERY_TARGETS = 4  # earlier clips each mark is pasted onto (10 clips: 60 attempts)
FORGERY_FRAMES = 16  # frames of a target clip kept (what detection analyses)


def copy_attacks(clip: vidprov.Clip, marked: vidprov.Clip, key: str, targets: list[vidprov.Clip], name: str) -> list[dict]:
    """Paste this clip's mark onto other clips, estimated exactly (marked minus original) and with a
    denoiser; a forgery is believed when the detector reports the key's mark as bound to the target."""
    n = min(FORGERY_FRAMES, clip.num_frames)
    estimates = {"exact": forgery.mark_estimate_exact(marked.replace(frames=marked.frames[:n]),
                                                      clip.replace(frames=clip.frames[:n])),
                 "denoiser": forgery.mark_estimate_denoised(marked)}
    out = []
    for target in targets:
        for how, est in estimates.items():
            r = pixel.detect(forgery.paste(est, target), key)
            out.append({"clip": name, "estimate": how, "status": r.status, "p_value": r.p_value,
                        "believed": bool(r.detected)})
    return out


def summarise(rows: pd.DataFrame, quality: pd.DataFrame, null_p: np.ndarray, speed: dict,
              forgeries: pd.DataFrame | None = None) -> dict:
    v = rows[rows.method == "vidprov"]
    if "bound" not in v.columns:
        v = v.assign(bound=v["detected"])
    by = v.groupby("attack").agg(bit_accuracy=("bit_accuracy", "mean"), tpr=("detected", "mean"),
                                 bound=("bound", "mean"), max_p=("p_value", "max"))
    targets = []

    def add(name, value, goal, ok):
        targets.append({"target": name, "measured": value, "goal": goal, "met": bool(ok)})

    add("mean PSNR (dB)", round(float(quality.psnr.mean()), 2), ">= 42", quality.psnr.mean() >= 42)
    add("mean SSIM", round(float(quality.ssim.mean()), 4), ">= 0.98", quality.ssim.mean() >= 0.98)
    for a, goal in (("h264_crf23", 0.99), ("h264_crf30", 0.99), ("h264_crf40", 0.95)):
        if a in by.index:
            add(f"bit accuracy after {a}", round(float(by.loc[a, "bit_accuracy"]), 4), f">= {goal}",
                by.loc[a, "bit_accuracy"] >= goal)
    for a in WATERMARK_TARGETS:
        if a in by.index:
            add(f"TPR at p<1e-6 after {a}", round(float(by.loc[a, "tpr"]), 3), ">= 0.99", by.loc[a, "tpr"] >= 0.99)
    if RESCALE_CHAIN in by.index:
        add(f"TPR at p<1e-6 after {RESCALE_CHAIN}", round(float(by.loc[RESCALE_CHAIN, "tpr"]), 3),
            ">= 0.99 (report: the limit)", by.loc[RESCALE_CHAIN, "tpr"] >= 0.99)
    for a in ("none", "h264_crf30", "crop_0.8"):
        if a in by.index:
            add(f"marks bound to their content after {a}", round(float(by.loc[a, "bound"]), 3), "report", True)
    if forgeries is not None and len(forgeries):
        believed = int(forgeries["believed"].sum())
        add(f"forgeries believed in {len(forgeries)} copy attacks (exact and denoiser estimates pasted onto other clips)",
            believed, "0 (>= 50 attempts)", believed == 0 and len(forgeries) >= 50)
        add("copy attacks whose signal was seen (reported copied/unreadable, not believed)",
            int((forgeries["status"] != "absent").sum()), "report", True)
    fp = int(np.sum(null_p < ALPHA))
    add(f"false positives at p<1e-6 in {len(null_p)} (clip, random key) trials", fp, "0 (>= 10000 trials)",
        fp == 0 and len(null_p) >= 10_000)
    ks = float(stats.kstest(null_p, "uniform").pvalue) if len(null_p) else float("nan")
    add("uniformity of null p-values (KS test p)", round(ks, 4), "> 0.01", ks > 0.01)
    add("embed frames/s at 640x360", round(speed["vidprov_embed_fps"], 1), ">= 60", speed["vidprov_embed_fps"] >= 60)
    add("detect frames/s at 640x360 (decoded frames)", round(speed["vidprov_detect_fps"], 1), ">= 120",
        speed["vidprov_detect_fps"] >= 120)
    add("detect frames/s at 640x360 (from H.264 file, decode included)", round(speed["vidprov_detect_file_fps"], 1),
        ">= 120", speed["vidprov_detect_file_fps"] >= 120)
    per_attack = rows.groupby(["method", "attack"]).agg(bit_accuracy=("bit_accuracy", "mean"),
                                                        tpr=("detected", "mean")).reset_index()
    extra = {"forgeries": forgeries.to_dict("records")} if forgeries is not None else {}
    return {"targets": targets, "per_attack": per_attack.to_dict("records"), "speed": speed,
            "quality": quality.to_dict("records"), "n_clips": int(quality.shape[0]),
            "n_null_trials": int(len(null_p)), "null_ks_p": ks, **extra}


def write_reports(out: Path, rows, quality, null_p, summary, console) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from rich.table import Table

    rows.to_csv(out / "rows.csv", index=False)
    quality.to_csv(out / "quality.csv", index=False)
    t = pd.DataFrame(summary["targets"])
    t.to_csv(out / "summary.csv", index=False)
    pa = pd.DataFrame(summary["per_attack"]).pivot(index="attack", columns="method")
    md = ["# Watermark benchmark", "", f"{summary['n_clips']} real clips, {summary['n_null_trials']} null trials.", "",
          "| target | measured | goal | met |", "|---|---|---|---|"]
    md += [f"| {r.target} | {r.measured} | {r.goal} | {'yes' if r.met else 'NO'} |" for r in t.itertuples()]
    md += ["", "## Per attack (mean bit accuracy / TPR at p<1e-6)", "",
           "| attack | " + " | ".join(f"{m} bit acc | {m} TPR" for m in pa.columns.levels[1]) + " |",
           "|---" * (1 + 2 * len(pa.columns.levels[1])) + "|"]
    for a in pa.index:
        cells = []
        for m in pa.columns.levels[1]:
            ba, tpr = pa.loc[a, ("bit_accuracy", m)], pa.loc[a, ("tpr", m)]
            cells += [f"{ba:.3f}" if ba == ba else "-", f"{tpr:.2f}" if tpr == tpr else "-"]
        md.append(f"| {a} | " + " | ".join(cells) + " |")
    md += ["", "## Speed (frames/s, 640x360, this machine)", ""] + [f"- {k}: {v:.1f}" for k, v in summary["speed"].items()]
    _atomic_text(out / "summary.md", "\n".join(md) + "\n")
    atomic_write_json(out / "summary.json", summary)
    # plots
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for m, g in rows[rows.attack.str.match(r"^(none|h264_crf\d+)$")].groupby("method"):
        crf = g.attack.map(lambda s: 0 if s == "none" else int(s.split("crf")[1]))
        s = g.assign(crf=crf).groupby("crf").bit_accuracy.mean()
        ax.plot(s.index, s.values, "o-", label=m)
    ax.set_xlabel("H.264 CRF (0 = no re-encode)")
    ax.set_ylabel("mean bit accuracy")
    ax.set_ylim(0, 1.02)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "bit_accuracy_vs_crf.png", dpi=120)
    fig, ax = plt.subplots(figsize=(8, 3.5))
    piv = rows.groupby(["attack", "method"]).bit_accuracy.mean().unstack()
    piv.plot.bar(ax=ax)
    ax.set_ylabel("mean bit accuracy")
    ax.set_ylim(0, 1.02)
    fig.tight_layout()
    fig.savefig(out / "bit_accuracy_per_attack.png", dpi=120)
    plot_per_clip(rows, quality, out / "bit_accuracy_per_clip.png")
    fig, ax = plt.subplots(figsize=(4, 3.5))
    ax.plot(np.linspace(0, 1, len(null_p)), np.sort(null_p), ".", ms=2)
    ax.plot([0, 1], [0, 1], "k--", lw=1)
    ax.set_xlabel("uniform quantile")
    ax.set_ylabel("null p-value")
    fig.tight_layout()
    fig.savefig(out / "null_pvalues_qq.png", dpi=120)
    plt.close("all")
    table = Table("target", "measured", "goal", "met", title="vidprov watermark benchmark")
    for r in t.itertuples():
        table.add_row(r.target, str(r.measured), r.goal, "[green]yes[/green]" if r.met else "[red]no[/red]")
    console.print(table)
    console.print(f"reports in {out}")


def plot_per_clip(rows: pd.DataFrame, quality: pd.DataFrame, path: Path) -> None:
    """Heat map of vidprov's bit accuracy per clip (sorted by size) and attack: where the payload
    fails is mostly a question of frame size."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    v = rows[rows.method == "vidprov"]
    if not len(v):
        return
    sizes = {q.clip: (int(q.width), int(q.height)) for q in quality.itertuples()}
    grid = v.pivot_table(index="clip", columns="attack", values="bit_accuracy", aggfunc="mean")
    order = sorted(grid.index, key=lambda c: sizes.get(c, (0, 0))[0] * sizes.get(c, (0, 0))[1])
    grid = grid.loc[order, [a for a in rows.attack.unique() if a in grid.columns]]
    fig, ax = plt.subplots(figsize=(1.0 + 0.7 * grid.shape[1], 1.2 + 0.4 * grid.shape[0]))
    im = ax.imshow(grid.values, vmin=0.5, vmax=1.0, cmap="RdYlGn", aspect="auto")
    ax.set_xticks(range(grid.shape[1]), grid.columns, rotation=60, ha="right", fontsize=8)
    labels = [f"{c[:28]} ({'x'.join(map(str, sizes[c])) if c in sizes else '?'})" for c in grid.index]
    ax.set_yticks(range(grid.shape[0]), labels, fontsize=8)
    for (i, j), val in np.ndenumerate(grid.values):
        ax.text(j, i, f"{val:.2f}", ha="center", va="center", fontsize=6)
    fig.colorbar(im, ax=ax, label="bit accuracy")
    ax.set_title("vidprov bit accuracy per clip and attack", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
