"""The contract every registered detector keeps; new registrations are covered automatically."""

import numpy as np
import pytest
from sklearn.base import clone

import vidprov.detector as D
from vidprov import Clip
from vidprov.benchmarks.baselines import register_baselines

register_baselines()

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _tiny_clips(n=8, t=9, size=32, seed=0):
    rng = np.random.default_rng(seed)
    clips, y = [], []
    for i in range(n):
        label = i % 2
        base = rng.integers(0, 256, (1, size, size, 3)).astype(np.float32)
        drift = rng.normal(0, 4 if label else 25, (t, 1, 1, 3))  # "generated": smoother in time
        frames = np.clip(base + np.cumsum(drift, 0) + rng.normal(0, 3, (t, size, size, 3)), 0, 255)
        clips.append(Clip(frames.astype(np.uint8), fps=8.0, meta={"i": i}))
        y.append(label)
    return clips, np.array(y)


def _make(name):
    factory = D.factory(name)
    kwargs = factory.tiny_kwargs() if hasattr(factory, "tiny_kwargs") else {}
    return D.create(name, **kwargs)


@pytest.mark.parametrize("name", D.available())
def test_detector_contract(name, tmp_path):
    clips, y = _tiny_clips()
    det = _make(name)
    before = set(vars(det))
    assert det.fit(clips, y) is det
    learned = set(vars(det)) - before
    assert learned, f"{name}: fit learned nothing"
    public = [a for a in learned if not a.startswith("_")]
    assert all(a.endswith("_") for a in public), f"{name}: learned attributes without '_': {public}"
    p = det.predict_proba(clips)
    assert p.shape == (len(clips), 2)
    assert np.all((p >= 0) & (p <= 1)) and np.allclose(p.sum(1), 1)
    assert det.predict(clips).shape == (len(clips),)
    det.save(tmp_path / "saved")
    again = type(det).load(tmp_path / "saved")
    np.testing.assert_allclose(again.predict_proba(clips), p, atol=1e-6)
    params = {k: v for k, v in det.get_params().items() if not hasattr(v, "reconstruct")}
    assert {k: v for k, v in clone(det).get_params().items() if k in params} == params


def test_frame_cnn_colour_control_sees_grey_frames():
    from vidprov.benchmarks.baselines import _sample_frames

    clips, _ = _tiny_clips(n=1)
    grey = _sample_frames(clips[0], 3, 16, colour=False)
    rgb = _sample_frames(clips[0], 3, 16)
    assert grey.shape == rgb.shape == (3, 16, 16, 3)
    assert (grey[..., 0] == grey[..., 1]).all() and (grey[..., 1] == grey[..., 2]).all()
    assert not (rgb[..., 0] == rgb[..., 1]).all()
    assert D.create("frame_cnn", colour=False).get_params()["colour"] is False
