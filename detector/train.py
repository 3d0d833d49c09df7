"""`vidprov detector train`: group splits, cached windows/features, member training, stacking,
the 1%-FPR threshold on held-out real groups, test metrics, and a model card.

Splits are by group (Manifest.group_split): train fits the members (through FusedDetector.fit_stacked,
on the cached windows), the stacker and the threshold rest on the training groups' out-of-fold scores
plus val (held-out groups), test is only measured. Test metrics are computed on clip
scores (mean of window probabilities), per source format and per generator, and again after an
H.264 CRF 35 re-encode of the test clips.
"""

from __future__ import annotations

import logging
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from vidprov.atomic import atomic_write_json
from vidprov.detector.dataset import DEFAULT_CACHE, clip_windows, feature_matrix, window_table
from vidprov.detector.feature_model import FeatureDetector
from vidprov.detector.fused import MEMBER_DEFAULTS, MEMBER_TYPES, FusedDetector
from vidprov.detector.spacetime import SpacetimeDetector
from vidprov.detector.windows import WindowSpec, iter_windows
from vidprov.manifest import Manifest

log = logging.getLogger(__name__)
TARGET_FPR = 0.01


@dataclass
class TrainConfig:
    model: str = "fused"  # features | spacetime | fused
    # fused: its members. "global" is the spacetime network on the whole window downscaled to global_size.
    members: tuple[str, ...] = ("features", "spacetime")
    seed: int = 0
    test_size: float = 0.25
    val_size: float = 0.2
    augment: int = 1
    max_windows: int = 4
    classifier: str = "gb"
    epochs: int = 6
    crop: int = 96
    train_frames: int = 6
    global_epochs: int = 30
    global_size: int = 64
    crf35_eval: bool = True
    families: tuple[str, ...] = ("temporal", "frequency")
    oof_folds: int = 3  # fused: group folds for the members' out-of-fold training scores
    vae_family: str = "ltx"  # the latent family's VAE: vidprov's faster one (3x faster decode than wan)
    latent_scales: tuple[float, ...] = (0.25, 0.5)
    # Window format, stored with the model. x264 ultrafast makes the windows' round-trip 5x cheaper than
    # medium at the same detection quality (group-CV 0.928 vs 0.900); 128 or 192 px windows cost 0.07-0.03
    # of group-CV AUC.
    window_size: int = 256
    preset: str = "ultrafast"


def check_members(names) -> tuple[str, ...]:
    """The fused model's member names, validated: 'features' (the stacker's anchor) plus any other
    vidprov.detector.fused member type, each once."""
    names = tuple(names)
    valid = sorted(MEMBER_TYPES)
    if "features" not in names or set(names) - set(valid) or len(set(names)) != len(names):
        raise ValueError(f"fused members must list 'features' plus any of {[v for v in valid if v != 'features']}, "
                         f"each once; got {list(names)}")
    return names


def clip_scores(table: pd.DataFrame, window_p: np.ndarray) -> pd.DataFrame:
    """One row per clip: mean window probability plus the clip's metadata."""
    t = table.assign(p=window_p)
    agg = t.groupby("clip").agg(p=("p", "mean"), y=("y", "first"), path=("path", "first"),
                                group=("group", "first"), generator=("generator", "first"),
                                source_format=("source_format", "first"), label=("label", "first"))
    return agg.reset_index()


def _fmt_kind(fmt: str) -> str:
    return "gif" if fmt == "gif" else "video"


def summarize(scores: pd.DataFrame, threshold: float) -> dict:
    """AUC overall and per format kind, FPR/TPR at the threshold, ECE, per-generator TPR."""
    from vidprov.metrics import expected_calibration_error, roc_auc

    y, p = scores["y"].to_numpy(), scores["p"].to_numpy()
    out = {"n_clips": int(len(y)), "n_generated": int(y.sum()), "n_real": int((y == 0).sum())}
    out["auc"] = roc_auc(y, p) if 0 < y.sum() < len(y) else float("nan")
    out["fpr_at_threshold"] = float((p[y == 0] >= threshold).mean()) if (y == 0).any() else float("nan")
    out["tpr_at_threshold"] = float((p[y == 1] >= threshold).mean()) if (y == 1).any() else float("nan")
    out["ece"] = expected_calibration_error(y, p)
    kinds = scores["source_format"].map(_fmt_kind)
    for kind in ("gif", "video"):
        # Per format: generated clips of that format vs all real clips (real of one format are too few).
        m = ((kinds == kind) & (scores["y"] == 1)) | (scores["y"] == 0)
        yy = y[m.to_numpy()]
        out[f"auc_generated_{kind}_vs_all_real"] = roc_auc(yy, p[m.to_numpy()]) if 0 < yy.sum() < len(yy) else None
    gen = scores[scores["y"] == 1].groupby("generator")["p"].apply(lambda s: float((s >= threshold).mean()))
    out["tpr_per_generator"] = gen.to_dict()
    return out


