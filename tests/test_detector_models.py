"""The registered detectors on tiny synthetic clips: contract, learning, save/load without pickle."""

import numpy as np
import pytest

import vidprov.detector as det
from vidprov.clip import Clip
from vidprov.detector.models import FeatureDetector, FusedDetector, SpacetimeDetector, load_detector
from vidprov.detector.persist import DetectorFileError
from vidprov.detector.windows import WindowSpec

SPEC = dict(window=WindowSpec(size=64, num_frames=8, max_windows=1))


def make_clip(rng, generated: bool, t=12, size=40):
    """'generated': a smooth panning texture; 'real': the same with fresh sensor-like noise per frame."""
    import cv2

    big = cv2.GaussianBlur(rng.random((size + 2 * t, size + 2 * t)).astype(np.float32), (0, 0), 2.0)
    frames = np.stack([big[:size, 2 * i : 2 * i + size] for i in range(t)])
    frames = (frames - frames.min()) / (np.ptp(frames) + 1e-6) * 200 + 20
    if not generated:
        frames = frames + rng.normal(0, 12, frames.shape)
    g = np.clip(frames, 0, 255).astype(np.uint8)
    return Clip(np.repeat(g[..., None], 3, axis=-1), fps=8.0)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    y = np.array([0, 1] * 12)
    return [make_clip(rng, bool(v)) for v in y], y


def test_registry_lists_builtin_detectors():
    assert {"features", "spacetime", "fused"} <= set(det.available())
    assert isinstance(det.create("features", **SPEC), FeatureDetector)


@pytest.mark.parametrize("classifier,calibration", [("gb", "isotonic"), ("logreg", "sigmoid")])
def test_feature_detector_learns_and_roundtrips(tmp_path, data, classifier, calibration):
    clips, y = data
    model = FeatureDetector(classifier=classifier, calibration=calibration, n_estimators=30, cv=3, **SPEC)
    assert model.fit(clips[:16], y[:16]) is model
    p = model.predict_proba(clips[16:])
    assert p.shape == (8, 2) and np.allclose(p.sum(1), 1)
    assert p[y[16:] == 1, 1].min() > p[y[16:] == 0, 1].max()  # the noise cue separates perfectly
    assert all(k.endswith("_") for k in ("model_", "calibrator_", "feature_names_"))
    model.save(tmp_path / "m")
    assert sorted(f.name for f in (tmp_path / "m").iterdir()) == ["config.json", "model.safetensors"]
    back = load_detector(tmp_path / "m")
    # Windowing re-encodes with H.264; at >= 64 px and one thread per stage that is bit-exact.
    wins = [w.clip for c in clips[16:] for w in model.clip_windows(c)]
    assert np.array_equal(back.window_proba(wins), model.window_proba(wins))
    np.testing.assert_allclose(back.predict_proba(clips[16:]), p, atol=1e-9)
    scores = back.score_windows([w for c in clips[:2] for w in back.clip_windows(c)], explain=3)
    assert len(scores[0].drivers) == 3 and all(isinstance(n, str) for n, _ in scores[0].drivers)


def test_fit_rejects_bad_labels(data):
    clips, y = data
    with pytest.raises(ValueError, match="both present"):
        FeatureDetector(**SPEC).fit(clips[:4], np.zeros(4))
    with pytest.raises(ValueError, match="labels"):
        FeatureDetector(**SPEC).fit(clips[:4], y[:3])


def test_spacetime_trains_and_roundtrips(tmp_path, data):
    clips, y = data
    model = SpacetimeDetector(arch="test_efficientnet", hidden=8, crop=32, train_frames=4, epochs=2,
                              batch_size=4, device="cpu", **SPEC)
    model.fit(clips, y)
    assert len(model.train_loss_) >= 2 and np.all(np.isfinite(model.train_loss_))
    p = model.predict_proba(clips[:4])
    assert p.shape == (4, 2) and np.all((p >= 0) & (p <= 1))
    model.save(tmp_path / "s")
    wins = [w.clip for c in clips[:4] for w in model.clip_windows(c)]
    assert np.allclose(load_detector(tmp_path / "s").window_proba(wins), model.window_proba(wins), atol=1e-5)


