"""Resumable training checkpoints: model, EMA, optimiser, step, history, CPU time and the config."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import torch

from vidprov.atomic import atomic_write


def save(path: str | os.PathLike, state: dict[str, Any]) -> Path:
    """torch.save to a temp file and rename, so a killed run never leaves a torn checkpoint."""
    return atomic_write(path, lambda tmp: torch.save(state, tmp), suffix=".pt.part")


def load(path: str | os.PathLike) -> dict[str, Any] | None:
    path = Path(path)
    if not path.exists():
        return None
    return torch.load(path, map_location="cpu", weights_only=False)


def start_run(cfg) -> tuple[Any, Path, dict[str, Any] | None]:
    """The set-up both training loops share: check the family, set torch threads, join the data-parallel
    group, create cfg.out; returns (the distributed context, the run folder, its checkpoint or None)."""
    from vidprov.generator import distributed
    from vidprov.generator.models import check_family

    check_family(cfg.family)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    dist = distributed.setup(cfg.device)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    return dist, out, load(out / "ckpt.pt")


def optimise(loss: torch.Tensor, opt: torch.optim.Optimizer, params, ema: EMA, model: torch.nn.Module) -> None:
    """One training step after the forward pass, as both loops take it: backward, clip the gradient norm
    to 1, step, update the EMA weights."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()
    ema.update(model)


class EMA:
    """Exponential moving average of a model's floating-point state (warm-started: early decay is low)."""

    def __init__(self, model: torch.nn.Module, decay: float = 0.999):
        self.decay = decay
        self.shadow = {k: v.detach().clone() for k, v in model.state_dict().items() if v.is_floating_point()}
        self.updates = 0

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for k, v in model.state_dict().items():
            if k in self.shadow:
                self.shadow[k].lerp_(v.detach(), 1 - d)

    def copy_to(self, model: torch.nn.Module) -> None:
        model.load_state_dict({**model.state_dict(), **self.shadow})

    def state_dict(self) -> dict[str, Any]:
        return {"decay": self.decay, "shadow": self.shadow, "updates": self.updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.decay, self.shadow, self.updates = state["decay"], state["shadow"], state["updates"]


class StopFlag:
    """Truthy once SIGTERM/SIGINT arrived: the training loop then ends cleanly and writes its checkpoint."""

    def __init__(self):
        self.stopped = False
        try:
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, self._handle)
        except ValueError:  # not the main thread (e.g. some test runners): rely on the time/step limits
            pass

    def _handle(self, signum, frame) -> None:
        self.stopped = True

    def __bool__(self) -> bool:
        return self.stopped
