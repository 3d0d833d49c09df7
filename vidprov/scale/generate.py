"""`generate-dataset --ray`: one clip per Ray task, the manifest gathered on the driver.

Each task runs `generate_item` (atomic mp4 + sidecar, skipped when both exist), so a re-run redoes only
unfinished clips. The driver rewrites OUT/manifest.csv with the rows finished so far as they arrive
(at most every `flush_s` seconds), so a crash leaves a manifest of every finished clip; at the end it is
written in plan order exactly as the single-process command writes it.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd

from vidprov.scale.cluster import connect

log = logging.getLogger(__name__)


def _generate_row(row: dict[str, Any], out: str, device: str | None, mark: bool, sign: bool) -> dict[str, Any]:
    from vidprov.generator.generated_dataset import ClipPlan, generate_item
    from vidprov.provenance import write_clip

    return generate_item(ClipPlan(**row), out, write_clip=write_clip, device=device, mark=mark, sign=sign)


def generate_dataset(out: str | os.PathLike, plan: list, *, device: str | None = None, real_manifest=None,
                     mark: bool = True, sign: bool = True, address: str | None = None, num_gpus: float = 0.0,
                     flush_s: float = 10.0, progress=None):
    """Run a generate-dataset plan (vidprov.generator.generated_dataset.make_plan) on Ray; returns the Manifest."""
    from vidprov.atomic import remove_stale_temps_below
    from vidprov.generator.generated_dataset import write_manifest
    from vidprov.manifest import Manifest
    from vidprov.provenance import write_clip

    ray = connect(address)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if removed := remove_stale_temps_below(out):  # what a killed run was writing
        log.info("%s: removed %d temporary files left by an interrupted run", out, removed)
    items = [asdict(p) for p in plan]
    ds = ray.data.from_items(items, override_num_blocks=len(items)).map(  # one block, hence one task, per clip
        _generate_row, fn_kwargs={"out": os.fspath(out.resolve()), "device": device, "mark": mark, "sign": sign},
        num_cpus=1, num_gpus=num_gpus)
    by_stem: dict[str, dict] = {}
    last = time.monotonic()
    for row in ds.iter_rows():
        by_stem[row["path"]] = row
        if progress is not None:
            progress(row)
        if time.monotonic() - last >= flush_s:
            Manifest(pd.DataFrame(list(by_stem.values())), root=out).write(out / "manifest.csv")
            last = time.monotonic()
    order = {f"{p.stem}.mp4": i for i, p in enumerate(plan)}
    rows = sorted(by_stem.values(), key=lambda r: order.get(r["path"], len(order)))
    return write_manifest(out, plan, rows, write_clip=write_clip, real_manifest=real_manifest,
                          progress=progress is None)
