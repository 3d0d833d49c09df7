"""Demo step: generate a few clips with each shipped generator family (mp4 + JSON sidecar) and a sample grid."""

from __future__ import annotations

import logging

from rich.table import Table

log = logging.getLogger(__name__)

PROMPTS = ["cars on a road from a static traffic camera", "a person signing with their hands",
           "people riding bikes on a street", "a white cockatoo bird moving its head"]


def demo_step(ctx) -> None:
    from vidprov.generator.video_generator import ModelNotFoundError, load
    from vidprov.generator.viz import save_grid
    from vidprov.provenance import write_clip

    out = ctx.out / "generated"
    per_family = 1 if ctx.quick else len(PROMPTS)
    table = Table("file", "model", "prompt", "seed", "steps", "s")
    rows, clips, paths, missing = [], [], [], []
    for family in ("wan", "ltx"):
        try:
            gen = load(family, device="cpu")
        except ModelNotFoundError as exc:
            missing.append(str(exc))
            continue
        for i in range(per_family):
            prompt = PROMPTS[(i + (family == "ltx")) % len(PROMPTS)]
            clip = gen(prompt, seed=i, steps=20, guidance=4.0)
            path = out / f"{family}_{i:02d}.mp4"
            write_clip(clip, path)
            paths.append(path)
            clips.append(clip.frames)
            row = [path.name, f"{family} ({clip.meta['checkpoint_hash']})", prompt, str(i), "20", f"{clip.meta['time_s']:.2f}"]
            rows.append(row)
            table.add_row(*row)
    ctx.show(table, f"{len(rows)} clips generated into {out}" + (f"; {len(missing)} families skipped" if missing else ""))
    ctx.state.setdefault("generated", []).extend(str(p) for p in paths)
    md = ["| file | model | prompt | seed | steps | s |", "|---|---|---|---|---|---|"]
    md += ["| " + " | ".join(r) + " |" for r in rows]
    if clips:
        save_grid(out / "samples.png", clips, scale=2)
        md += ["", "![generated samples](generated/samples.png)"]
    md += [f"- skipped: {m}" for m in missing]
    ctx.section("Generated clips", "\n".join(md))