def _luma_windows(table: pd.DataFrame, spec: WindowSpec, cache: Path, augment: int, seed: int) -> np.ndarray:
    out = np.empty((len(table), spec.num_frames, spec.size, spec.size), np.uint8)
    for path, sub in table.groupby("abspath", sort=False):
        frames = clip_windows(Path(path), spec, cache, augment, seed)["frames"]
        lum = SpacetimeDetector.to_luma_frames(frames[sub["index"].to_numpy()])
        out[table.index.get_indexer(sub.index)] = lum
    return out


class CachedMembers:
    """The fused members fitted on, and scoring, the command's cached training windows (row i is the i-th
    training window: its feature row and its luma frames), for FusedDetector.fit_stacked."""

    def __init__(self, config: TrainConfig, spec: WindowSpec, y: np.ndarray, groups: np.ndarray,
                 x: np.ndarray | None, feature_names: list[str], lum: np.ndarray | None, progress: bool):
        self.config, self.spec, self.y, self.groups = config, spec, y, groups
        self.x, self.feature_names, self.lum, self.progress = x, feature_names, lum, progress

    def new(self, name: str):
        c = self.config
        if name == "features":
            return FeatureDetector(classifier=c.classifier, families=c.families, vae_family=c.vae_family,
                                   latent_scales=c.latent_scales, window=self.spec, seed=c.seed)
        params = dict(epochs=c.epochs, crop=c.crop, train_frames=c.train_frames, window=self.spec, seed=c.seed)
        if name == "global":
            params.update({**MEMBER_DEFAULTS["global"], "epochs": c.global_epochs, "crop": c.global_size})
        return SpacetimeDetector(**params)

    def fit(self, name: str, rows: np.ndarray):
        log.info("training the %s member on %d windows", name, len(rows))
        y, g = self.y[rows], self.groups[rows]
        if name == "features":
            return self.new(name).fit_features(take(self.x, rows), y, g, self.feature_names)
        return self.new(name).fit_luma(take(self.lum, rows), y, g, progress=self.progress)

    def proba(self, member, rows: np.ndarray) -> np.ndarray:
        return member_proba(member, take(self.x, rows) if self.x is not None else None,
                            take(self.lum, rows) if self.lum is not None else None)


def take(a: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """a[rows] without copying when rows are all of a in order (the luma windows can be gigabytes)."""
    rows = np.asarray(rows)
    return a if len(rows) == len(a) and np.array_equal(rows, np.arange(len(a))) else a[rows]


def member_proba(member, x: np.ndarray | None, lum: np.ndarray | None) -> np.ndarray:
    """Window probabilities of a member from cached features (feature model) or luma (networks)."""
    if isinstance(member, FeatureDetector):
        return member.proba_features(x)
    return member.calibrator_(member.raw_luma(lum))


def crf35_scores(model, manifest: Manifest, spec: WindowSpec, read_short_side: int = 360) -> list[float]:
    """Clip scores after an H.264 CRF 35 re-encode. Clips are read at `read_short_side` (a typical
    served resolution; decoding 1080p clips whole would not fit memory) over the analysed span."""
    from vidprov.io import read_video
    from vidprov.perturb import H264

    out = []
    span = (spec.max_windows or 4) * spec.window_s + 0.5
    for row in manifest:
        clip = read_video(manifest.abspath(row["path"]), size=read_short_side, duration_s=span)
        clip = H264(crf=35)(clip)
        wins = [w.clip for w in iter_windows(clip, spec)]
        out.append(float(np.mean(model.window_proba(wins))))
    return out


def git_commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).parent, timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def with_extra_training(manifest: Manifest, extra: Manifest) -> Manifest:
    """Add clips to the training split only (e.g. vidprov's own generated clips), so val and test stay the
    clips of `manifest` alone. Extra clips whose group is held out (val/test) are dropped: no source group
    in two splits."""
    held = set(manifest.df.loc[manifest.df["split"] != "train", "group"])
    keep = ~extra.df["group"].isin(held).to_numpy()
    if (~keep).any():
        log.info("extra training data: %d clips of held-out groups left out", int((~keep).sum()))
    extra = extra.subset(keep)
    extra.df["split"] = "train"
    return manifest.concat(extra)


