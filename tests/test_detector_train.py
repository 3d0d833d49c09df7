"""`vidprov detector train` end to end on a tiny folder of synthetic clips (features and fused)."""

import json

import numpy as np
import pytest

from vidprov.io import read_video, write_video
from vidprov.manifest import Manifest


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    from test_detector_models import make_clip

    root = tmp_path_factory.mktemp("tiny_data")
    rng = np.random.default_rng(1)
    for label, folder in ((0, root / "real"), (1, root / "generated" / "toygen")):
        folder.mkdir(parents=True)
        for i in range(10):
            write_video(make_clip(rng, bool(label), t=20, size=48), folder / f"{i}.mp4")
    path = root / "manifest.csv"
    Manifest.from_folder(root).write(path)
    return path


@pytest.mark.parametrize("model", ["features", "fused"])
def test_train_writes_a_scoring_model_with_an_honest_threshold(manifest, tmp_path, model):
    from vidprov.detector.models import load_detector
    from vidprov.detector.train import TrainConfig, train

    cfg = TrainConfig(model=model, epochs=1, crop=32, train_frames=4, max_windows=1, crf35_eval=False, augment=0)
    card = train(manifest, tmp_path / "det", cfg, cache=tmp_path / "cache", progress=False)
    m = card["metrics"]
    assert m["test"]["n_clips"] > 0 and 0.0 <= m["test"]["auc"] <= 1.0
    # The threshold set holds every training group's out-of-fold score, not only the val split's clips.
    n_val_real = m["val"]["n_real"]
    assert m["threshold_set"]["n_real_clips"] > n_val_real
    assert 0.05 <= card["threshold"] <= 0.999
    saved = json.loads((tmp_path / "det" / "card.json").read_text())
    assert saved["config"]["model"] == model
    det = load_detector(tmp_path / "det")
    # The window format the model trained on travels with it, so scans prepare windows the same way.
    assert (det.spec.size, det.spec.preset) == (cfg.window_size, cfg.preset) == (256, "ultrafast")
    assert det.spec.resize_in == cfg.resize_in == "rgb24" and det.spec.chunk == 4
    assert "preset ultrafast, resized in rgb24" in (tmp_path / "det" / "MODEL_CARD.md").read_text()
    p = det.predict_proba([read_video(p) for p in Manifest.read(manifest).paths[:2]])
    assert p.shape == (2, 2)


def test_train_fused_with_a_global_member(manifest, tmp_path):
    from vidprov.detector.models import load_detector
    from vidprov.detector.train import TrainConfig, train

    cfg = TrainConfig(model="fused", members=("features", "spacetime", "global"), epochs=1, crop=32,
                      train_frames=4, global_epochs=1, global_size=32, max_windows=1, crf35_eval=False, augment=0)
    card = train(manifest, tmp_path / "det", cfg, cache=tmp_path / "cache", progress=False)
    assert list(card["config"]["members"]) == ["features", "spacetime", "global"]
    det = load_detector(tmp_path / "det")
    assert det.members == ("features", "spacetime", "global")
    assert det.members_[2].view == "global" and det.members_[2].crop == 32
    assert "Global network" in (tmp_path / "det" / "MODEL_CARD.md").read_text()
    assert det.predict_proba([read_video(p) for p in Manifest.read(manifest).paths[:2]]).shape == (2, 2)
    with pytest.raises(ValueError, match="members"):
        train(manifest, tmp_path / "bad", TrainConfig(model="fused", members=("spacetime", "globl")),
              cache=tmp_path / "cache", progress=False)


@pytest.mark.parametrize("args, message", [
    (["--members", "spacetime,global"], "must list 'features'"),
    (["--members", "features,globl"], "must list 'features'"),
    (["--global-epochs", "0"], "--global-epochs must be at least 1"),
    (["--global-size", "8"], "--global-size must lie in"),
])
def test_train_cli_rejects_bad_member_options_in_one_line(manifest, tmp_path, args, message):
    from typer.testing import CliRunner

    from vidprov.cli import app

    res = CliRunner().invoke(app, ["detector", "train", "--model", "fused", "--data", str(manifest), "--out",
                                 str(tmp_path / "d"), *args])
    assert res.exit_code == 2 and message in " ".join(res.output.split()) and "Traceback" not in res.output
    assert not (tmp_path / "d").exists()
