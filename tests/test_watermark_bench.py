"""The watermark benchmark harness end to end on two small synthetic clips (no shared data needed)."""

import json

import cv2
import numpy as np
import pandas as pd
from rich.console import Console

import vidprov
from vidprov.perturb import WATERMARK_QUICK_GRID
from vidprov.watermark.bench import run_bench


def test_bench_writes_tables_and_plots(tmp_path):
    paths = []
    for seed in range(2):
        rng = np.random.default_rng(seed)
        base = cv2.GaussianBlur(rng.normal(0, 1, (200, 300, 3)).astype(np.float32), (0, 0), 2.0)
        base = ((base - base.min()) / (base.max() - base.min()) * 200 + 28).astype(np.uint8)
        frames = np.stack([base[i : i + 160, 2 * i : 2 * i + 224] for i in range(12)])
        paths.append(vidprov.write_video(vidprov.Clip(frames, fps=8.0), tmp_path / f"c{seed}.mp4", crf=12))
    summary = run_bench(out=tmp_path / "out", quick=True, trials=40, baseline=False, latent=False,
                        console=Console(quiet=True), clips=paths)
    for name in ("rows.csv", "summary.csv", "summary.md", "summary.json", "bit_accuracy_vs_crf.png",
                 "bit_accuracy_per_attack.png", "bit_accuracy_per_clip.png", "null_pvalues_qq.png"):
        assert (tmp_path / "out" / name).exists(), name
    rows = pd.read_csv(tmp_path / "out" / "rows.csv")
    assert set(rows.attack) == set(WATERMARK_QUICK_GRID) and len(rows) == 2 * len(WATERMARK_QUICK_GRID)
    clean = rows[rows.attack == "none"]
    assert clean.detected.all() and (clean.bit_accuracy == 1.0).all()
    assert summary["n_null_trials"] == 40
    targets = {t["target"] for t in json.loads((tmp_path / "out" / "summary.json").read_text())["targets"]}
    assert "mean PSNR (dB)" in targets and "embed frames/s at 640x360" in targets


def test_latent_targets_per_family_and_look_alike_row():
    from vidprov.watermark.bench import LOOK_ALIKE_DB, latent_targets

    rows = latent_targets("ltx", {"status": "measured", "auc_clean": 1.0, "auc_crf30": 0.94,
                                  "psnr_marked_vs_unmarked_db": LOOK_ALIKE_DB - 14})
    assert [r["met"] for r in rows] == [True, False, False]
    assert all("(ltx)" in r["target"] for r in rows)
    missing = latent_targets("wan", {"status": "not measured: no weights"})
    assert len(missing) == 1 and missing[0]["met"] is False and "(wan)" in missing[0]["target"]