def train(data: Path, out: Path, config: TrainConfig, cache: Path = DEFAULT_CACHE, command: str = "",
          progress: bool = True, extra_train: Path | None = None) -> dict:
    t_start = time.time()
    manifest = Manifest.read(data).group_split(test_size=config.test_size, val_size=config.val_size,
                                               seed=config.seed)
    if extra_train is not None:
        manifest = with_extra_training(manifest, Manifest.read(extra_train))
    manifest.check_no_group_leak()
    spec = WindowSpec(size=config.window_size, preset=config.preset, max_windows=config.max_windows)
    table, failed = window_table(manifest, spec, cache, augment=config.augment, seed=config.seed,
                                 progress=progress)
    split = manifest.df["split"].to_numpy()
    table["split"] = split[table["clip"].to_numpy()]
    train_rows = table[table["split"] == "train"]
    eval_rows = {s: table[(table["split"] == s) & (table["aug"] == 0)] for s in ("val", "test")}

    names = check_members(config.members) if config.model == "fused" else (config.model,)
    y_tr, g_tr = train_rows["y"].to_numpy(), train_rows["group"].to_numpy()
    trainer = CachedMembers(config, spec, y_tr, g_tr, None, [], None, progress)
    x_all = None
    if "features" in names:
        fm = trainer.new("features")
        reconstruct, fingerprint = fm.vae_reconstruction()
        x, feat_names = feature_matrix(table, spec, fm.feature_config, cache, augment=config.augment,
                                       seed=config.seed, reconstruct=reconstruct, progress=progress,
                                       vae_fingerprint=fingerprint)
        x_all = pd.DataFrame(x, index=table.index, columns=feat_names)
        trainer.x, trainer.feature_names = x_all.loc[train_rows.index].to_numpy(), feat_names
    neural = any(n != "features" for n in names)
    if neural:
        trainer.lum = _luma_windows(train_rows, spec, cache, config.augment, config.seed)
    member_p: dict[str, np.ndarray] = {}

    def eval_proba(members: list, split: str) -> np.ndarray:
        """Member window probabilities of a val/test split, its luma read once for all networks."""
        if split not in member_p:
            rows = eval_rows[split]
            x = x_all.loc[rows.index].to_numpy() if x_all is not None else None
            lum = _luma_windows(rows, spec, cache, config.augment, config.seed) if neural else None
            member_p[split] = np.column_stack([member_proba(m, x, lum) for m in members])
        return member_p[split]

    orig_train = (train_rows["aug"] == 0).to_numpy()
    if config.model == "fused":
        # The stacker and the threshold rest on out-of-fold scores of every training group (original
        # windows, not their augmented copies) plus the val split, not only on the few clips of val.
        model = FusedDetector(members=names, oof_folds=config.oof_folds, window=spec, seed=config.seed)
        model.fit_stacked(trainer, y_tr, g_tr, stack_rows=np.flatnonzero(orig_train),
                          extra=lambda members: (eval_proba(members, "val"), eval_rows["val"]["y"].to_numpy()))
        fitted = model.members_
    else:
        model = trainer.fit(names[0], np.arange(len(y_tr)))
        fitted = [model]
    trainer.lum = None
    window_p = {s: eval_proba(fitted, s) for s in eval_rows}
    window_p = {s: model.stack(p) if config.model == "fused" else p[:, 0] for s, p in window_p.items()}

    from vidprov.metrics import threshold_at_fpr

    val = clip_scores(eval_rows["val"], window_p["val"])
    # Held-out real groups for the threshold: the val split, plus, for the feature and fused models, the
    # group-cross-validated (out-of-fold) scores of the training clips: a val split holds only a
    # handful of real groups (the 20 sign-language clips are one group), too few for a 1% FPR.
    held = val
    if config.model == "features":
        held_train = clip_scores(train_rows[orig_train], model.calibrator_(model.oof_scores_[orig_train]))
        held = pd.concat([val, held_train], ignore_index=True)
    elif config.model == "fused":
        held_train = clip_scores(train_rows.iloc[model.stack_rows_], model.stack(model.stack_proba_))
        held = pd.concat([val, held_train], ignore_index=True)
    threshold = threshold_at_fpr(held["y"].to_numpy(), held["p"].to_numpy(), TARGET_FPR)
    threshold = float(min(max(threshold, 0.05), 0.999))
    # Below real_below a clip is called likely real: the score that 95% of val generated clips exceed.
    gen_val = held.loc[held["y"] == 1, "p"].to_numpy()
    real_below = float(min(np.quantile(gen_val, 0.05), threshold)) if len(gen_val) else threshold / 2
    test = clip_scores(eval_rows["test"], window_p["test"])
    metrics = {"val": summarize(val, threshold), "test": summarize(test, threshold),
               "threshold_set": {"n_real_clips": int((held["y"] == 0).sum()),
                                 "n_real_groups": int(held.loc[held["y"] == 0, "group"].nunique())}}
    if config.crf35_eval:
        test_manifest = manifest.subset(manifest.df["split"] == "test")
        p35 = crf35_scores(model, test_manifest, spec)
        t35 = test.copy()
        t35["p"] = p35 if len(p35) == len(t35) else np.nan
        metrics["test_crf35"] = summarize(t35, threshold)
    importances = {}
    for m in fitted:
        if isinstance(m, FeatureDetector):
            importances = dict(sorted(m.importances_.items(), key=lambda kv: -kv[1]))
            metrics["feature_family_importance"] = m.family_importance()
    out = Path(out)
    model.save(out)
    card = {
        "threshold": threshold, "real_below": real_below, "target_fpr": TARGET_FPR,
        "config": asdict(config), "window_spec": asdict(spec), "data": str(data),
        "extra_train": str(extra_train) if extra_train else None,
        "clips": {s: int((manifest.df["split"] == s).sum()) for s in ("train", "val", "test")},
        "windows_train": int(len(train_rows)), "failed": failed, "metrics": metrics,
        "feature_importances": importances, "command": command, "git_commit": git_commit(),
        "train_seconds": round(time.time() - t_start, 1),
        "test_clips": test.assign(p=test["p"].round(4))[["path", "label", "generator", "p"]].to_dict("records"),
    }
    atomic_write_json(out / "card.json", card, sort_keys=True)
    (out / "MODEL_CARD.md").write_text(model_card_markdown(card))
    return card


