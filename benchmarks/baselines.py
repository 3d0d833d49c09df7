"""Baseline detectors that need no downloaded weights, built from their papers' ideas.

- "d3": training-free second-order temporal differences (idea of D3, Zheng et al. 2025: the
  "acceleration" of frame features is more volatile in camera video than in generated video).
  Frame features here are small grey thumbnails, because no pretrained encoder may be downloaded.
- "aeroblade": training-free autoencoder reconstruction error (idea of AEROBLADE, Ricker et al.
  2024: a latent-diffusion model's own VAE reconstructs that model's outputs better than real
  images), with vidprov's video VAE; error is mean absolute pixel error (no LPIPS weights here).
- "frame_cnn": a small timm CNN trained here from scratch on single frames; clip score = mean
  of frame probabilities.
- "saturation": a shortcut control (mean colour saturation), the number a real detector must beat.

The training-free ones still learn one thing in fit: a 1-D logistic calibration of their raw
score on the training clips, which also orients its sign. Learned state ends in '_'.
`tiny_kwargs()` (a classmethod) gives a seconds-fast configuration for contract tests.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import cv2
import numpy as np

import vidprov.generator  # noqa: F401  (registers the shipped VAE families that vae_family names)
from vidprov.clip import Clip
from vidprov.color import luma_u8
from vidprov.detector.base import ClipDetector
from vidprov.detector.persist import load_folder, save_folder
from vidprov.detector.registry import register
from vidprov.errors import VidprovError
from vidprov.vae import VAEHandle, load_vae

log = logging.getLogger(__name__)


class BaselineError(VidprovError):
    """A baseline cannot run as configured (no VAE, unfitted, bad input)."""


def _check_clips(clips: Sequence[Clip], y=None) -> None:
    if len(clips) == 0:
        raise BaselineError("no clips given")
    bad = [type(c).__name__ for c in clips if not isinstance(c, Clip)]
    if bad:
        raise BaselineError(f"detectors take vidprov.Clip objects, got {bad[0]}")
    if y is not None:
        y = np.asarray(y)
        if len(y) != len(clips):
            raise BaselineError(f"{len(clips)} clips but {len(y)} labels")
        if len(np.unique(y)) < 2:
            raise BaselineError("fit needs both classes (0 = real, 1 = generated) in y")


class _Calibrated1D(ClipDetector):
    """Shared by the training-free detectors: raw score -> P(generated) by a logistic fit."""

    def raw_scores(self, clips: Sequence[Clip]) -> np.ndarray:
        raise NotImplementedError  # the detector's training-free statistic, one per clip

    def fit(self, clips, y):
        from sklearn.linear_model import LogisticRegression

        _check_clips(clips, y)
        x = self.raw_scores(clips)
        self.raw_mean_, self.raw_std_ = float(x.mean()), float(x.std() + 1e-12)
        lr = LogisticRegression(C=10.0).fit(((x - self.raw_mean_) / self.raw_std_)[:, None], np.asarray(y))
        self.coef_, self.intercept_ = float(lr.coef_[0, 0]), float(lr.intercept_[0])
        return self

    def _calibrate(self, x: np.ndarray) -> np.ndarray:
        if not hasattr(self, "coef_"):
            raise BaselineError(f"{type(self).__name__} is not fitted; call fit(clips, y) first")
        z = self.coef_ * (x - self.raw_mean_) / self.raw_std_ + self.intercept_
        return 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))

    def predict_proba(self, clips):
        _check_clips(clips)
        p = self._calibrate(self.raw_scores(clips))
        return np.stack([1 - p, p], axis=1)

    def _fitted_state(self) -> dict:
        return {k: getattr(self, k) for k in ("raw_mean_", "raw_std_", "coef_", "intercept_")}

    def _set_state(self, state: dict) -> None:
        for k, v in state.items():
            setattr(self, k, float(v))


# -- D3-style second-order temporal differences -------------------------------------------------
def frame_features(clip: Clip, size: int = 32) -> np.ndarray:
    """(T, size*size) grey thumbnails in [0, 1]: a fixed, training-free frame embedding."""
    grey = [cv2.resize(f, (size, size), interpolation=cv2.INTER_AREA) for f in luma_u8(clip.frames)]
    return np.stack(grey).reshape(len(grey), -1).astype(np.float32) / 255.0


def second_order_volatility(features: np.ndarray) -> float:
    """Std over time of ||f[t+1] - 2 f[t] + f[t-1]||_2 (per-dimension RMS); 0 for < 4 frames."""
    if len(features) < 4:
        return 0.0
    acc = features[2:] - 2 * features[1:-1] + features[:-2]
    norms = np.sqrt(np.mean(acc**2, axis=1))
    return float(np.std(norms))


class SecondOrderTemporal(_Calibrated1D):
    """Training-free: volatility of second-order temporal differences of frame features.

    raw score = log(1e-4 + std_t ||Δ²f_t||); the logistic fit learns its sign on the train split.
    """

    version = "d3-1"

    def __init__(self, feature_size: int = 32):
        self.feature_size = feature_size

    @classmethod
    def tiny_kwargs(cls) -> dict:
        return {"feature_size": 8}

    def raw_scores(self, clips):
        return np.array([np.log(1e-4 + second_order_volatility(frame_features(c, self.feature_size)))
                         for c in clips])

    def save(self, folder) -> None:
        save_folder(folder, "d3", {"params": self.get_params(), "state": self._fitted_state()},
                    {"coef": np.array([self.coef_], np.float64)})

    @classmethod
    def load(cls, folder) -> SecondOrderTemporal:
        config, _ = load_folder(folder, "d3")
        det = cls(**config["params"])
        det._set_state(config["state"])
        return det


# -- shortcut control ----------------------------------------------------------------------------
class SaturationShortcut(_Calibrated1D):
    """Shortcut control, not a detector: mean HSV saturation of the clip. Generated clips in the
    shared data are more saturated (a style cue, AUC ~0.83 there); a detector that does not beat
    this number on the same split may be learning style rather than generation artefacts."""

    version = "saturation-1"

    def __init__(self, stride: int = 2):
        self.stride = stride

    @classmethod
    def tiny_kwargs(cls) -> dict:
        return {}

    def raw_scores(self, clips):
        return np.array([np.mean([cv2.cvtColor(f[:: self.stride, :: self.stride], cv2.COLOR_RGB2HSV)[..., 1].mean()
                                  for f in c.frames]) / 255.0 for c in clips])

    def save(self, folder) -> None:
        save_folder(folder, "saturation", {"params": self.get_params(), "state": self._fitted_state()},
                    {"coef": np.array([self.coef_], np.float64)})

    @classmethod
    def load(cls, folder) -> SaturationShortcut:
        config, _ = load_folder(folder, "saturation")
        det = cls(**config["params"])
        det._set_state(config["state"])
        return det


# -- AEROBLADE-style reconstruction error -------------------------------------------------------
def reconstruction_errors(clip: Clip, vae) -> np.ndarray:
    """Per-frame mean absolute error (in [0, 1]) between a clip and its VAE reconstruction."""
    target = clip
    rec = vae.reconstruct(clip)
    t = min(rec.num_frames, target.num_frames)
    h, w = min(rec.height, target.height), min(rec.width, target.width)
    diff = np.abs(rec.frames[:t, :h, :w].astype(np.float32) - target.frames[:t, :h, :w].astype(np.float32))
    return diff.reshape(t, -1).mean(axis=1) / 255.0


class ReconstructionError(_Calibrated1D):
    """Training-free: how well vidprov's VAE reconstructs the clip (lower error -> generated).

    vae: a vidprov.vae.VAEHandle (any object with reconstruct(clip) -> Clip); when None, the VAE of
    `vae_family` is loaded through vidprov.vae.load_vae at first use.
    raw score = log mean per-frame reconstruction error.
    """

    version = "aeroblade-1"

    def __init__(self, vae=None, vae_family: str = "ltx", device: str = "cpu"):
        self.vae = vae
        self.vae_family = vae_family
        self.device = device

    @classmethod
    def tiny_kwargs(cls) -> dict:
        return {"vae": VAEHandle(tiny_ltx_vae(seed=0).eval())}

    def vae_handle(self):
        """The VAE reconstructions are measured with: the given one, or the family's (loaded once)."""
        if self.vae is not None:
            return self.vae
        if getattr(self, "_loaded_vae", None) is None:
            try:
                self._loaded_vae = load_vae(self.vae_family, device=self.device)
            except VidprovError:
                raise
            except Exception as exc:  # missing weights: say which family and why, in one line
                raise BaselineError(f"aeroblade: vidprov VAE {self.vae_family!r} unavailable ({exc})") from exc
        return self._loaded_vae

    def frame_errors(self, clips) -> list[np.ndarray]:
        return [reconstruction_errors(c, self.vae_handle()) for c in clips]

    def raw_scores(self, clips):
        return np.array([np.log(1e-6 + e.mean()) for e in self.frame_errors(clips)])

    def frame_scores(self, clips) -> list[np.ndarray]:
        """Per-frame P(generated) with the clip-level calibration applied to each frame's error."""
        return self.predict_with_frames(clips)[1]

    def predict_with_frames(self, clips) -> tuple[np.ndarray, list[np.ndarray]]:
        """(predict_proba, frame_scores) from one pass of the VAE."""
        _check_clips(clips)
        errors = self.frame_errors(clips)
        p = self._calibrate(np.array([np.log(1e-6 + e.mean()) for e in errors]))
        return np.stack([1 - p, p], axis=1), [self._calibrate(np.log(1e-6 + e)) for e in errors]

    def save(self, folder) -> None:
        params = {k: v for k, v in self.get_params().items() if k != "vae"}
        tensors: dict[str, np.ndarray] = {"coef": np.array([self.coef_], np.float64)}
        config = {"params": params, "state": self._fitted_state(), "vae": None}
        model = getattr(self.vae, "vae", None)
        if self.vae is not None and model is None:
            raise BaselineError("aeroblade.save: the given VAE has no diffusers model (.vae) to store")
        if model is not None:
            # An explicitly given VAE travels with the detector (vidprov's are a few MB); a VAE loaded by
            # family name is fetched again by load().
            config["vae"] = {"class": type(model).__name__, "config": dict(model.config)}
            tensors.update({f"vae.{k}": v.detach().cpu().numpy() for k, v in model.state_dict().items()})
        save_folder(folder, "aeroblade", config, tensors)

    @classmethod
    def load(cls, folder) -> ReconstructionError:
        import diffusers
        import torch

        config, tensors = load_folder(folder, "aeroblade")
        vae = None
        if config.get("vae"):
            model_cls = getattr(diffusers, config["vae"]["class"])
            model = model_cls.from_config(config["vae"]["config"])
            model.load_state_dict({k[4:]: torch.from_numpy(v) for k, v in tensors.items() if k.startswith("vae.")})
            vae = VAEHandle(model.to(config["params"].get("device", "cpu")).eval())
        det = cls(vae=vae, **config["params"])
        det._set_state(config["state"])
        return det