def test_fused_stacks_members_and_roundtrips(tmp_path, data):
    clips, y = data
    params = {"features": {"n_estimators": 20, "cv": 2},
              "spacetime": {"arch": "test_efficientnet", "hidden": 8, "crop": 32, "train_frames": 4,
                            "epochs": 1, "batch_size": 4, "device": "cpu"}}
    model = FusedDetector(member_params=params, **SPEC).fit(clips, y)
    p = model.predict_proba(clips[:6])
    assert p.shape == (6, 2)
    # The feature member separates this data; the stacker must give it a positive weight.
    assert model.stacker_.coef[0] > 0
    model.save(tmp_path / "f")
    back = load_detector(tmp_path / "f")
    wins = [w.clip for c in clips[:6] for w in model.clip_windows(c)]
    assert isinstance(back, FusedDetector)
    assert np.allclose(back.window_proba(wins), model.window_proba(wins), atol=1e-5)


def test_spacetime_global_view_sees_the_downscaled_frame(tmp_path, data):
    clips, y = data
    model = SpacetimeDetector(arch="test_efficientnet", hidden=8, crop=16, train_frames=4, epochs=1,
                              batch_size=4, device="cpu", view="global", **SPEC)
    wins = [w.clip for c in clips[:3] for w in model.clip_windows(c)]
    lum = model.to_luma(wins)
    small = model._view(lum)
    assert small.shape == (*lum.shape[:2], 16, 16)
    # Area downscaling keeps the frame's mean; the crop view would have cut the centre out instead.
    assert abs(float(small.mean()) - float(lum.mean())) < 1.0
    model.fit(clips, y)
    model.save(tmp_path / "g")
    back = load_detector(tmp_path / "g")
    assert back.view == "global"
    assert np.allclose(back.window_proba(wins), model.window_proba(wins), atol=1e-5)
    with pytest.raises(ValueError, match="valid"):
        SpacetimeDetector(view="sideways")


def test_fused_with_a_global_member_roundtrips(tmp_path, data):
    clips, y = data
    net = {"arch": "test_efficientnet", "hidden": 8, "train_frames": 4, "epochs": 1, "batch_size": 4, "device": "cpu"}
    params = {"features": {"n_estimators": 20, "cv": 2}, "spacetime": {**net, "crop": 32}, "global": {**net, "crop": 16}}
    model = FusedDetector(members=("features", "spacetime", "global"), member_params=params, **SPEC).fit(clips, y)
    assert [m.view for m in model.members_[1:]] == ["crop", "global"]
    assert model.stacker_.coef.shape == (3,)
    model.save(tmp_path / "f3")
    back = load_detector(tmp_path / "f3")
    wins = [w.clip for c in clips[:4] for w in model.clip_windows(c)]
    assert back.members_[2].view == "global"
    assert np.allclose(back.window_proba(wins), model.window_proba(wins), atol=1e-5)


def test_fused_stacks_on_out_of_fold_scores_by_default(data, monkeypatch):
    clips, y = data
    groups = np.arange(len(clips)) // 2
    params = {"features": {"n_estimators": 20, "cv": 2}}
    fits = []
    orig = FeatureDetector.fit
    monkeypatch.setattr(FeatureDetector, "fit", lambda self, c, *a, **k: fits.append(len(c)) or orig(self, c, *a, **k))
    model = FusedDetector(members=("features",), member_params=params, oof_folds=2, **SPEC).fit(clips, y, groups)
    # Two out-of-fold fits on about half the clips each, then the final member on all of them.
    assert len(fits) == 3 and fits[-1] == len(clips) and max(fits[:2]) < len(clips)
    assert model.predict_proba(clips[:2]).shape == (2, 2)
    few = FusedDetector(members=("features",), member_params=params, oof_folds=2, **SPEC)
    fits.clear()
    few.fit(clips[:12], y[:12], np.array([0, 1, 2, 3, 4, 5] * 2))  # three groups per class: too few to fold
    assert len(fits) == 1 and fits[0] < 12  # members on part of the groups, the stacker on the rest


