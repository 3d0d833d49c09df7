"""CLI: `vidprov mark embed|detect`, `vidprov sign`, `vidprov verify`, `vidprov bench watermark`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

console = Console()
mark = typer.Typer(help="Invisible pixel watermark: embed and detect.", no_args_is_help=True)

KeyOpt = Annotated[str | None, typer.Option("--key", "-k", help="Watermark key (default: your per-user key).")]


def _key(key: str | None):
    from vidprov.watermark.keys import as_key, default_key

    return as_key(key) if key else default_key()


@mark.command("embed")
def mark_embed(
    src: Annotated[Path, typer.Argument(help="Input video.")],
    out: Annotated[Path, typer.Argument(help="Marked output video (.mp4).")],
    key: KeyOpt = None,
    payload: Annotated[str | None, typer.Option(help="24-bit payload as up to 6 hex digits (default: the key id's first 6); the mark's other 40 bits bind it to the content and key.")] = None,
    psnr: Annotated[float, typer.Option(help="Strength, as the PSNR of the luma change (dB).")] = 42.5,
    crf: Annotated[int, typer.Option(help="H.264 CRF of the output.")] = 18,
    max_frames: Annotated[int | None, typer.Option(help="Mark only the first N frames.")] = None,
) -> None:
    """Embed a keyed 64-bit watermark in every frame's luma and write an H.264 mp4.

    Frames stream from the decoder through the embedder to the encoder, so memory holds a batch of
    frames, not the clip."""
    import time

    import vidprov
    from vidprov.atomic import remove_stale_temps
    from vidprov.watermark import pixel

    k = _key(key)
    info = vidprov.probe(src)
    frames = (f for _, f in vidprov.iter_frames(src, max_frames=max_frames))
    first = next(frames)
    word = pixel.word_for(first, k, payload)
    n = 0

    def marked():
        nonlocal n
        for batch in pixel.embed_frames(_prepend(first, frames), k, word, psnr_db=psnr):
            n += len(batch)
            yield from batch

    t0 = time.perf_counter()
    remove_stale_temps(out.parent)  # what an earlier, killed embed was writing there
    vidprov.write_frames(marked(), out, fps=info.fps, crf=crf)
    dt = time.perf_counter() - t0
    console.print(f"marked {n} frames ({n / dt:.0f} frames/s with decode and encode), key id {k.key_id}, "
                  f"payload {word[:3].hex()} (word {word.hex()}) -> {out}")


def _prepend(first, rest):
    yield first
    yield from rest


@mark.command("detect")
def mark_detect(
    src: Annotated[Path, typer.Argument(help="Video to test.")],
    key: KeyOpt = None,
    payload: Annotated[str | None, typer.Option(help="Expected payload: report bit accuracy against it.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    max_frames: Annotated[int | None, typer.Option(help="Read at most N frames.")] = 600,
) -> None:
    """Test a video for the watermark of a key: p-value, payload, bit accuracy, per-segment scores."""
    from vidprov.watermark import pixel

    r = pixel.detect_file(src, _key(key), expected_payload=payload, max_frames=max_frames)
    if as_json:
        print(json.dumps(r.to_dict(), indent=2))
        return
    verdict = {"bound": "[green]detected[/green] (bound to this content)",
               "copied": "[red]copied[/red]: a valid mark made for other content (or this one cropped/edited)",
               "unreadable": "[yellow]not a vidprov mark[/yellow]: a watermark-like signal, payload unreadable",
               }.get(r.status, "[yellow]not detected[/yellow]")
    console.print(f"{src}: {verdict}  p={r.p_value:.3g}  z={r.z:.2f}  payload={r.message or 'unreadable'}  "
                  f"bit accuracy={r.bit_accuracy:.3f} ({r.bit_accuracy_source})  block={r.block}px  "
                  f"shift={r.shift}  frames={r.num_frames} ({r.frames_analysed} analysed)")


def sign_cmd(
    src: Annotated[Path, typer.Argument(help="Video (mp4/mov) or keyframe (png/jpg) to sign.")],
    out: Annotated[Path, typer.Argument(help="Signed output, same format.")],
    model: Annotated[str, typer.Option(help="Model name for the manifest.")] = "",
    generator: Annotated[str, typer.Option(help="Generator name.")] = "vidprov",
    generator_version: Annotated[str, typer.Option(help="Generator version.")] = "",
    checkpoint_sha256: Annotated[str, typer.Option(help="Hash of the model checkpoint.")] = "",
    prompt: Annotated[str | None, typer.Option(help="Prompt (only its SHA-256 is stored).")] = None,
    seed: Annotated[int | None, typer.Option(help="Sampling seed.")] = None,
    key: Annotated[list[str] | None, typer.Option("--key", "-k", help="Watermark key to look for and bind (repeatable).")] = None,
    cert: Annotated[Path | None, typer.Option(help="Signer certificate chain PEM (default: local dev CA).")] = None,
    private_key: Annotated[Path | None, typer.Option(help="Signer private key PEM.")] = None,
    keyframe: Annotated[Path | None, typer.Option(help="Also save and sign the first frame here (.png/.jpg).")] = None,
) -> None:
    """Sign a file with Content Credentials (C2PA): created by a trained algorithm, with a soft binding
    to the vidprov watermark found in it (if any)."""
    from vidprov.provenance import IMAGE_SUFFIXES, detect_any
    from vidprov.watermark import credentials

    claims = credentials.Claims(generator=generator, generator_version=generator_version, model=model,
                                checkpoint_sha256=checkpoint_sha256, prompt=prompt, seed=seed)
    if src.suffix.lower() not in IMAGE_SUFFIXES and src.is_file():
        wm = detect_any(src, key or [])
        if wm is not None and wm.detected:
            claims.watermark_key_id, claims.watermark_payload = wm.key_id, wm.payload
    credentials.sign(src, out, claims, cert=cert, key=private_key)
    if keyframe is not None:
        credentials.sign_keyframe(src, keyframe, claims, cert=cert, key=private_key)
        console.print(f"signed keyframe -> {keyframe}")
    bound = f", soft-bound to watermark key id {claims.watermark_key_id}" if claims.watermark_key_id else ""
    console.print(f"signed {src} -> {out}{bound}")


def verify_cmd(
    src: Annotated[Path, typer.Argument(help="File to check.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    trust: Annotated[list[Path] | None, typer.Option("--trust", help="Extra trust anchor PEM (repeatable).")] = None,
    key: Annotated[list[str] | None, typer.Option("--key", "-k", help="Watermark key to test (repeatable).")] = None,
    max_frames: Annotated[int | None, typer.Option(help="Read at most N frames for the watermark.")] = 600,
    latent_model: Annotated[str, typer.Option(help="Generator whose latent watermark to test: auto (from the manifest), wan, ltx, none.")] = "auto",
) -> None:
    """Every provenance layer of a file: C2PA state, pixel watermark, latent watermark, and a finding."""
    from vidprov.provenance import verify

    report = verify(src, keys=key or [], trust=trust or [], max_frames=max_frames,
                    latent_model=None if latent_model == "none" else latent_model)
    if as_json:
        print(json.dumps(report.to_dict(), indent=2))
        return
    t = Table("layer", "result", title=str(src), show_lines=True)
    c = report.c2pa
    m = c.manifest or {}
    signer = (m.get("signer") or {}).get("common_name")
    t.add_row("C2PA", f"{c.state}" + (f"; actions {m.get('actions')}, source {m.get('digital_source_type')}, "
                                      f"signer {signer}" if m else "") + (f"\ncodes: {', '.join(c.codes[:6])}" if c.codes else ""))
    w = report.watermark
    t.add_row("pixel watermark", "no key to test" if w is None else
              f"{w.status if w.signal else 'not detected'}  p={w.p_value:.3g}  payload={w.message or '-'}  key id {w.key_id}")
    t.add_row("latent watermark", "n/a" if report.latent_watermark is None else json.dumps(report.latent_watermark))
    t.add_row("finding", f"[bold]{report.finding}[/bold]")
    console.print(t)


def bench_watermark(
    out: Annotated[Path, typer.Option("--out", help="Report folder.")] = Path("reports/bench_watermark"),
    quick: Annotated[bool, typer.Option("--quick/--full", help="Fewer clips, frames and attacks.")] = False,
    data: Annotated[Path | None, typer.Option(help="MANIFEST.csv of the shared data.")] = None,
    trials: Annotated[int, typer.Option(help="False-positive (unmarked clip, random key) trials.")] = 10_000,
    baseline: Annotated[bool, typer.Option("--baseline/--no-baseline", help="Run invisible-watermark dwtDctSvd too.")] = True,
    latent: Annotated[bool, typer.Option("--latent/--no-latent", help="Measure the latent watermark on the trained generator.")] = True,
) -> None:
    """All watermark targets on real clips: quality, robustness per attack, false positives, speed."""
    from vidprov.watermark.bench import run_bench

    run_bench(out=out, quick=quick, data=data, trials=trials, baseline=baseline, latent=latent, console=console)


def register(app: typer.Typer, bench: typer.Typer) -> None:
    app.add_typer(mark, name="mark")
    app.command("sign")(sign_cmd)
    app.command("verify")(verify_cmd)
    bench.command("watermark")(bench_watermark)
