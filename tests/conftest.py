from __future__ import annotations

import numpy as np
import pytest

from vidprov import Clip
from vidprov.manifest import DEFAULT_SHARED_MANIFEST

HAVE_DATA = DEFAULT_SHARED_MANIFEST.exists()
needs_data = pytest.mark.skipif(not HAVE_DATA, reason=f"shared data not found at {DEFAULT_SHARED_MANIFEST.parent}")


def moving_clip(t: int = 12, h: int = 48, w: int = 64, fps: float = 10.0, seed: int = 0) -> Clip:
    """A smooth coloured pattern that moves: compresses like real video, unlike noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    phase = rng.uniform(0, 2 * np.pi, 3)
    frames = np.empty((t, h, w, 3), np.uint8)
    for i in range(t):
        for c in range(3):
            v = 128 + 90 * np.sin((xx + 2 * i) / (6 + 3 * c) + phase[c]) * np.cos((yy - i) / (7 + c))
            frames[i, :, :, c] = np.clip(v, 0, 255)
    return Clip(frames, fps=fps, meta={"source": "synthetic"})


@pytest.fixture(scope="session", autouse=True)
def _private_vidprov_home(tmp_path_factory):
    """Keys and signing certificates made by tests go to a temp folder, never the user's ~/.config."""
    import os

    home = tmp_path_factory.mktemp("vidprov_home")
    old = os.environ.get("VIDPROV_HOME")
    os.environ["VIDPROV_HOME"] = str(home)
    yield home
    if old is None:
        os.environ.pop("VIDPROV_HOME", None)
    else:
        os.environ["VIDPROV_HOME"] = old


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A tiny feature detector trained on synthetic clips and saved with a card's thresholds, for the scan
    tests (no shipped weights needed); per module, so that no module sees another's use of it."""
    import json

    from test_detector_models import make_clip

    from vidprov.detector.models import FeatureDetector
    from vidprov.detector.windows import WindowSpec

    rng = np.random.default_rng(0)
    y = np.array([0, 1] * 8)
    clips = [make_clip(rng, bool(v), t=24) for v in y]
    model = FeatureDetector(n_estimators=20, cv=2, window=WindowSpec(size=64, num_frames=8, max_windows=1)).fit(clips, y)
    folder = tmp_path_factory.mktemp("model")
    model.save(folder)
    (folder / "card.json").write_text(json.dumps({"threshold": 0.6, "real_below": 0.3}))
    return folder


@pytest.fixture
def clip() -> Clip:
    return moving_clip()


@pytest.fixture
def one_torch_thread():
    """On the shared 2-core machine, torch's default 2 threads spin against other jobs (tiny convs ran
    40x slower); restore the setting for whatever runs afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
