"""Resumable training checkpoints: model, EMA, optimiser, step, history, CPU time and the config."""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from vidprov.atomic import atomic_write

log = logging.getLogger(__name__)


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


def restore(state: dict[str, Any], model: torch.nn.Module, ema: EMA, opt: torch.optim.Optimizer, *,
            fresh_optimizer_ok: bool = False) -> tuple[int, float, dict]:
    """Load a checkpoint's model, EMA and optimiser state; (step, cpu_s, history) to carry on from.
    fresh_optimizer_ok: an optimiser state that no longer fits (the set of trained parameters changed)
    is dropped with a warning instead of failing the resume."""
    model.load_state_dict(state["model"])
    ema.load_state_dict(state["ema"])
    try:
        opt.load_state_dict(state["optimizer"])
    except ValueError:
        if not fresh_optimizer_ok:
            raise
        log.warning("optimizer state does not match (frozen parts changed); starting it afresh")
    return state["step"], state["cpu_s"], state["history"]


class SaveClock:
    """A training run's CPU seconds (carried over from the checkpoint it resumed) and when it saves next:
    every `every_s` seconds of wall time, so that a killed run loses at most that much work."""

    def __init__(self, every_s: float, cpu_s: float = 0.0):
        self.every_s, self.cpu_s = every_s, cpu_s
        self.last_save, self.cpu0 = time.time(), time.process_time()

    def count(self) -> float:
        """Add the CPU seconds since the last count; the run's total."""
        now = time.process_time()
        self.cpu_s += now - self.cpu0
        self.cpu0 = now
        return self.cpu_s

    def save_if_due(self, save: Callable[[], None]) -> None:
        if time.time() - self.last_save > self.every_s:
            self.count()
            save()
            self.last_save = time.time()


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
