"""Perturbations on Clips: the degradations a video meets between a generator and a detector.

The one set of edits vidprov applies: benchmark robustness grids, watermark attacks and the
detectors' training augmentation all build theirs here. Each perturbation is a small frozen object;
calling it returns a new Clip and never edits the input. Randomness comes only from the seed, so the
same (clip, seed) gives the same output, with one exception: libx264 in this FFmpeg build is bit-exact
from run to run only at preset ultrafast, and H264 uses medium (the benchmarks' figures were measured
so), so its outputs vary by a fraction of the compression error itself:

    p = get("chain:crop_0.8+h264_crf30")     # build by name (unknown names list the valid ones)
    out = p(clip, seed=7)                     # seed: per clip, e.g. from its hash
    out.meta["perturbations"]                 # ['crop_0.8', 'h264_crf30']
    H264(crf=35)(clip); Chain([Resize(0.5), GaussianNoise(4.0)])(clip)
    draw("compress", rng)                     # a random upload distortion, for training augmentation

Names (the registry):  none | h264_crf<N> | resize_<scale> | crop_<fraction> | fps_half |
drop_<p> | blur_<sigma> | noise_<sigma in 8-bit levels> | brightness_<delta> | contrast_<factor> |
gain_<factor> | chain:<name>+<name>+...

Resize keeps the lower resolution (a platform serves the smaller file); benchmark protocols then
run vidprov.normalize, which brings every clip back to the detector's input size.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from vidprov.clip import Clip
from vidprov.errors import VidprovError
from vidprov.io import reencode


class UnknownPerturbationError(VidprovError, KeyError):
    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class Perturbation:
    """Base class: subclasses define `name` and `apply(clip, rng)`."""

    name: str = "perturbation"
    stochastic: bool = False  # True when the output depends on the seed

    def apply(self, clip: Clip, rng: np.random.Generator) -> Clip:
        raise NotImplementedError  # each perturbation defines its transform

    def __call__(self, clip: Clip, *, seed: int = 0) -> Clip:
        if not isinstance(clip, Clip):
            raise TypeError(f"{self.name} expects a Clip, got {type(clip).__name__}")
        out = self.apply(clip, np.random.default_rng(seed))
        # apply() keeps meta, so what it recorded itself (OneOf's choice) is kept too.
        return out.replace(perturbations=[*out.meta.get("perturbations", []), *self.parts()])

    def parts(self) -> list[str]:
        return [self.name] if self.name != "none" else []

    def __repr__(self) -> str:
        return f"<perturbation {self.name}>"


@dataclass(frozen=True, repr=False)
class Identity(Perturbation):
    name = "none"

    def apply(self, clip, rng):
        return clip


@dataclass(frozen=True, repr=False)
class H264(Perturbation):
    """A real libx264 encode/decode round-trip (PyAV, in memory) at a constant rate factor."""

    crf: int = 23

    def __post_init__(self):
        if not 0 <= self.crf <= 51:
            raise ValueError(f"H.264 crf must be in 0..51, got {self.crf}")

    @property
    def name(self):
        return f"h264_crf{self.crf}"

    def apply(self, clip, rng):
        return reencode(clip, crf=self.crf)


@dataclass(frozen=True, repr=False)
class Resize(Perturbation):
    """Downscale both sides by `scale` (area interpolation), at least 2x2 pixels."""

    scale: float = 0.5

    def __post_init__(self):
        if not 0 < self.scale <= 4:
            raise ValueError(f"resize scale must be in (0, 4], got {self.scale}")

    @property
    def name(self):
        return f"resize_{self.scale:g}"

    def apply(self, clip, rng):
        h, w = max(2, round(clip.height * self.scale)), max(2, round(clip.width * self.scale))
        interp = cv2.INTER_AREA if self.scale < 1 else cv2.INTER_CUBIC
        frames = np.stack([cv2.resize(f, (w, h), interpolation=interp) for f in clip.frames])
        return clip.replace(frames=frames)


@dataclass(frozen=True, repr=False)
class CenterCrop(Perturbation):
    """Keep the central `fraction` of each side (0.8: 64% of the area), as a re-framing would."""

    fraction: float = 0.8

    def __post_init__(self):
        if not 0 < self.fraction <= 1:
            raise ValueError(f"crop fraction must be in (0, 1], got {self.fraction}")

    @property
    def name(self):
        return f"crop_{self.fraction:g}"

    def apply(self, clip, rng):
        h, w = max(1, round(clip.height * self.fraction)), max(1, round(clip.width * self.fraction))
        y0, x0 = (clip.height - h) // 2, (clip.width - w) // 2
        return clip.replace(frames=np.ascontiguousarray(clip.frames[:, y0 : y0 + h, x0 : x0 + w]))


@dataclass(frozen=True, repr=False)
class Shift(Perturbation):
    """Move the picture `pixels` up and left (the first rows and columns are cut), as a re-upload's
    re-framing by a pixel does."""

    pixels: int = 1

    def __post_init__(self):
        if not 0 <= self.pixels <= 64:
            raise ValueError(f"shift must be 0-64 pixels, got {self.pixels}")

    @property
    def name(self):
        return f"shift_{self.pixels}"

    def apply(self, clip, rng):
        if self.pixels >= min(clip.height, clip.width):
            raise ValueError(f"shift_{self.pixels}: frames of {clip.width}x{clip.height} are too small")
        return clip.replace(frames=np.ascontiguousarray(clip.frames[:, self.pixels :, self.pixels :]))


@dataclass(frozen=True, repr=False)
class FpsHalve(Perturbation):
    """Keep every second frame and halve the frame rate (same duration, jerkier motion)."""

    name = "fps_half"

    def apply(self, clip, rng):
        if clip.num_frames < 2:
            return clip
        return clip.replace(frames=clip.frames[::2], fps=clip.fps / 2)


@dataclass(frozen=True, repr=False)
class FrameDrop(Perturbation):
    """Drop each frame with probability p (lost frames in a stream); fps is unchanged, so the
    clip gets shorter and motion skips. The first frame always survives."""

    p: float = 0.2
    stochastic = True

    def __post_init__(self):
        if not 0 <= self.p < 1:
            raise ValueError(f"frame drop probability must be in [0, 1), got {self.p}")

    @property
    def name(self):
        return f"drop_{self.p:g}"

    def apply(self, clip, rng):
        keep = rng.random(clip.num_frames) >= self.p
        keep[0] = True
        return clip.replace(frames=np.ascontiguousarray(clip.frames[keep]))


@dataclass(frozen=True, repr=False)
class GaussianBlur(Perturbation):
    sigma: float = 1.0

    def __post_init__(self):
        if not self.sigma > 0:
            raise ValueError(f"blur sigma must be > 0, got {self.sigma}")

    @property
    def name(self):
        return f"blur_{self.sigma:g}"

    def apply(self, clip, rng):
        frames = np.stack([cv2.GaussianBlur(f, (0, 0), sigmaX=self.sigma) for f in clip.frames])
        return clip.replace(frames=frames)


@dataclass(frozen=True, repr=False)
class GaussianNoise(Perturbation):
    """Additive i.i.d. Gaussian noise, sigma in 8-bit grey levels, clipped to [0, 255]."""

    sigma: float = 5.0
    stochastic = True

    def __post_init__(self):
        if not self.sigma >= 0:
            raise ValueError(f"noise sigma must be >= 0, got {self.sigma}")

    @property
    def name(self):
        return f"noise_{self.sigma:g}"

    def apply(self, clip, rng):
        noisy = clip.frames.astype(np.float32) + rng.normal(0, self.sigma, clip.frames.shape).astype(np.float32)
        return clip.replace(frames=np.clip(np.rint(noisy), 0, 255).astype(np.uint8))


@dataclass(frozen=True, repr=False)
class BrightnessContrast(Perturbation):
    """out = (x - 128) * contrast + 128 + brightness, clipped; brightness in 8-bit levels."""

    brightness: float = 0.0
    contrast: float = 1.0

    def __post_init__(self):
        if not self.contrast > 0:
            raise ValueError(f"contrast factor must be > 0, got {self.contrast}")

    @property
    def name(self):
        if self.contrast == 1:
            return f"brightness_{self.brightness:g}"
        if self.brightness == 0:
            return f"contrast_{self.contrast:g}"
        return f"bc_{self.brightness:g}_{self.contrast:g}"

    def apply(self, clip, rng):
        lut = np.clip(np.rint((np.arange(256) - 128.0) * self.contrast + 128 + self.brightness), 0, 255)
        return clip.replace(frames=lut.astype(np.uint8)[clip.frames])


@dataclass(frozen=True, repr=False)
class Gain(Perturbation):
    """out = x * factor, rounded and clipped: a brightness change that scales, as the watermark targets
    "brightness +-10%" name it (BrightnessContrast adds an offset instead)."""

    factor: float = 1.1

    def __post_init__(self):
        if not self.factor > 0:
            raise ValueError(f"gain factor must be > 0, got {self.factor}")

    @property
    def name(self):
        return f"gain_{self.factor:g}"

    def apply(self, clip, rng):
        lut = np.clip(np.rint(np.arange(256) * self.factor), 0, 255).astype(np.uint8)
        return clip.replace(frames=lut[clip.frames])


class Chain(Perturbation):
    """Apply perturbations in order; each step gets its own seed derived from the chain's."""

    def __init__(self, steps: Sequence[Perturbation]):
        if not steps:
            raise ValueError("Chain needs at least one perturbation")
        self.steps = tuple(steps)
        self.stochastic = any(s.stochastic for s in self.steps)

    @property
    def name(self):
        return "chain:" + "+".join(s.name for s in self.steps)

    def parts(self) -> list[str]:
        return [p for s in self.steps for p in s.parts()]

    def apply(self, clip, rng):
        for step in self.steps:
            clip = step.apply(clip, np.random.default_rng(rng.integers(2**63)))
        return clip

    def __eq__(self, other):
        return isinstance(other, Chain) and self.steps == other.steps

    def __hash__(self):
        return hash(self.steps)