def tiny_ltx_vae(seed: int = 0, channels: tuple[int, ...] = (8, 16), latent_channels: int = 4):
    """A randomly initialised, very small AutoencoderKLLTXVideo (8x spatial, 4x temporal) for tests
    and for running the aeroblade pipeline before vidprov's trained VAE exists."""
    import torch
    from diffusers import AutoencoderKLLTXVideo

    torch.manual_seed(seed)
    n = len(channels)
    lpb = (1,) * (n + 1)
    return AutoencoderKLLTXVideo(
        latent_channels=latent_channels, block_out_channels=channels, decoder_block_out_channels=channels,
        down_block_types=("LTXVideoDownBlock3D",) * n, layers_per_block=lpb, decoder_layers_per_block=lpb,
        spatio_temporal_scaling=(True,) * n, decoder_spatio_temporal_scaling=(True,) * n,
        decoder_inject_noise=(False,) * (n + 1), upsample_residual=(False,) * n, upsample_factor=(1,) * n,
        downsample_type=("conv",) * n, patch_size=2, patch_size_t=1,
    )


# -- frame-level CNN ----------------------------------------------------------------------------
def _sample_frames(clip: Clip, k: int, size: int, colour: bool = True) -> np.ndarray:
    """k evenly spaced frames resized to size x size: (k, size, size, 3) uint8; grey (luma in all three
    channels) when colour is False."""
    idx = np.unique(np.linspace(0, clip.num_frames - 1, min(k, clip.num_frames)).round().astype(int))
    frames = np.stack([cv2.resize(clip.frames[i], (size, size), interpolation=cv2.INTER_AREA) for i in idx])
    if not colour:
        grey = luma_u8(frames)
        frames = np.repeat(grey[..., None], 3, axis=-1)
    return frames


