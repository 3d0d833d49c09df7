"""Latent (generation-time) watermark, Tree-Ring style, for flow-matching video generators.

Embedding: in the marked latent channels (all by default, see channels_for) of the initial noise
z_T (B, C, t, h, w), the low spatial frequencies (a disk of the 2-D DFT of every latent frame) get
the key's phases while keeping the seed's magnitudes. Over random keys the phases of white Gaussian noise are uniform anyway, so the
marked noise is still a valid N(0, I) draw, and the magnitudes keep each seed's sample its own
(Tree-Ring's fixed rings make every sample of a key share the same low frequencies).

Detection: encode the video with the generator's VAE, run the flow-matching Euler sampler
backwards (sigma 0 -> 1) with an empty prompt to recover an estimate of z_T, and test the phases
of the disk coefficients against the key's. Statistic: sum of cos(phase difference) over the M
independent coefficients, divided by sqrt(M / 2); under H0 (no mark of this key) the key's
phases are uniform and independent of the video, so it is N(0, 1) whatever the video: p = sf(z).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch
from scipy import stats

from vidprov.generator import DEFAULT_MODEL
from vidprov.watermark.keys import WatermarkKey, as_key

log = logging.getLogger(__name__)

RADIUS_FRACTION = 0.3  # disk radius as a fraction of the latent frame's short side (DC excluded)


def default_radius(h: int, w: int) -> float:
    return max(1.5, RADIUS_FRACTION * min(h, w))
DEFAULT_ALPHA = 1e-6


@dataclass
class LatentResult:
    detected: bool
    p_value: float
    z: float
    n_coefficients: int
    key_id: str

    def to_dict(self) -> dict:
        return asdict(self)


def disk_mask(h: int, w: int, radius: float | None = None) -> torch.Tensor:
    """Bool (h, w) mask of DFT indices with 0 < |k| <= radius (symmetric under k -> -k)."""
    radius = default_radius(h, w) if radius is None else radius
    ky = torch.fft.fftfreq(h, d=1.0 / h)
    kx = torch.fft.fftfreq(w, d=1.0 / w)
    r = torch.sqrt(ky[:, None] ** 2 + kx[None, :] ** 2)
    return (r > 0) & (r <= radius)


def _half(mask: torch.Tensor) -> torch.Tensor:
    """One of each conjugate pair inside mask (the independent coefficients); self-conjugate ones dropped."""
    h, w = mask.shape
    ky = torch.fft.fftfreq(h, d=1.0 / h)[:, None].expand(h, w)
    kx = torch.fft.fftfreq(w, d=1.0 / w)[None, :].expand(h, w)
    nyq = ((ky == -h / 2) | (ky == 0)) & ((kx == -w / 2) | (kx == 0))
    return mask & ((kx > 0) | ((kx == 0) & (ky > 0))) & ~nyq


def channels_for(channels: int, marked: int | None = None) -> list[int]:
    """The marked latent channels: the last `marked` ones (all when None). Tree-Ring marks one of SD's 4
    channels; the small VAEs here give 8x8 or 16x16 latent frames, so one channel holds only ~8-70
    independent low-frequency coefficients and the inverted noise's weak agreement with the key never
    adds up to a small p-value. Every channel is an independent N(0, 1) draw with uniform phases, so
    marking all of them keeps the noise a valid sample (it only moves the same-seed picture more)."""
    n = channels if marked is None else max(1, min(int(marked), channels))
    return list(range(channels - n, channels))


def key_pattern(key: WatermarkKey, shape: tuple[int, ...]) -> torch.Tensor:
    """DFT (..., h, w) complex of key-seeded N(0, 1) noise of that shape (e.g. (t, h, w) or (c, t, h, w))."""
    g = key.rng("latent-tree-ring").standard_normal(tuple(shape))
    return torch.fft.fft2(torch.from_numpy(g))


def _pattern(k: WatermarkKey, chans: list[int], t: int, h: int, w: int) -> torch.Tensor:
    # One channel keeps the (t, h, w) draw it always had, so single-channel marks made before stay readable.
    if len(chans) == 1:
        return key_pattern(k, (t, h, w))[None]
    return key_pattern(k, (len(chans), t, h, w))


def watermark_noise(noise: torch.Tensor, key, radius: float | None = None, channels: int | None = None) -> torch.Tensor:
    """Mark initial noise (B, C, t, h, w): the disk of the marked channels' spectra takes the key's phases."""
    k = as_key(key)
    b, c, t, h, w = noise.shape
    chans = channels_for(c, channels)
    mask = disk_mask(h, w, radius)
    pattern = _pattern(k, chans, t, h, w)  # n t h w
    spec = torch.fft.fft2(noise[:, chans].double())  # b n t h w
    keyed = spec.abs() * torch.exp(1j * torch.angle(pattern)).to(spec)[None]
    spec = torch.where(mask, keyed, spec)
    out = noise.clone()
    out[:, chans] = torch.fft.ifft2(spec).real.to(noise.dtype)
    return out


def test_noise(noise: torch.Tensor, key, *, radius: float | None = None, alpha: float = DEFAULT_ALPHA,
               channels: int | None = None) -> LatentResult:
    """Test recovered noise (B, C, t, h, w) (B = 1) for the key's pattern."""
    k = as_key(key)
    _, c, t, h, w = noise.shape
    chans = channels_for(c, channels)
    half = _half(disk_mask(h, w, radius))
    spec = torch.fft.fft2(noise[0, chans].double())[..., half]  # n t m
    ref = _pattern(k, chans, t, h, w)[..., half]
    phase = torch.angle(spec) - torch.angle(ref)
    m = phase.numel()
    z = float(torch.cos(phase).sum() / np.sqrt(m / 2.0))
    p = float(stats.norm.sf(z))
    return LatentResult(detected=p < alpha, p_value=p, z=z, n_coefficients=m, key_id=k.key_id)


VelocityFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (x (B,C,t,h,w), timestep (B,) in [0,1000]) -> v


@torch.no_grad()
def sample(noise: torch.Tensor, velocity: VelocityFn, sigmas: torch.Tensor) -> torch.Tensor:
    """Flow-matching Euler sampler: x(sigma=1) = noise -> x(sigma=0); v = noise - data."""
    x = noise
    for s, s_next in zip(sigmas[:-1], sigmas[1:], strict=True):
        x = x + (s_next - s) * velocity(x, torch.full((x.shape[0],), float(s) * 1000.0, device=x.device))
    return x


@torch.no_grad()
def invert(x0: torch.Tensor, velocity: VelocityFn, sigmas: torch.Tensor) -> torch.Tensor:
    """The same Euler steps run backwards (sigma 0 -> 1): an estimate of the initial noise."""
    rev = torch.flip(sigmas, dims=[0])
    x = x0
    for s, s_next in zip(rev[:-1], rev[1:], strict=True):
        # evaluate at the step's upper sigma, mirroring the sampler's (explicit) step
        x = x + (s_next - s) * velocity(x, torch.full((x.shape[0],), float(s_next) * 1000.0, device=x.device))
    return x


def default_sigmas(steps: int) -> torch.Tensor:
    """Sigmas 1 -> 0 in `steps` uniform steps (FlowMatchEulerDiscreteScheduler with shift 1)."""
    return torch.linspace(1.0, 0.0, steps + 1)


