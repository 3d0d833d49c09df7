"""The neural spacetime detector: a timm 2D backbone on (frame, frame difference, noise residual)
per time step, a temporal convolution over the per-frame embeddings, trained from scratch.

Input is luma only: colour saturation separates the shared data's classes by style (generated
clips are more saturated), which would not transfer to other generators, so the network never
sees colour.

Two views of a window: "crop" (random crop x crop patches at full resolution for training, the centre
crop for scoring: local artefacts such as upsampling and noise) and "global" (the whole window area-
downscaled to crop x crop: composition, blur and motion of the whole frame).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import cv2
import numpy as np

from vidprov.clip import Clip
from vidprov.color import luma
from vidprov.detector.exported_models import Platt
from vidprov.detector.persist import load_folder, save_folder
from vidprov.detector.registry import register
from vidprov.detector.weighting import balanced_weights
from vidprov.detector.window_detector import DETECTOR_WINDOW, TINY_WINDOW, WindowedDetector
from vidprov.detector.windows import WindowSpec

log = logging.getLogger(__name__)
VIEWS = ("crop", "global")


def _to_u8(y: np.ndarray) -> np.ndarray:
    """Float luma in [0, 1] -> uint8 (the network's input is stored and batched as uint8)."""
    return np.clip(y * 255 + 0.5, 0, 255).astype(np.uint8)


def build_net(arch: str, hidden: int):
    import timm
    import torch
    import torch.nn.functional as F
    from einops import rearrange
    from torch import nn

    class SpacetimeNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.backbone = timm.create_model(arch, pretrained=False, in_chans=3, num_classes=0)
            # Pooled output width differs from num_features for models with a head conv (MobileNetV3).
            width = getattr(self.backbone, "head_hidden_size", None) or self.backbone.num_features
            self.temporal = nn.Conv1d(width, hidden, kernel_size=3, padding=1)
            self.head = nn.Linear(2 * hidden, 1)

        def forward(self, y: torch.Tensor) -> torch.Tensor:
            """y: (B, 1, T, H, W) luma in [0, 1] -> (B,) logits of P(generated)."""
            prev, cur = y[:, :, :-1], y[:, :, 1:]
            blur = F.avg_pool3d(cur, (1, 3, 3), stride=1, padding=(0, 1, 1), count_include_pad=False)
            # (B, 3, T-1, H, W): the frame, its change since the last frame, its fine detail.
            x = torch.cat([cur - 0.5, 4.0 * (cur - prev), 8.0 * (cur - blur)], dim=1)
            b = x.shape[0]
            f = self.backbone(rearrange(x, "b c t h w -> (b t) c h w"))
            f = rearrange(f, "(b t) f -> b f t", b=b)
            z = F.gelu(self.temporal(f))  # (B, hidden, T-1)
            return self.head(torch.cat([z.mean(-1), z.amax(-1)], dim=1)).squeeze(1)

    return SpacetimeNet()


def _device(device: str | None) -> str:
    import torch

    return device or ("cuda" if torch.cuda.is_available() else "cpu")


@register("spacetime")
class SpacetimeDetector(WindowedDetector):
    """Trained on random crop x crop patches of train_frames consecutive frames; scored on the centre
    crop, in chunks of train_frames, averaging logits. Platt-calibrated on held-out groups.
    view="global" downscales the whole window to crop x crop instead of cutting patches."""

    def __init__(self, arch: str = "mobilenetv3_small_050", hidden: int = 64, crop: int = 96,
                 train_frames: int = 6, epochs: int = 6, batch_size: int = 8, lr: float = 2e-3,
                 weight_decay: float = 1e-2, calib_fraction: float = 0.2, view: str = "crop",
                 device: str | None = None,
                 window: WindowSpec = DETECTOR_WINDOW, seed: int = 0):
        self.arch = arch
        self.hidden = hidden
        self.crop = crop
        self.train_frames = train_frames
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.calib_fraction = calib_fraction
        if view not in VIEWS:
            raise ValueError(f"unknown spacetime view {view!r}; valid: {list(VIEWS)}")
        self.view = view
        self.device = device
        self.window = window
        self.seed = seed

    @classmethod
    def tiny_kwargs(cls) -> dict:
        """A seconds-fast configuration for contract tests."""
        return dict(arch="test_efficientnet", hidden=8, crop=32, train_frames=4, epochs=1, batch_size=4,
                    device="cpu", window=TINY_WINDOW)

    # -- data --------------------------------------------------------------------------
    @staticmethod
    def to_luma(windows: Sequence[Clip]) -> np.ndarray:
        """(N, T, H, W) uint8 luma of normalised windows (kept as uint8 to bound memory)."""
        return SpacetimeDetector.to_luma_frames([w.frames for w in windows])

    @staticmethod
    def to_luma_frames(frames) -> np.ndarray:
        """(N, T, H, W, 3) uint8 RGB windows -> (N, T, H, W) uint8 luma."""
        return np.stack([_to_u8(luma(f)) for f in frames])

    def _view(self, lum: np.ndarray) -> np.ndarray:
        """(N, T, H, W) uint8 luma as the network sees it: unchanged for "crop" (patches are cut later),
        area-downscaled to (N, T, crop, crop) for "global"."""
        if self.view == "crop" or lum.shape[-2:] == (self.crop, self.crop):
            return lum
        n, t, h, w = lum.shape
        flat = lum.reshape(n * t, h, w)
        small = np.stack([cv2.resize(f, (self.crop, self.crop), interpolation=cv2.INTER_AREA) for f in flat])
        return small.reshape(n, t, self.crop, self.crop)

    def _center(self, y: np.ndarray) -> np.ndarray:
        h, w = y.shape[-2:]
        c = min(self.crop, h, w)
        y0, x0 = (h - c) // 2, (w - c) // 2
        return y[..., y0 : y0 + c, x0 : x0 + c]

    # -- training ----------------------------------------------------------------------
    def fit(self, clips: Sequence[Clip], y, groups=None) -> SpacetimeDetector:
        y = self._check_fit_input(clips, y)
        groups = np.arange(len(clips)) if groups is None else np.asarray(groups)
        lum, yw, gw = [], [], []
        for clip, label, g in zip(clips, y, groups, strict=True):
            wins = [w.clip for w in self.clip_windows(clip)]
            lum.append(self.to_luma(wins))
            yw += [label] * len(wins)
            gw += [g] * len(wins)
        return self.fit_luma(np.concatenate(lum), np.array(yw), np.array(gw))

    def _split_calibration(self, y: np.ndarray, groups: np.ndarray) -> np.ndarray:
        """Boolean mask of windows held out for calibration: whole groups, both classes."""
        rng = np.random.default_rng(self.seed)
        held = np.zeros(len(y), bool)
        if min(len(np.unique(groups[y == c])) for c in (0, 1)) < 3:
            return held  # too few groups of a class to hold any out (calibration needs both): in-sample
        for c in (0, 1):
            gs = np.unique(groups[y == c])
            rng.shuffle(gs)
            k = max(1, int(round(self.calib_fraction * len(gs))))
            held |= np.isin(groups, gs[:k]) & (y == c)
        return held

    def fit_luma(self, lum: np.ndarray, y: np.ndarray, groups: np.ndarray, progress: bool = False) -> SpacetimeDetector:
        """Train on precomputed (N, T, H, W) uint8 luma windows."""
        import torch
        from tqdm import tqdm

        y, groups = np.asarray(y, np.int64), np.asarray(groups)
        lum = self._view(lum)
        held = self._split_calibration(y, groups)
        train = ~held if held.any() else np.ones(len(y), bool)
        dev = _device(self.device)
        torch.manual_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        net = build_net(self.arch, self.hidden).to(dev)
        opt = torch.optim.AdamW(net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        idx = np.flatnonzero(train)
        weights = balanced_weights(y[idx], groups[idx])
        steps_per_epoch = max(1, len(idx) // self.batch_size)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=self.lr, total_steps=self.epochs * steps_per_epoch)
        loss_fn = torch.nn.BCEWithLogitsLoss()
        t_len, c = min(self.train_frames, lum.shape[1]), min(self.crop, lum.shape[2], lum.shape[3])
        net.train()
        bar = tqdm(total=self.epochs * steps_per_epoch, desc="spacetime", disable=not progress)
        self.train_loss_ = []
        for _ in range(self.epochs):
            # Class- and group-balanced sampling with replacement.
            order = rng.choice(idx, size=steps_per_epoch * self.batch_size, p=weights / weights.sum())
            for s in range(steps_per_epoch):
                b = order[s * self.batch_size : (s + 1) * self.batch_size]
                batch = np.empty((len(b), t_len, c, c), np.uint8)
                for i, j in enumerate(b):
                    t0 = rng.integers(0, lum.shape[1] - t_len + 1)
                    y0, x0 = rng.integers(0, lum.shape[2] - c + 1), rng.integers(0, lum.shape[3] - c + 1)
                    patch = lum[j, t0 : t0 + t_len, y0 : y0 + c, x0 : x0 + c]
                    batch[i] = patch[..., ::-1] if rng.random() < 0.5 else patch
                x = torch.from_numpy(batch).to(dev, torch.float32).div_(255.0).unsqueeze(1)  # (B, 1, T, H, W)
                loss = loss_fn(net(x), torch.from_numpy(y[b]).to(dev, torch.float32))
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
                self.train_loss_.append(loss.item())
                bar.update(1)
                bar.set_postfix(loss=f"{np.mean(self.train_loss_[-20:]):.3f}")
        bar.close()
        self.net_ = net.eval()
        cal = held if held.any() else train
        self.calibrator_ = Platt.fit(self.raw_luma(lum[cal]), y[cal])
        self.calibration_windows_ = int(cal.sum())
        return self

    # -- scoring -----------------------------------------------------------------------
    def raw_luma(self, lum: np.ndarray, batch: int = 8) -> np.ndarray:
        import torch

        dev = next(self.net_.parameters()).device
        lum = self._center(self._view(lum))
        t_len = min(self.train_frames, lum.shape[1])
        starts = list(range(0, lum.shape[1] - t_len + 1, t_len)) or [0]
        out = []
        with torch.inference_mode():
            for i in range(0, len(lum), batch):
                x = torch.from_numpy(np.ascontiguousarray(lum[i : i + batch])).to(dev, torch.float32).div_(255.0)
                logits = torch.stack([self.net_(x[:, None, s : s + t_len]) for s in starts]).mean(0)
                out.append(logits.float().cpu().numpy())
        return np.concatenate(out)

    def window_proba(self, windows: Sequence[Clip], luma: Sequence[np.ndarray] | None = None) -> np.ndarray:
        lum = self.to_luma(windows) if luma is None else np.stack([_to_u8(y) for y in luma])
        return self.calibrator_(self.raw_luma(lum))

    # -- persistence -------------------------------------------------------------------
    def save(self, folder) -> None:
        tensors = {f"net.{k}": v.detach().cpu().numpy() for k, v in self.net_.state_dict().items()}
        params = self.saved_params()
        params["device"] = None  # a saved model picks its device where it is loaded
        save_folder(folder, "spacetime", {"params": params, "calibrator": self.calibrator_.json()}, tensors)

    @classmethod
    def load(cls, folder, device: str | None = None) -> SpacetimeDetector:
        import torch

        config, tensors = load_folder(folder, "spacetime")
        det = cls(**{**cls.params_from_saved(config["params"]), "device": device})
        net = build_net(det.arch, det.hidden)
        state = {k[len("net."):]: torch.from_numpy(v) for k, v in tensors.items() if k.startswith("net.")}
        net.load_state_dict(state)
        det.net_ = net.to(_device(device)).eval()
        det.calibrator_ = Platt(**config["calibrator"])
        return det
