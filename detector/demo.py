"""Demo step: scan real clips, generated clips (vidprov's own from the generator step, else the
shared data's), their H.264 CRF 35 re-encodes and the watermark step's signed files, and print
the verdict table."""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

from vidprov.errors import VidprovError
from vidprov.io import read_video, write_video
from vidprov.perturb import H264

log = logging.getLogger(__name__)


def _pick(ctx) -> list[tuple[str, Path]]:
    n = 2 if ctx.quick else 6
    items = [("real", Path(p)) for p in ctx.real_paths[:n]]
    generated = [Path(p) for p in ctx.state.get("generated", [])][:n]
    items += [("generated (vidprov)", p) for p in generated]
    if ctx.manifest is not None:
        df = ctx.manifest.df
        real = df[df["label"] == "real"].drop_duplicates("group").head(n)
        gen = df[df["label"] == "generated"].drop_duplicates("generator").head(n)
        hard = df[df["label"].isin(["animation", "synthetic"])].head(1 if ctx.quick else 3)
        items += [("real (shared)", ctx.manifest.abspath(p)) for p in real["path"]]
        items += [(f"generated ({g})", ctx.manifest.abspath(p)) for p, g in zip(gen["path"], gen["generator"], strict=True)]
        items += [(f"{lab} (shared)", ctx.manifest.abspath(p)) for p, lab in zip(hard["path"], hard["label"], strict=True)]
    items += [("signed (watermark step)", Path(p)) for p in ctx.state.get("signed", [])[:n]]
    return items


def _reencoded(items, folder: Path, quick: bool) -> list[tuple[str, Path]]:
    """CRF 35 copies of the first clips of each kind (first 6 s, short side 360): an upload's fate."""
    folder.mkdir(parents=True, exist_ok=True)
    out, seen = [], set()
    for kind, path in items:
        base = kind.split(" ")[0]
        if base in seen or base not in ("real", "generated"):
            continue
        seen.add(base)
        try:
            clip = H264(crf=35)(read_video(path, size=360, duration_s=6.0))
            out.append((f"{kind} + CRF 35", write_video(clip, folder / f"{Path(path).stem[:40]}_crf35.mp4", crf=10)))
        except VidprovError as exc:
            log.warning("cannot re-encode %s: %s", path, exc)
    return out


def demo_step(ctx) -> None:
    from vidprov.detector.cli import scan_table
    from vidprov.detector.persist import DetectorFileError
    from vidprov.provenance import Scanner

    try:
        scanner = Scanner(max_windows=4 if ctx.quick else 16)
    except DetectorFileError as exc:
        ctx.console.print(f"[yellow]detector: {exc}[/yellow]")
        ctx.section("Detector", f"Skipped: {exc}")
        return
    items = _pick(ctx)
    items += _reencoded(items, ctx.out / "detector", ctx.quick)
    reports, kinds = [], []
    for (kind, _path), rep in zip(items, scanner.scan_many([str(p) for _, p in items]), strict=True):
        reports.append(rep)
        kinds.append(kind)
    verdicts = Counter(r.verdict for r in reports)
    ctx.show(scan_table(reports, scanner.threshold),
             f"{len(reports)} clips scanned: " + ", ".join(f"{n} {v}" for v, n in verdicts.most_common()))
    ctx.state["scan_reports"] = [r.to_dict() for r in reports]
    # The second shipped model, trained with vidprov's own generators too, on the same clips.
    try:
        own = Scanner(model="with-vidprov", max_windows=4 if ctx.quick else 16, provenance=False)
        own_reports = list(own.scan_many([str(p) for _, p in items]))
    except DetectorFileError as exc:
        ctx.console.print(f"[yellow]detector with-vidprov: {exc}[/yellow]")
        own, own_reports = None, [None] * len(items)
    rows = ["| clip | kind | P(generated) | verdict | analysed | provenance | P(generated), with-vidprov model |",
            "|---|---|---|---|---|---|---|"]
    for kind, r, o in zip(kinds, reports, own_reports, strict=True):
        p = "-" if r.p_generated is None else f"{r.p_generated:.3f}"
        verdict = r.verdict if not r.error else f"error: {r.error}"
        p_own = "-" if o is None or o.p_generated is None else f"{o.p_generated:.3f} ({o.verdict})"
        rows.append(f"| {Path(r.path).name} | {kind} | {p} | {verdict} | {r.analysed_s:.1f}s | "
                    f"{r.provenance_verdict or ''} | {p_own} |")
        if o is not None and ctx.console.is_terminal:
            ctx.console.print(f"with-vidprov model: {Path(r.path).name} ({kind}): {p_own}")
    from vidprov.detector.scan import model_card

    target = model_card("default").get("target_fpr")
    fpr_note = f"{target:.0%} FPR on held-out real clips" if isinstance(target, (int, float)) else "from its model card"
    ctx.section("Detector: scan verdicts",
                f"Default detector, threshold {scanner.threshold:.3f} ({fpr_note}); "
                f"'likely real' below {scanner.real_below:.3f}. The last column is the second shipped model "
                "(`--model with-vidprov`), trained with vidprov's own generators as well"
                + (f" (threshold {own.threshold:.3f})" if own is not None else "") + ".\n\n" + "\n".join(rows))
