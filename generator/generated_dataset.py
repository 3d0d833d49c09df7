"""generate-dataset: many labelled synthetic clips (and optionally a matching real set) with a Manifest.

Resumable and atomic per clip: each clip's mp4 and JSON sidecar are written through temp files, and a
re-run skips every clip whose sidecar exists. The plan (which model, prompt, seed, steps, guidance for
clip i) is a pure function of the arguments, so a resumed run produces exactly the clips it would have.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from vidprov.atomic import remove_stale_temps_below
from vidprov.errors import VidprovError

log = logging.getLogger(__name__)


class DatasetSpecError(VidprovError):
    """Bad generate-dataset arguments (empty prompt file, unknown model, ...)."""


@dataclass(frozen=True)
class ClipPlan:
    index: int
    model: str
    prompt: str
    group: str
    seed: int
    steps: int
    guidance: float

    @property
    def stem(self) -> str:
        name = Path(self.model).name if self.model not in ("wan", "ltx") else self.model
        return f"generated/{name}/{self.index:05d}"


def read_prompts(path: str | os.PathLike | None) -> list[tuple[str, str]]:
    """(group, prompt) pairs: a file with one prompt per line, or 'group<TAB>prompt'; default captions.json."""
    if path is None:
        from vidprov.generator.training_data import load_captions

        return sorted((g, c) for g, c in load_captions().items())
    p = Path(path)
    if not p.exists():
        raise DatasetSpecError(f"{p}: prompt file not found")
    out = []
    for line in p.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        group, _, prompt = line.partition("\t") if "\t" in line else ("", "", line)
        out.append((group.strip() or f"prompt:{prompt.strip()}", prompt.strip()))
    if not out:
        raise DatasetSpecError(f"{p}: no prompts in the file")
    return out


def make_plan(n: int, models: list[str], steps: list[int], guidance: list[float], prompts: list[tuple[str, str]],
              seed: int = 0) -> list[ClipPlan]:
    if n < 1:
        raise DatasetSpecError(f"--n must be >= 1, got {n}")
    if not models or not steps or not guidance:
        raise DatasetSpecError("--models, --steps and --guidance need at least one value each")
    plan = []
    for i in range(n):
        group, prompt = prompts[i % len(prompts)]
        j = i // len(prompts)  # settings cycle slower than prompts, so every prompt meets every setting
        plan.append(ClipPlan(i, models[(i + j) % len(models)], prompt, group, seed + i, steps[j % len(steps)],
                             guidance[(j // len(steps)) % len(guidance)]))
    return plan


# write_clip(clip, out_mp4, *, mark, sign) -> sidecar dict: writes the mp4 and its JSON sidecar
# (vidprov.provenance.write_clip, which also marks and signs).
ClipWriter = Callable[..., dict]


def generate_item(item: ClipPlan, out: str | os.PathLike, *, write_clip: ClipWriter, device: str | None = None,
                  mark: bool = True, sign: bool = True) -> dict:
    """One clip of the plan into OUT (skipped when its mp4 and sidecar exist); returns its manifest row."""
    from vidprov.generator.video_generator import load

    out = Path(out)
    mp4 = out / f"{item.stem}.mp4"
    side = mp4.with_suffix(".json")
    if side.exists() and mp4.exists():
        meta = json.loads(side.read_text())
    else:
        gen = load(item.model, device=device)
        clip = gen(item.prompt, seed=item.seed, steps=item.steps, guidance=item.guidance)
        meta = write_clip(clip.replace(group=item.group), mp4, mark=mark, sign=sign)
    return {"path": str(mp4.relative_to(out)), "label": "generated", "generator": meta.get("generator", item.model),
            "group": f"{meta.get('generator', item.model)}/{item.group}", "prompt": item.prompt,
            "seed": item.seed, "steps": item.steps, "guidance": item.guidance,
            "checkpoint_hash": meta.get("checkpoint_hash", "")}


def write_manifest(out: str | os.PathLike, plan: list[ClipPlan], rows: list[dict], *, write_clip: ClipWriter,
                   real_manifest=None, progress: bool = True):
    """OUT/manifest.csv from the generated rows (in plan order) and, given real_manifest, the matching real set."""
    from vidprov.manifest import Manifest

    out = Path(out)
    rows = list(rows)
    if real_manifest is not None:
        rows += _matching_real(out, plan, real_manifest, write_clip, progress=progress)
    manifest = Manifest(pd.DataFrame(rows), root=out)
    manifest.write(out / "manifest.csv")
    return manifest


def generate_dataset(out: str | os.PathLike, plan: list[ClipPlan], *, write_clip: ClipWriter,
                     device: str | None = None, real_manifest=None, progress: bool = True, mark: bool = True,
                     sign: bool = True):
    """Run the plan into OUT (generated/<model>/NNNNN.mp4 + .json), then OUT/manifest.csv.

    Generated clips are written with write_clip(..., mark=mark, sign=sign); real ones plain."""
    from tqdm import tqdm

    if removed := remove_stale_temps_below(out):  # what a killed run was writing
        log.info("%s: removed %d temporary files left by an interrupted run", out, removed)
    rows = [generate_item(item, out, write_clip=write_clip, device=device, mark=mark, sign=sign)
            for item in tqdm(plan, desc="generating clips", unit="clip", disable=not progress)]
    return write_manifest(out, plan, rows, write_clip=write_clip, real_manifest=real_manifest, progress=progress)


def _matching_real(out: Path, plan: list[ClipPlan], manifest, write_clip: ClipWriter, *,
                   progress: bool) -> list[dict]:
    """One real clip per source group the prompts came from, normalised to the generated clips' format."""
    from tqdm import tqdm

    from vidprov.io import read_video
    from vidprov.normalize import normalize

    groups = sorted({p.group for p in plan})
    real = manifest.where(label="real")
    rows = []
    for g in tqdm(groups, desc="matching real clips", unit="group", disable=not progress):
        sub = real.where(group=g)
        if len(sub) == 0:
            continue
        row = next(iter(sub))
        mp4 = out / "real" / f"{g}.mp4"
        if not mp4.exists():
            # short side 256 while decoding: normalised to 64 px anyway, and a large clip stays within the decode limits
            clip = read_video(sub.abspath(row), max_frames=400, size=256)
            write_clip(normalize(clip, size=64, fps=8.0, num_frames=17, crf=None).replace(group=g), mp4,
                       mark=False, sign=False)
        rows.append({"path": str(mp4.relative_to(out)), "label": "real", "generator": "", "group": g,
                     "prompt": "", "seed": None, "steps": None, "guidance": None, "checkpoint_hash": ""})
    return rows