def test_load_errors_name_the_problem(tmp_path):
    with pytest.raises(DetectorFileError, match="not a saved detector"):
        load_detector(tmp_path)
    (tmp_path / "config.json").write_text('{"kind": "features"}')
    with pytest.raises(DetectorFileError, match="not a saved detector"):
        FeatureDetector.load(tmp_path)


def _save_tiny_ltx_vae(path, seed):
    import torch

    from vidprov.generator.models import VAEConfig, build_vae

    torch.manual_seed(seed)
    build_vae(VAEConfig(family="ltx", channels=(8, 16, 16), latent_channels=4)).save_pretrained(path)
    return path


def test_latent_features_pin_the_vae_they_learned_from(tmp_path, data):
    from vidprov.detector.persist import DetectorFileError

    clips, y = data
    vae = _save_tiny_ltx_vae(tmp_path / "vae", seed=0)
    model = FeatureDetector(families=("temporal", "latent"), vae_family=str(vae), latent_scales=(0.5,),
                            n_estimators=10, cv=2, **SPEC).fit(clips[:8], y[:8])
    assert model.vae_fingerprint_ and any(n.startswith("latent_") for n in model.feature_names_)
    p = model.predict_proba(clips[8:10])
    model.save(tmp_path / "m")
    np.testing.assert_allclose(load_detector(tmp_path / "m").predict_proba(clips[8:10]), p, atol=1e-9)
    _save_tiny_ltx_vae(vae, seed=1)  # the VAE under the saved detector changes
    with pytest.raises(DetectorFileError, match="retrain"):
        load_detector(tmp_path / "m").predict_proba(clips[8:10])


def test_extra_training_clips_join_the_training_split_only():
    import pandas as pd

    from vidprov.detector.train import with_extra_training
    from vidprov.manifest import Manifest

    main = Manifest(pd.DataFrame({"path": [f"/d/{i}.mp4" for i in range(6)], "label": ["real", "generated"] * 3,
                                  "group": ["a", "b", "c", "d", "e", "f"],
                                  "split": ["train", "train", "val", "val", "test", "test"]}))
    extra = Manifest(pd.DataFrame({"path": ["/x/0.mp4", "/x/1.mp4", "/x/2.mp4"], "label": ["real", "generated", "real"],
                                   "group": ["e", "vidprov-wan/e", "a"]}))
    both = with_extra_training(main, extra)
    both.check_no_group_leak()
    added = both.df[both.df["path"].str.startswith("/x/")]
    assert list(added["path"]) == ["/x/1.mp4", "/x/2.mp4"] and set(added["split"]) == {"train"}  # group e is test
    assert (both.df["split"] != "train").sum() == 4  # val and test untouched


def test_the_window_format_is_saved_with_the_model(tmp_path, data):
    import json

    clips, y = data
    model = FeatureDetector(n_estimators=10, cv=2, **SPEC).fit(clips[:8], y[:8])
    assert model.spec.preset == "ultrafast" and model.spec.chunk == 4  # the bit-exact round-trip, 4 windows each
    model.save(tmp_path / "m")
    cfg_path = tmp_path / "m" / "config.json"
    cfg = json.loads(cfg_path.read_text())
    assert cfg["params"]["window"] == SPEC["window"].to_dict()
    assert load_detector(tmp_path / "m").spec == SPEC["window"]
    del cfg["params"]["window"]
    cfg_path.write_text(json.dumps(cfg))
    with pytest.raises(DetectorFileError, match="without a window description"):
        load_detector(tmp_path / "m")