class OneOf(Perturbation):
    """With probability p apply one of `choices` (uniformly), else nothing: training augmentation."""

    stochastic = True

    def __init__(self, choices: Sequence[Perturbation], p: float = 0.5):
        if not choices or not 0 <= p <= 1:
            raise ValueError("OneOf needs choices and 0 <= p <= 1")
        self.choices, self.p = tuple(choices), float(p)

    @property
    def name(self):
        return f"oneof({'|'.join(c.name for c in self.choices)};p={self.p:g})"

    def parts(self) -> list[str]:
        return []  # what was applied is recorded by apply, since it is only known then

    def apply(self, clip, rng):
        if rng.random() >= self.p:
            return clip
        choice = self.choices[int(rng.integers(len(self.choices)))]
        out = choice.apply(clip, np.random.default_rng(rng.integers(2**63)))
        return out.replace(perturbations=[*clip.meta.get("perturbations", []), *choice.parts()])


# -- registry by name --------------------------------------------------------------------------
_NUM = r"(\d+(?:\.\d+)?)"
_PATTERNS: list[tuple[str, str, Callable[..., Perturbation]]] = [
    (r"none", "none", lambda: Identity()),
    (r"h264_crf(\d+)", "h264_crf<0-51>", lambda v: H264(int(v))),
    (rf"resize_{_NUM}", "resize_<scale>", lambda v: Resize(float(v))),
    (rf"crop_{_NUM}", "crop_<fraction>", lambda v: CenterCrop(float(v))),
    (r"shift_(\d+)", "shift_<pixels>", lambda v: Shift(int(v))),
    (r"fps_half", "fps_half", lambda: FpsHalve()),
    (rf"drop_{_NUM}", "drop_<p>", lambda v: FrameDrop(float(v))),
    (rf"blur_{_NUM}", "blur_<sigma>", lambda v: GaussianBlur(float(v))),
    (rf"noise_{_NUM}", "noise_<sigma>", lambda v: GaussianNoise(float(v))),
    (r"brightness_(-?\d+(?:\.\d+)?)", "brightness_<delta>", lambda v: BrightnessContrast(brightness=float(v))),
    (rf"contrast_{_NUM}", "contrast_<factor>", lambda v: BrightnessContrast(contrast=float(v))),
    (rf"gain_{_NUM}", "gain_<factor>", lambda v: Gain(float(v))),
]

