"""generate-dataset: many labelled synthetic clips (and optionally a matching real set) with a Manifest.

Resumable and atomic per clip: each clip's mp4 and JSON sidecar are written through temp files, and a
re-run skips every clip whose sidecar exists. The plan (which model, prompt, seed, steps, guidance for
clip i) is a pure function of the arguments, so a resumed run produces exactly the clips it would have.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from vidprov.atomic import atomic_write_json as _atomic_json
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
        from vidprov.generator.data import load_captions

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


def write_clip(clip, out_mp4: Path, *, mark: bool = False, sign: bool = False) -> dict:
    """mp4 + JSON sidecar (metadata), both atomic; returns the sidecar's content.

    mark: embed vidprov's pixel watermark with the per-user default key; sign: attach a C2PA manifest
    (trainedAlgorithmicMedia, model, checkpoint hash, prompt hash, seed, and the watermark's soft binding).
    """

    from vidprov.io import write_video

    out_mp4.parent.mkdir(parents=True, exist_ok=True)
    extra = {}
    if mark:
        from vidprov.watermark.keys import default_key
        from vidprov.watermark.pixel import WatermarkError, embed

        key = default_key()
        try:
            clip = embed(clip, key, None)
            extra = {"watermark_key_id": key.key_id, "watermark_payload": clip.meta["watermark_payload"]}
        except WatermarkError as exc:  # frames smaller than the watermark's tile: sign only
            log.warning("%s: not watermarked (%s)", out_mp4.name, exc)
            mark = False
    if sign:
        from vidprov.watermark.credentials import Claims
        from vidprov.watermark.credentials import sign as c2pa_sign

        claims = Claims(model=str(clip.meta.get("model", "")), checkpoint_sha256=str(clip.meta.get("checkpoint_hash", "")),
                        prompt=clip.meta.get("prompt"), seed=clip.meta.get("seed"), **extra)
        with tempfile.TemporaryDirectory(dir=out_mp4.parent, prefix=".generate.") as tmp:
            plain = write_video(clip, Path(tmp) / "clip.mp4")
            c2pa_sign(plain, out_mp4, claims)  # atomic into place
    else:
        write_video(clip, out_mp4)
    meta = {k: v for k, v in clip.meta.items() if isinstance(v, (str, int, float, bool, type(None)))}
    meta.update(fps=clip.fps, frames=clip.num_frames, height=clip.height, width=clip.width, file=out_mp4.name,
                watermarked=mark, signed=sign)
    _atomic_json(out_mp4.with_suffix(".json"), meta)
    return meta
def generate_item(item: ClipPlan, out: str | os.PathLike, *, device: str | None = None, mark: bool = True,
                  sign: bool = True) -> dict:
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


def write_manifest(out: str | os.PathLike, plan: list[ClipPlan], rows: list[dict], *, real_manifest=None,
                   progress: bool = True):
    """OUT/manifest.csv from the generated rows (in plan order) and, given real_manifest, the matching real set."""
    from vidprov.manifest import Manifest

    out = Path(out)
    rows = list(rows)
    if real_manifest is not None:
        rows += _matching_real(out, plan, real_manifest, progress=progress)
    manifest = Manifest(pd.DataFrame(rows), root=out)
    manifest.write(out / "manifest.csv")
    return manifest


def generate_dataset(out: str | os.PathLike, plan: list[ClipPlan], *, device: str | None = None,
                     real_manifest=None, progress: bool = True, mark: bool = True, sign: bool = True):
    """Run the plan into OUT (generated/<model>/NNNNN.mp4 + .json), then OUT/manifest.csv."""
    from tqdm import tqdm

    rows = [generate_item(item, out, device=device, mark=mark, sign=sign)
            for item in tqdm(plan, desc="generating clips", unit="clip", disable=not progress)]
    return write_manifest(out, plan, rows, real_manifest=real_manifest, progress=progress)


def _matching_real(out: Path, plan: list[ClipPlan], manifest, *, progress: bool) -> list[dict]:
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
            clip = read_video(sub.abspath(row), max_frames=400)
            write_clip(normalize(clip, size=64, fps=8.0, num_frames=17, crf=None).replace(group=g), mp4)
        rows.append({"path": str(mp4.relative_to(out)), "label": "real", "generator": "", "group": g,
                     "prompt": "", "seed": None, "steps": None, "guidance": None, "checkpoint_hash": ""})
    return rows
