"""VideoGenerator: text -> Clip with a latent spacetime diffusion model (shipped families or any diffusers pipeline).

Interface for other components (watermark inversion, detectors):

- `gen = VideoGenerator.load("wan" | "ltx" | PATH, device=None)`; `gen(prompt, seed=0, steps=20, guidance=4.0,
  num_frames=17, size=None, latents=None) -> Clip`. The same seed and settings give identical frames; the
  initial noise is drawn on the CPU from `torch.Generator().manual_seed(seed)` (see `initial_noise`), so it
  does not depend on the device. `latents=` replaces that noise: a normalised latent (1, C, t, h, w).
- The pieces a latent watermark needs (shipped families and any Wan/LTX pipeline folder):
  `gen.vae`, `gen.transformer`, `gen.scheduler` (FlowMatchEulerDiscreteScheduler),
  `gen.encode_prompt(prompt) -> (emb, mask)`, `gen.predict_velocity(latents, timestep, emb, mask)` with
  timestep (B,) on the 0-1000 scale (sigma * 1000) and velocity = noise - data,
  `gen.latent_shape(num_frames, height, width) -> (C, t, h, w)`, and `gen.encode_latents(clip)` /
  `gen.decode_latents(latents)` between pixels and normalised latents. Sampling integrates
  dx/dsigma = velocity from sigma=1 (noise) to 0 with the scheduler's Euler steps; inverting runs it back.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vidprov.clip import Clip
from vidprov.errors import VidprovError
from vidprov.generator import DEFAULT_MODEL, WEIGHTS_DIR, pipeline
from vidprov.generator.models import FAMILIES
from vidprov.vae import VAEHandle, decode_latents

log = logging.getLogger(__name__)

DEFAULTS = {"size": 64, "num_frames": 17, "fps": pipeline.FPS, "max_tokens": pipeline.MAX_TOKENS}


class ModelNotFoundError(VidprovError):
    """The requested model name or folder does not hold a loadable pipeline."""


class GenerationError(VidprovError):
    """Generation settings the model cannot honour (frame count, size, ...)."""


def resolve_model(model: str | Path) -> Path:
    """'wan' / 'ltx' -> the shipped weights folder; anything else must be a diffusers pipeline folder."""
    path = WEIGHTS_DIR / str(model) if str(model) in FAMILIES else Path(model)
    if not (path / "model_index.json").exists():
        if str(model) in FAMILIES:
            raise ModelNotFoundError(
                f"shipped weights for {model!r} are missing at {path}; train them with "
                f"`vidprov generator train-vae --family {model}` and `vidprov generator train --family {model}`")
        raise ModelNotFoundError(f"{model}: not 'wan', 'ltx' or a diffusers pipeline folder (no model_index.json)")
    return path


class _TextEncoderTypeNote(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Expected types for text_encoder")


@contextlib.contextmanager
def quiet_text_encoder_type_check():
    """WanPipeline annotates its text encoder as UMT5EncoderModel; vidprov's small wan text encoder is a
    T5EncoderModel (the same interface, one shared position bias instead of one per layer), which diffusers
    reports on every load. That one message is dropped while a pipeline loads."""
    logger = logging.getLogger("diffusers.pipelines.pipeline_utils")
    note = _TextEncoderTypeNote()
    logger.addFilter(note)
    try:
        yield
    finally:
        logger.removeFilter(note)


def checkpoint_hash(path: Path) -> str:
    """sha256 over the weight files (names and bytes), short: identifies exactly which weights made a clip."""
    h = hashlib.sha256()
    for f in sorted(path.rglob("*.safetensors")) + sorted(path.rglob("*.bin")):
        h.update(str(f.relative_to(path)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def cpu_has_native_bf16() -> bool:
    """oneDNN runs bfloat16 convolutions natively on this CPU (AVX512-BF16 or AMX)."""
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def _float_output(out):
    """A VAE decode result with its pixels back in float32 (autocast leaves them in bfloat16)."""
    if hasattr(out, "sample"):
        out.sample = out.sample.float()
        return out
    if isinstance(out, tuple):
        return (out[0].float(), *out[1:])
    return out.float()


class VideoGenerator:
    def __init__(self, pipe, *, name: str, path: Path | None = None, settings: dict | None = None,
                 decode_dtype: torch.dtype | None = None):
        self.pipe = pipe
        # The VAE decode under bfloat16 autocast: on CPUs with native bf16, PyTorch runs fp32 3D convolutions
        # on a slow fallback (LTX decode 0.26 s -> 0.05 s measured here; frames within one grey level).
        self.decode_dtype = decode_dtype
        self.name = name
        self.path = path
        self.family = pipeline.family_of(pipe)
        self.settings = {**DEFAULTS, **(settings or {})}
        self.checkpoint_hash = checkpoint_hash(path) if path else "unsaved"
        self.last_timing: dict[str, Any] = {}
        pipe.set_progress_bar_config(disable=True)

    # -- loading ------------------------------------------------------------------------
    @classmethod
    def load(cls, model: str | Path = DEFAULT_MODEL, *, device: str | torch.device | None = None,
             dtype: torch.dtype | None = None, compile: bool = False, decode_dtype: str | torch.dtype | None = "auto",
             torch_threads: int | None = 1) -> VideoGenerator:
        """decode_dtype: 'auto' decodes under bfloat16 autocast on CPUs with native bf16 when the model runs
        in float32; None always decodes in the model's dtype; or a torch dtype.

        torch_threads: on a CPU, torch's intra-op threads for the process (torch.set_num_threads), as
        vidprov.Scanner does; None leaves torch's setting alone (for large user models on many cores).
        The shipped models are too small for a second thread to pay, and on a busy CPU OpenMP threads
        waiting for each other made one 17-frame ltx clip take 2-36 s instead of 0.7 s."""
        from diffusers import DiffusionPipeline

        path = resolve_model(model)
        device = torch.device(device) if device else default_device()
        if dtype is None:
            dtype = torch.bfloat16 if device.type == "cuda" and path.parent != WEIGHTS_DIR else torch.float32
        try:
            # The dtype at load time (the shipped weights are float16 on disk): diffusers then keeps the
            # modules a model lists as float32-only in float32, which a later .to(dtype) would not.
            with quiet_text_encoder_type_check():
                pipe = DiffusionPipeline.from_pretrained(path, dtype=dtype)
        except (OSError, ValueError, KeyError) as exc:
            raise ModelNotFoundError(f"{path}: cannot load the pipeline ({exc})") from exc
        pipe.to(device=device)
        if device.type == "cpu" and torch_threads is not None:
            if torch_threads < 1:
                raise ValueError(f"torch_threads must be >= 1 or None, got {torch_threads}")
            torch.set_num_threads(torch_threads)
        if compile:
            pipe.transformer = torch.compile(pipe.transformer)
        if decode_dtype == "auto":
            decode_dtype = torch.bfloat16 if device.type == "cpu" and dtype == torch.float32 and cpu_has_native_bf16() else None
        sfile = path / "vidprov.json"
        settings = json.loads(sfile.read_text()) if sfile.exists() else {}
        return cls(pipe, name=str(model), path=path, settings=settings, decode_dtype=decode_dtype)

    def _decode_precision(self):
        if self.decode_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.decode_dtype)

    # -- components ---------------------------------------------------------------------
    @property
    def vae(self):
        return self.pipe.vae

    @property
    def transformer(self):
        return self.pipe.transformer

    @property
    def scheduler(self):
        return self.pipe.scheduler

    @property
    def text_encoder(self):
        return self.pipe.text_encoder

    @property
    def tokenizer(self):
        return self.pipe.tokenizer

    @property
    def device(self) -> torch.device:
        return self.pipe.transformer.device

    @property
    def fps(self) -> float:
        return float(self.settings["fps"])

    def _require_family(self) -> None:
        if self.family not in FAMILIES:
            raise GenerationError(f"{type(self.pipe).__name__}: latent access is only implemented for Wan and LTX pipelines")

    @torch.no_grad()
    def encode_prompt(self, prompt: str | list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        self._require_family()
        prompts = [prompt] if isinstance(prompt, str) else list(prompt)
        return pipeline.encode_prompt(self.pipe, prompts, device=self.device, max_tokens=int(self.settings["max_tokens"]))

    def predict_velocity(self, latents, timestep, emb, mask) -> torch.Tensor:
        self._require_family()
        t = torch.as_tensor(timestep, device=self.device, dtype=torch.float32).reshape(-1).expand(latents.shape[0])
        dt = self.transformer.dtype
        return pipeline.predict_velocity(self.pipe, latents.to(self.device, dt), t.to(dt), emb.to(dt), mask,
                                         fps=self.fps).float()

    def latent_shape(self, num_frames: int, height: int, width: int) -> tuple[int, int, int, int]:
        self._require_family()
        return pipeline.latent_shape(self.pipe, num_frames, height, width)

    def initial_noise(self, seed: int, num_frames: int, height: int, width: int) -> torch.Tensor:
        """The (1, C, t, h, w) noise __call__ starts from for this seed (drawn on the CPU)."""
        shape = (1, *self.latent_shape(num_frames, height, width))
        return torch.randn(shape, generator=torch.Generator("cpu").manual_seed(int(seed)), dtype=torch.float32)

    def encode_latents(self, clip: Clip) -> torch.Tensor:
        return VAEHandle(self.vae, self.family).encode(clip)

    def decode_latents(self, latents: torch.Tensor, fps: float | None = None) -> Clip:
        with self._decode_precision():
            return VAEHandle(self.vae, self.family, fps=fps or self.fps).decode(latents)

    # -- sampling -----------------------------------------------------------------------
    def _check(self, num_frames: int, size: int) -> None:
        if self.family == "wan" and (num_frames - 1) % 4:
            raise GenerationError(f"num_frames must be 4k+1 for the Wan VAE (e.g. 17), got {num_frames}")
        if self.family == "ltx" and (num_frames - 1) % 4:
            raise GenerationError(f"num_frames must be 4k+1 for the LTX VAE (e.g. 17), got {num_frames}")
        if size % 16 or size < 16:
            raise GenerationError(f"size must be a positive multiple of 16, got {size}")
        if num_frames < 1:
            raise GenerationError(f"num_frames must be >= 1, got {num_frames}")

    @contextlib.contextmanager
    def _timed(self):
        """Time text encoding, each transformer forward and the VAE decode with hooks (no pipeline edits)."""
        timing = {"text_encoder_s": 0.0, "transformer_s": [], "vae_decode_s": 0.0}
        sync = torch.cuda.synchronize if self.device.type == "cuda" else (lambda: None)
        starts: dict[str, float] = {}

        def pre(key):
            def hook(*_):
                sync()
                starts[key] = time.perf_counter()
            return hook

        def post(key):
            def hook(*_):
                sync()
                dt = time.perf_counter() - starts[key]
                if key == "transformer":
                    timing["transformer_s"].append(dt)
                else:
                    timing["text_encoder_s"] += dt
            return hook

        handles = [self.text_encoder.register_forward_pre_hook(pre("text")), self.text_encoder.register_forward_hook(post("text")),
                   self.transformer.register_forward_pre_hook(pre("transformer")),
                   self.transformer.register_forward_hook(post("transformer"))]
        vae = self.vae
        original = vae.decode

        def decode(*a, **k):
            sync()
            t0 = time.perf_counter()
            with self._decode_precision():
                out = _float_output(original(*a, **k))
            sync()
            timing["vae_decode_s"] += time.perf_counter() - t0
            return out

        vae.decode = decode
        try:
            yield timing
        finally:
            del vae.decode  # back to the class method
            for h in handles:
                h.remove()

    @torch.no_grad()
    def __call__(self, prompt: str, *, seed: int = 0, steps: int = 20, guidance: float = 4.0, num_frames: int | None = None,
                 size: int | None = None, negative_prompt: str = "", latents: torch.Tensor | None = None) -> Clip:
        if not isinstance(prompt, str):
            raise GenerationError(f"prompt must be a string, got {type(prompt).__name__}")
        if steps < 1:
            raise GenerationError(f"steps must be >= 1, got {steps}")
        num_frames = int(num_frames or self.settings["num_frames"])
        size = int(size or self.settings["size"])
        self._check(num_frames, size)
        kw: dict[str, Any] = {}
        if self.family in FAMILIES:
            noise = self.initial_noise(seed, num_frames, size, size) if latents is None else latents.float().cpu()
            expected = (1, *self.latent_shape(num_frames, size, size))
            if tuple(noise.shape) != expected:
                raise GenerationError(f"latents must have shape {expected}, got {tuple(noise.shape)}")
            noise = noise.to(self.device)
            if self.family == "ltx":
                tr = self.transformer.config
                noise = pipeline.pack_ltx_latents(noise, tr.patch_size, tr.patch_size_t)
                kw["frame_rate"] = int(round(self.fps))
            kw["latents"] = noise
            kw["max_sequence_length"] = int(self.settings["max_tokens"])
        elif latents is not None:
            kw["latents"] = latents.to(self.device)
        t0 = time.perf_counter()
        with self._timed() as timing:
            if self.family == "wan" and not getattr(self.pipe.config, "boundary_ratio", None):
                frames = self._sample_wan(prompt, negative_prompt, kw["latents"], steps, guidance)
            else:
                out = self.pipe(prompt=prompt, negative_prompt=negative_prompt, height=size, width=size,
                                num_frames=num_frames, num_inference_steps=steps, guidance_scale=guidance,
                                output_type="np", generator=torch.Generator("cpu").manual_seed(int(seed)), **kw)
                frames = out.frames[0]
        timing["total_s"] = time.perf_counter() - t0
        self.last_timing = timing
        frames = np.asarray(frames)
        frames = (frames * 255.0).round().clip(0, 255).astype(np.uint8)
        meta = {
            "label": "generated", "generator": f"vidprov-{self.family}" if self.family in FAMILIES else self.name,
            "model": self.name, "family": self.family, "checkpoint_hash": self.checkpoint_hash, "prompt": prompt,
            "negative_prompt": negative_prompt, "seed": int(seed), "steps": int(steps), "guidance": float(guidance),
            "scheduler": type(self.scheduler).__name__, "num_frames": num_frames, "size": size,
            "time_s": round(timing["total_s"], 4), "custom_latents": latents is not None,
            "vae_decode_dtype": str(self.decode_dtype or self.vae.dtype).replace("torch.", ""),
        }
        return Clip(frames, fps=self.fps, meta=meta)

    def _sample_wan(self, prompt: str, negative_prompt: str, latents: torch.Tensor, steps: int, guidance: float):
        """WanPipeline's Wan2.1 denoising loop with both guidance branches in ONE transformer call per step.

        WanPipeline runs the conditional and unconditional branch as two forwards; on a 2-core CPU a batch of
        two costs 23 ms against 2 x 17 ms for this transformer, ~0.2 s of a 0.6 s clip. Same scheduler,
        timesteps, latent normalisation and post-processing as the pipeline (tests compare the two).
        -> frames float (T, H, W, 3) in [0, 1].
        """
        pipe, tr = self.pipe, self.transformer
        cfg = guidance > 1.0
        emb, neg = pipe.encode_prompt(prompt=prompt, negative_prompt=negative_prompt, do_classifier_free_guidance=cfg,
                                      max_sequence_length=int(self.settings["max_tokens"]), device=self.device)
        cond = (torch.cat([emb, neg]) if cfg else emb).to(tr.dtype)
        pipe.scheduler.set_timesteps(steps, device=self.device)
        pipe.scheduler.set_begin_index(0)
        x = latents.to(self.device, torch.float32)
        for t in pipe.scheduler.timesteps:
            inp = x.to(tr.dtype)
            if cfg:
                inp = torch.cat([inp, inp])  # (2B, C, t, h, w): cond rows first, then uncond
            v = tr(hidden_states=inp, timestep=t.expand(inp.shape[0]), encoder_hidden_states=cond, return_dict=False)[0]
            if cfg:
                v_cond, v_uncond = v.chunk(2)
                v = v_uncond + guidance * (v_cond - v_uncond)
            x = pipe.scheduler.step(v, t, x, return_dict=False)[0]
        video = decode_latents(self.vae, "wan", x)
        return pipe.video_processor.postprocess_video(video, output_type="np")[0]


_LOADED: dict[tuple[str, str], VideoGenerator] = {}


def load(model: str | Path = DEFAULT_MODEL, *, device: str | None = None, **kw) -> VideoGenerator:
    """Load (and cache) a generator: 'wan', 'ltx' or a diffusers pipeline folder."""
    key = (str(model), str(device))
    if key not in _LOADED or kw:
        _LOADED[key] = VideoGenerator.load(model, device=device, **kw)
    return _LOADED[key]


def generate(prompt: str, model: str | Path = DEFAULT_MODEL, *, device: str | None = None, **kw) -> Clip:
    """One clip from a prompt: `vidprov.generator.generate("cars at night", model="ltx", seed=3)`."""
    return load(model, device=device)(prompt, **kw)