# The robustness grid of the benchmark (issue 5) and a short version for --quick runs.
ROBUSTNESS_GRID = (
    "none", "h264_crf23", "h264_crf30", "h264_crf35", "h264_crf40", "resize_0.5", "resize_0.25", "crop_0.8",
    "fps_half", "drop_0.25", "blur_1.5", "noise_8", "brightness_30", "contrast_0.7", "chain:crop_0.8+h264_crf30",
)
QUICK_GRID = ("none", "h264_crf23", "h264_crf40", "resize_0.5", "chain:crop_0.8+h264_crf30")

# The attacks of the watermark benchmark, a short version, and those after which a mark must still be
# detected at p < 1e-6 with TPR >= 0.99. RESCALE_CHAIN (a re-upload that rescales by 2% and moves a
# pixel) is measured and reported as the mark's limit, not a target.
RESCALE_CHAIN = "chain:resize_0.98+shift_1+h264_crf30"
WATERMARK_GRID = ("none", "h264_crf18", "h264_crf23", "h264_crf30", "h264_crf35", "h264_crf40", "resize_0.5",
                  "crop_0.8", "fps_half", "gain_1.1", "gain_0.9", "blur_1", "chain:crop_0.8+h264_crf30",
                  RESCALE_CHAIN)
WATERMARK_QUICK_GRID = ("none", "h264_crf23", "h264_crf30", "h264_crf40", "resize_0.5", "crop_0.8", "fps_half",
                        "gain_1.1", "gain_0.9", "blur_1", "chain:crop_0.8+h264_crf30", RESCALE_CHAIN)