class GeneratorWatermark:
    """The latent watermark wired to a vidprov.generator VideoGenerator."""

    def __init__(self, generator, *, steps: int = 20, radius: float | None = None, channels: int | None = None):
        self.gen = generator
        self.steps = steps
        self.radius = radius
        self.channels = channels

    def sigmas(self) -> torch.Tensor:
        sched = self.gen.scheduler
        try:
            sched.set_timesteps(self.steps)
            s = torch.as_tensor(sched.sigmas, dtype=torch.float32).flatten()
            if s.numel() == self.steps + 1 and abs(float(s[0]) - 1.0) < 0.05:
                return s
        except (AttributeError, TypeError, ValueError):
            pass
        return default_sigmas(self.steps)

    def noise(self, key, seed: int, num_frames: int, size: int) -> torch.Tensor:
        return watermark_noise(self.gen.initial_noise(seed, num_frames, size, size), key, self.radius, self.channels)

    def generate(self, prompt: str, key, *, seed: int = 0, num_frames: int | None = None, size: int | None = None,
                 **kw):
        num_frames = int(num_frames or self.gen.settings["num_frames"])
        size = int(size or self.gen.settings["size"])
        clip = self.gen(prompt, seed=seed, num_frames=num_frames, size=size,
                        latents=self.noise(key, seed, num_frames, size), steps=self.steps, **kw)
        return clip.replace(latent_watermark_key_id=as_key(key).key_id)

    @torch.no_grad()
    def recover_noise(self, clip) -> torch.Tensor:
        emb, mask = self.gen.encode_prompt("")
        z0 = self.gen.encode_latents(clip).float().to(self.gen.device)
        if z0.ndim == 4:
            z0 = z0[None]

        def velocity(x, t):
            return self.gen.predict_velocity(x, t, emb, mask)

        return invert(z0, velocity, self.sigmas().to(z0.device)).cpu()

    def detect(self, clip, key, *, alpha: float = DEFAULT_ALPHA) -> LatentResult:
        return test_noise(self.recover_noise(clip), key, radius=self.radius, alpha=alpha, channels=self.channels)


def benchmark(model: str = DEFAULT_MODEL, *, pairs: int = 8, steps: int = 20, device: str | None = None,
              crf: int = 30, progress=None, channels: int | None = None) -> dict:
    """AUC of marked vs unmarked generations (same seeds), clean and after H.264 at crf, plus how much
    the mark changes the picture (PSNR between the two samples of one seed, temporal-difference change).
    Raises vidprov.generator.ModelNotFoundError when the generator's weights are not there."""
    from sklearn.metrics import roc_auc_score

    import vidprov
    from vidprov.generator import load

    gen = load(model, device=device)
    wm = GeneratorWatermark(gen, steps=steps, channels=channels)
    key = as_key("latent-benchmark-key")
    prompts = ["a car driving on a street", "a person walking", "waves on a beach", "a dog running in a park"]
    scores: dict[str, list[tuple[int, float]]] = {"clean": [], f"crf{crf}": []}
    psnrs, tdiff = [], []
    for i in range(pairs):
        prompt = prompts[i % len(prompts)]
        marked = wm.generate(prompt, key, seed=1000 + i)
        n, s = marked.num_frames, marked.height
        plain = gen(prompt, seed=1000 + i, num_frames=n, size=s, steps=steps)
        mse = np.mean((marked.frames.astype(float) - plain.frames.astype(float)) ** 2)
        psnrs.append(10 * np.log10(255**2 / max(mse, 1e-12)))
        tdiff.append(np.mean(np.abs(np.diff(marked.frames.astype(float), axis=0)))
                     - np.mean(np.abs(np.diff(plain.frames.astype(float), axis=0))))
        for label, clip in ((1, marked), (0, plain)):
            scores["clean"].append((label, wm.detect(clip, key).z))
            scores[f"crf{crf}"].append((label, wm.detect(vidprov.reencode(clip, crf=crf), key).z))
        if progress:
            progress(i)
    out = {"model": model, "pairs": pairs, "steps": steps, "channels": len(channels_for(gen.latent_shape(17, 64, 64)[0], channels)),
           "psnr_marked_vs_unmarked_db": float(np.mean(psnrs)),
           "temporal_diff_change": float(np.mean(tdiff))}
    for name, sc in scores.items():
        y, z = zip(*sc, strict=True)
        out[f"auc_{name}"] = float(roc_auc_score(y, z))
        out[f"tpr_p1e-3_{name}"] = float(np.mean([zz > stats.norm.isf(1e-3) for yy, zz in sc if yy == 1]))
    return out