class FrameCNN(ClipDetector):
    """A timm CNN trained from scratch on single frames (BCE, class-balanced, random flips).

    Training stops after `epochs` or `max_train_seconds`, whichever comes first. Clip score =
    mean of its frames' probabilities; frame_scores gives the per-frame ones. `colour=False` feeds
    grey frames: a control for how much of the score is colour style (the shared data's generated
    clips are more saturated than its real ones).
    """

    version = "frame_cnn-1"

    def __init__(self, arch: str = "resnet10t", input_size: int = 64, frames_per_clip: int = 8,
                 epochs: int = 8, batch_size: int = 64, lr: float = 2e-3, weight_decay: float = 1e-4,
                 max_train_seconds: float = 150.0, colour: bool = True, device: str = "cpu", seed: int = 0):
        self.arch = arch
        self.input_size = input_size
        self.frames_per_clip = frames_per_clip
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.max_train_seconds = max_train_seconds
        self.colour = colour
        self.device = device
        self.seed = seed

    @classmethod
    def tiny_kwargs(cls) -> dict:
        return {"arch": "resnet10t", "input_size": 16, "frames_per_clip": 2, "epochs": 1, "batch_size": 8}

    def _build(self):
        import timm
        import torch

        torch.manual_seed(self.seed)
        return timm.create_model(self.arch, pretrained=False, num_classes=1).to(self.device)

    def _tensor(self, frames: np.ndarray):
        import torch

        # (N, H, W, C) uint8 -> (N, C, H, W) standardised
        x = torch.from_numpy(frames).to(self.device).permute(0, 3, 1, 2).float().div(127.5).sub(1)
        return x

    def fit(self, clips, y):
        import torch

        _check_clips(clips, y)
        y = np.asarray(y, np.float32)
        frames = [_sample_frames(c, self.frames_per_clip, self.input_size, self.colour) for c in clips]
        x_all = np.concatenate(frames)
        y_all = np.concatenate([np.full(len(f), lab, np.float32) for f, lab in zip(frames, y, strict=True)])
        model = self._build()
        opt = torch.optim.AdamW(model.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        pos_weight = torch.tensor([(y_all == 0).sum() / max(1, (y_all == 1).sum())], device=self.device)
        loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=pos_weight)
        rng = np.random.default_rng(self.seed)
        steps_per_epoch = max(1, int(np.ceil(len(x_all) / self.batch_size)))
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=self.lr, total_steps=self.epochs * steps_per_epoch)
        start, losses = time.monotonic(), []
        model.train()
        for epoch in range(self.epochs):
            order = rng.permutation(len(x_all))
            epoch_loss = []
            for i in range(0, len(order), self.batch_size):
                b = order[i : i + self.batch_size]
                xb = x_all[b]
                flip = rng.random(len(b)) < 0.5
                xb = np.where(flip[:, None, None, None], xb[:, :, ::-1], xb)
                logits = model(self._tensor(np.ascontiguousarray(xb)))[:, 0]
                loss = loss_fn(logits, torch.from_numpy(y_all[b]).to(self.device))
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
                epoch_loss.append(float(loss.detach()))
            losses.append(float(np.mean(epoch_loss)))
            log.info("frame_cnn epoch %d loss %.4f", epoch, losses[-1])
            if time.monotonic() - start > self.max_train_seconds:
                log.info("frame_cnn: stopping after %d epochs (time budget)", epoch + 1)
                break
        model.eval()
        self.model_ = model
        self.train_losses_ = losses
        return self

    def frame_scores(self, clips) -> list[np.ndarray]:
        import torch

        _check_clips(clips)
        if not hasattr(self, "model_"):
            raise BaselineError("FrameCNN is not fitted; call fit(clips, y) first")
        out = []
        with torch.no_grad():
            for c in clips:
                frames = _sample_frames(c, self.frames_per_clip, self.input_size, self.colour)
                out.append(torch.sigmoid(self.model_(self._tensor(frames))[:, 0]).cpu().numpy().astype(np.float64))
        return out

    def predict_proba(self, clips):
        return self.predict_with_frames(clips)[0]

    def predict_with_frames(self, clips) -> tuple[np.ndarray, list[np.ndarray]]:
        """(predict_proba, frame_scores) from one forward pass."""
        frames = self.frame_scores(clips)
        p = np.array([f.mean() for f in frames])
        return np.stack([1 - p, p], axis=1), frames

    def save(self, folder) -> None:
        tensors = {k: v.detach().cpu().numpy() for k, v in self.model_.state_dict().items()}
        save_folder(folder, "frame_cnn", {"params": self.get_params(), "train_losses": self.train_losses_}, tensors)

    @classmethod
    def load(cls, folder) -> FrameCNN:
        import torch

        config, tensors = load_folder(folder, "frame_cnn")
        det = cls(**config["params"])
        model = det._build()
        model.load_state_dict({k: torch.from_numpy(v) for k, v in tensors.items()})
        det.model_ = model.eval()
        det.train_losses_ = list(config["train_losses"])
        return det