def model_card_markdown(card: dict) -> str:
    m = card["metrics"]

    def row(name: str, s: dict) -> str:
        return (f"| {name} | {s['n_clips']} ({s['n_generated']} gen / {s['n_real']} real) | {s['auc']:.3f} | "
                f"{s['auc_generated_gif_vs_all_real'] or float('nan'):.3f} | "
                f"{s['auc_generated_video_vs_all_real'] or float('nan'):.3f} | "
                f"{s['fpr_at_threshold']:.3f} | {s['tpr_at_threshold']:.3f} | {s['ece']:.3f} |")

    lines = [
        "# vidprov default detector: model card", "",
        f"Kind: **{card['config']['model']}**; seed {card['config']['seed']}; commit {card['git_commit']}.",
        f"Command: `{card['command']}`", "",
        f"Data: `{card['data']}` split by group: {card['clips']} clips; {card['windows_train']} training windows "
        f"(with {card['config']['augment']} augmented copy per window: harness H.264/resize/crop perturbations).",
        f"Windows: {card['window_spec']['num_frames']} frames at {card['window_spec']['fps']} fps, "
        f"{card['window_spec']['size']}px, H.264 CRF {card['window_spec']['crf']} round-trip at x264 preset "
        f"{card['window_spec']['preset']} (vidprov.normalize).",
        f"Default threshold (1% FPR on held-out real groups: {m['threshold_set']}): **{card['threshold']:.3f}**; "
        f"'likely real' below {card['real_below']:.3f}; uncertain in between.", "",
        "| split | clips | AUC | AUC gif-gen vs real | AUC video-gen vs real | FPR@thr | TPR@thr | ECE |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in ("val", "test", "test_crf35"):
        if name in m:
            lines.append(row(name, m[name]))
    cfg = card["config"]
    members = cfg.get("members", ("features", "spacetime")) if cfg["model"] == "fused" else (cfg["model"],)
    if "spacetime" in members:
        lines += ["", f"Spacetime network: timm mobilenetv3_small_050 trained from scratch on luma, frame differences and "
                      f"noise residuals; {cfg['epochs']} epochs of {cfg['crop']}px crops of {cfg['train_frames']} frames; "
                      "Platt calibration on held-out groups."]
    if "global" in members:
        lines += [f"Global network: timm {MEMBER_DEFAULTS['global']['arch']} from scratch on the same three inputs, computed "
                  f"on the whole window area-downscaled to {cfg['global_size']}px (composition, blur and motion of the "
                  f"whole frame; still luma only); {cfg['global_epochs']} epochs."]
    if cfg["model"] == "fused":
        lines += [f"Stacker: logistic regression on the members' logits, fitted on out-of-fold scores of every training "
                  f"group ({cfg.get('oof_folds', 3)} group folds, every member refitted on each) plus the val split; "
                  "the threshold uses the same held-out scores."]
    lines += [f"Training time: {card.get('train_seconds', float('nan')):.0f} s on the machine that ran the command."]
    if card.get("feature_importances"):
        lines += ["", "Top feature importances (gradient boosting, share of total):", ""]
        lines += [f"- {k}: {v:.3f}" for k, v in list(card["feature_importances"].items())[:10]]
        lines += ["", f"By family: {m.get('feature_family_importance')}",
                  "No colour or saturation feature is computed (luma only, plus the noise residuals' "
                  "cross-channel correlation), so mean saturation, the shared data's strongest style cue, "
                  "cannot be used."]
    lines += ["", "Limits: ~200 clips of training data; figures on a test split of a few dozen clips have wide "
              "confidence intervals. See benchmarks/RESULTS.md for the harness's protocols.", ""]
    return "\n".join(lines)