WATERMARK_TARGETS = ("h264_crf40", "resize_0.5", "crop_0.8", "fps_half", "gain_1.1", "gain_0.9", "blur_1",
                     "chain:crop_0.8+h264_crf30")

# Training augmentation: the distortions uploads go through, with the ranges an upload platform applies.
AUGMENT_KINDS = ("compress", "resize", "crop")


def draw(kind: str, rng: np.random.Generator) -> Perturbation:
    """One random distortion of `kind` (see AUGMENT_KINDS)."""
    if kind == "compress":
        return H264(crf=int(rng.integers(28, 40)))
    if kind == "resize":
        return Resize(scale=float(rng.uniform(0.4, 0.8)))
    if kind == "crop":
        return CenterCrop(fraction=float(rng.uniform(0.6, 0.9)))
    raise ValueError(f"unknown augmentation {kind!r}; valid: {list(AUGMENT_KINDS)}")


def names() -> list[str]:
    """The name patterns `get` understands."""
    return [pattern for _, pattern, _ in _PATTERNS] + ["chain:<name>+<name>+..."]


def get(name: str | Perturbation) -> Perturbation:
    """Build a perturbation from its name (see module doc); a Perturbation passes through."""
    if isinstance(name, Perturbation):
        return name
    key = str(name).strip()
    if key.startswith("chain:"):
        parts = [p for p in key[len("chain:"):].split("+") if p]
        if not parts:
            raise UnknownPerturbationError(f"empty chain {name!r}; write chain:crop_0.8+h264_crf30")
        return Chain([get(p) for p in parts])
    for regex, _, build in _PATTERNS:
        m = re.fullmatch(regex, key)
        if m:
            try:
                return build(*m.groups())
            except ValueError as exc:
                raise UnknownPerturbationError(f"bad perturbation {name!r}: {exc}") from exc
    raise UnknownPerturbationError(f"unknown perturbation {name!r}; valid names: {', '.join(names())}")


def parse_list(spec: str | Sequence[str]) -> list[Perturbation]:
    """'none,h264_crf30,resize_0.5' (or a list of names) -> perturbations; 'grid' and 'quick'
    expand to ROBUSTNESS_GRID and QUICK_GRID."""
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    out: list[Perturbation] = []
    for item in (i.strip() for i in items):
        if item == "grid":
            out += [get(n) for n in ROBUSTNESS_GRID]
        elif item == "quick":
            out += [get(n) for n in QUICK_GRID]
        elif item:
            out.append(get(item))
    return out