# -- the ImageNet probe: the reference for pretrained appearance statistics -------------
class ImageNetProbe(ClipDetector):
    """Per-frame channel mean and std after three intermediate MobileNetV2 stages (1/4, 1/8 and
    1/16 resolution: 304 numbers), averaged over frames, standardised, PCA, logistic regression.
    Frames are resized (short side, centre crop) to `input_size` first."""

    STAGES = (0, 1, 3)  # of vidprov.backbones.imagenet.STAGES["mobilenet_v2"]: 24, 32 and 96 channels

    def __init__(self, input_size: int = 224, max_frames: int = 16, pca: int = 64, C: float = 0.1):
        self.input_size = input_size
        self.max_frames = max_frames
        self.pca = pca
        self.C = C

    @classmethod
    def tiny_kwargs(cls) -> dict:
        return {"input_size": 32, "max_frames": 2, "pca": 2}

    def features(self, clips) -> np.ndarray:
        from vidprov.backbones import create
        from vidprov.backbones.imagenet import CHANNELS, stage_statistics

        _check_clips(clips)
        if getattr(self, "_net", None) is None:
            self._net = create("mobilenet_v2")
        channels = CHANNELS["mobilenet_v2"]
        offsets = np.cumsum([0, *channels])
        keep = [np.arange(offsets[s], offsets[s + 1]) for s in self.STAGES]
        keep = np.concatenate(keep + [k + offsets[-1] for k in keep])
        rows = []
        for c in clips:
            idx = np.linspace(0, c.num_frames - 1, min(self.max_frames, c.num_frames)).round().astype(int)
            frames = np.stack([_square(f, self.input_size) for f in c.frames[idx]])
            rows.append(stage_statistics(self._net, frames)[:, keep].mean(axis=0))
        return np.stack(rows).astype(np.float64)

    def fit(self, clips, y):
        from sklearn.decomposition import PCA
        from sklearn.linear_model import LogisticRegression
        from sklearn.preprocessing import StandardScaler

        _check_clips(clips, y)
        x = self.features(clips)
        self.scaler_ = StandardScaler().fit(x)
        z = self.scaler_.transform(x)
        self.pca_ = PCA(min(self.pca, len(x) - 1, x.shape[1]), random_state=0).fit(z)
        self.head_ = LogisticRegression(C=self.C, max_iter=2000).fit(self.pca_.transform(z), np.asarray(y))
        return self

    def predict_proba(self, clips):
        if not hasattr(self, "head_"):
            raise BaselineError("ImageNetProbe is not fitted; call fit(clips, y) first")
        z = self.pca_.transform(self.scaler_.transform(self.features(clips)))
        return self.head_.predict_proba(z)

    def save(self, folder) -> None:
        tensors = {"mean": self.scaler_.mean_, "scale": self.scaler_.scale_, "pca_mean": self.pca_.mean_,
                   "components": self.pca_.components_, "coef": self.head_.coef_, "intercept": self.head_.intercept_}
        save_folder(folder, "imagenet_probe", {"params": self.get_params()}, tensors)

    @classmethod
    def load(cls, folder) -> ImageNetProbe:
        from sklearn.decomposition import PCA
        from sklearn.linear_model import LogisticRegression
        from sklearn.preprocessing import StandardScaler

        config, t = load_folder(folder, "imagenet_probe")
        det = cls(**config["params"])
        det.scaler_ = StandardScaler()
        det.scaler_.mean_, det.scaler_.scale_ = t["mean"], t["scale"]
        det.scaler_.var_, det.scaler_.n_features_in_ = t["scale"] ** 2, len(t["mean"])
        det.pca_ = PCA(len(t["components"]))
        det.pca_.mean_, det.pca_.components_ = t["pca_mean"], t["components"]
        det.pca_.n_features_in_ = len(t["pca_mean"])
        det.head_ = LogisticRegression()
        det.head_.coef_, det.head_.intercept_, det.head_.classes_ = t["coef"], t["intercept"], np.array([0, 1])
        return det


def _square(frame: np.ndarray, size: int) -> np.ndarray:
    """Short side to `size` (area resampling), centre crop to size x size."""
    h, w = frame.shape[:2]
    s = size / min(h, w)
    nh, nw = max(size, round(h * s)), max(size, round(w * s))
    f = cv2.resize(frame, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    y0, x0 = (nh - size) // 2, (nw - size) // 2
    return f[y0 : y0 + size, x0 : x0 + size]


BASELINES = {"d3": SecondOrderTemporal, "saturation": SaturationShortcut, "aeroblade": ReconstructionError,
             "frame_cnn": FrameCNN, "imagenet_probe": ImageNetProbe}


def register_baselines() -> None:
    """Make vidprov.detector.create build the baselines by name (repeated calls are harmless)."""
    for name, cls in BASELINES.items():
        register(name)(cls)
