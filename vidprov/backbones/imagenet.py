"""ImageNet image networks as multi-depth appearance feature extractors.

`StageFeatures` runs frames through a frozen network and returns the activations after chosen
stages (early stages keep fine texture, later ones content); `stage_statistics` reduces each to
per-channel spatial mean and standard deviation per frame, which is what the detector learns from.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

from vidprov.backbones.weights import weight_path

# Stage outputs kept per network: indices into its block list, spanning 1/4 to 1/32 resolution.
STAGES = {
    "mobilenet_v2": (3, 6, 10, 13, 16, 17),  # 24, 32, 64, 96, 160, 320 channels
    "efficientnet_lite0": (2, 4, 7, 10, 14, 15),  # 24, 40, 80, 112, 192, 320 channels
}
# Channels at those stages (tests check them against the networks).
CHANNELS = {
    "mobilenet_v2": [24, 32, 64, 96, 160, 320],
    "efficientnet_lite0": [24, 40, 80, 112, 192, 320],
}
# Input scaling each checkpoint was trained with (per-channel mean and std of 0-255 pixel values).
_NORMALISATION = {
    "mobilenet_v2": ((0.485 * 255, 0.456 * 255, 0.406 * 255), (0.229 * 255, 0.224 * 255, 0.225 * 255)),
    "efficientnet_lite0": ((127.0, 127.0, 127.0), (128.0, 128.0, 128.0)),
}


class StageFeatures(nn.Module):
    """Frozen network -> list of (N, C_k, H_k, W_k) activations after the chosen stages."""

    def __init__(self, name: str, stem: nn.Module, blocks: nn.ModuleList, stages: tuple[int, ...]):
        super().__init__()
        self.name, self.stem, self.blocks, self.stages = name, stem, blocks, tuple(stages)
        mean, std = _NORMALISATION[name]
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1))
        self.requires_grad_(False)
        self.eval()

    @torch.inference_mode()
    def forward(self, frames: torch.Tensor) -> list[torch.Tensor]:
        """frames: (N, 3, H, W) float in 0-255."""
        x = self.stem((frames - self.mean) / self.std)
        out = []
        for i, block in enumerate(self.blocks[: max(self.stages) + 1]):
            x = block(x)
            if i in self.stages:
                out.append(x)
        return out

    @property
    def channels(self) -> list[int]:
        with torch.inference_mode():
            return [f.shape[1] for f in self(torch.zeros(1, 3, 64, 64, device=self.mean.device))]


def _mobilenet_v2() -> StageFeatures:
    from torchvision.models import mobilenet_v2

    net = mobilenet_v2()
    state = torch.load(weight_path("mobilenet_v2"), map_location="cpu", weights_only=True)
    net.load_state_dict(state)
    return StageFeatures("mobilenet_v2", nn.Identity(), nn.ModuleList(net.features), STAGES["mobilenet_v2"])


class _EfficientNetStem(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.conv, self.bn, self.act = net._conv_stem, net._bn0, net._swish

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class _EfficientNetBlock(nn.Module):
    """The package's blocks take a drop-connect rate; at inference it is unused."""

    def __init__(self, block):
        super().__init__()
        self.block = block

    def forward(self, x):
        return self.block(x, drop_connect_rate=None)


def _efficientnet_lite0() -> StageFeatures:
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as exc:
        from vidprov.backbones.weights import INSTALL, BackboneWeightsError

        raise BackboneWeightsError(f"EfficientNet-Lite needs efficientnet-lite-pytorch==0.1.0: {INSTALL}") from exc
    net = EfficientNet.from_name("efficientnet-lite0")
    state = torch.load(weight_path("efficientnet_lite0"), map_location="cpu", weights_only=True)
    net.load_state_dict(state)
    blocks = nn.ModuleList(_EfficientNetBlock(b) for b in net._blocks)
    return StageFeatures("efficientnet_lite0", _EfficientNetStem(net), blocks, STAGES["efficientnet_lite0"])


def build(name: str) -> StageFeatures:
    builders = {"mobilenet_v2": _mobilenet_v2, "efficientnet_lite0": _efficientnet_lite0}
    return builders[name]()


_MEMO: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
_MEMO_SIZE = 20_000  # frame stacks; ~12 kB of statistics each
_memo_lock = threading.Lock()
_memo_users = 0


@contextmanager
def remembered_statistics():
    """Inside this block stage_statistics remembers its results by frame content, so benchmark folds
    and cross-validation that see a clip again do not run the networks again. Outside it (scanning,
    a long-lived server) nothing is kept."""
    global _memo_users
    with _memo_lock:
        _memo_users += 1
    try:
        yield
    finally:
        with _memo_lock:
            _memo_users -= 1
            if _memo_users == 0:
                _MEMO.clear()


def stage_statistics(net: StageFeatures, frames: np.ndarray, *, batch: int = 16) -> np.ndarray:
    """uint8 (T, H, W, 3) -> (T, 2 * sum(C_k)) float32: per frame and stage, every channel's
    spatial mean then spatial standard deviation (remembered inside remembered_statistics())."""
    if not _memo_users:
        return _run_stages(net, frames, batch)
    key = (net.name, hashlib.sha1(np.ascontiguousarray(frames).view(np.uint8).ravel()).hexdigest())
    with _memo_lock:
        if key in _MEMO:
            _MEMO.move_to_end(key)
            return _MEMO[key]
    out = _run_stages(net, frames, batch)
    out.setflags(write=False)  # shared with later callers
    with _memo_lock:
        _MEMO[key] = out
        while len(_MEMO) > _MEMO_SIZE:
            _MEMO.popitem(last=False)
    return out


def _run_stages(net: StageFeatures, frames: np.ndarray, batch: int) -> np.ndarray:
    device = net.mean.device
    rows = []
    for i in range(0, len(frames), batch):
        x = torch.from_numpy(np.array(frames[i : i + batch])).to(device)  # a copy: decoded frames can be read-only
        x = x.permute(0, 3, 1, 2).float()
        feats = net(x)
        means = [f.mean(dim=(2, 3)) for f in feats]
        stds = [f.std(dim=(2, 3)) for f in feats]
        rows.append(torch.cat(means + stds, dim=1).float().cpu().numpy())
    return np.concatenate(rows, axis=0)
