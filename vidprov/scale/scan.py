"""`scan_dataset`: the single-process Scanner's scan as a Ray Data pipeline.

items (Arrow blocks put by the driver as it lists) -> `check_files` tasks: stat, content hash, skip
what the output already holds, probe the container -> `ScoreActor` pool: each actor loads the detector
once and scans its clips with `Scanner.safe_scan` (decoding ahead on a second thread while it scores)
-> rows to the driver, written as Parquet parts. Every failure is a row with its reason, caught inside
the UDFs per row, so a bad file never fails a block; Ray retries the items of a worker that dies
(Ray Data restarts pool actors and retries their tasks by default).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import stat
import time
from collections.abc import Iterable
from typing import Any

import pyarrow as pa

from vidprov.errors import VidprovError
from vidprov.limits import DEFAULT_LIMITS, Limits
from vidprov.scale.cluster import connect
from vidprov.scale.inputs import item_blocks, iter_paths
from vidprov.scale.results import SCHEMA, PartWriter, check_out, done_items

log = logging.getLogger(__name__)

CHECKED = pa.schema([("item", pa.int64()), ("path", pa.string()), ("content_sha256", pa.string()),
                     ("size_bytes", pa.int64()), ("error", pa.string()), ("elapsed_s", pa.float64())])
_HASH_CHUNK = 1 << 20


def file_problem(path: str, limits: Limits) -> tuple[str | None, int | None]:
    """(one-line reason the path cannot be a video file, or None; its size). Never opens the file, so a
    FIFO or device cannot block the worker."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return (f"{path}: broken link" if os.path.islink(path) else f"{path}: no such file"), None
    except OSError as exc:
        return f"{path}: cannot be read ({exc.strerror or exc})", None
    if stat.S_ISDIR(st.st_mode):
        return f"{path}: is a directory, not a video file", None
    if not stat.S_ISREG(st.st_mode):
        return f"{path}: not a regular file", None
    if st.st_size == 0:
        return f"{path}: file is empty (0 bytes)", 0
    if st.st_size > limits.max_file_bytes:
        return f"{path}: {st.st_size} bytes exceeds the limit of {limits.max_file_bytes} bytes", st.st_size
    return None, st.st_size


def content_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_HASH_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def check_files(batch: pa.Table, limits: Limits = DEFAULT_LIMITS) -> pa.Table:
    """Per item: the reason it cannot be scanned, or its hash and size; items whose (path, hash) the output
    already holds are dropped. Runs as a Ray task; never raises for one bad item."""
    from vidprov.io import probe

    out = []
    for row in batch.to_pylist():
        t0 = time.perf_counter()
        path, done = row["path"], row["done_sha256"]
        sha = size = None
        try:
            error = row["name_error"]
            if error is None:
                error, size = file_problem(path, limits)
            if error is None:
                sha = content_sha256(path)
                if done == sha:
                    continue  # already in the output, unchanged
                probe(path, limits=limits)  # header check: a file no decoder can open never reaches the scorers
        except VidprovError as exc:
            error = str(exc)
        except OSError as exc:
            error = f"{path}: cannot be read ({exc.strerror or exc})"
        except Exception as exc:  # noqa: BLE001  (one odd file must not fail the block)
            error = f"{path}: {type(exc).__name__}: {exc}"
        if error is not None and sha is None and done == "":
            continue  # unreadable before too, and its row is already written
        out.append({"item": row["item"], "path": path, "content_sha256": sha, "size_bytes": size, "error": error,
                    "elapsed_s": time.perf_counter() - t0})
    return pa.Table.from_pylist(out, schema=CHECKED)


def report_row(report, checked: dict[str, Any], version: str) -> dict[str, Any]:
    """A ScanReport (vidprov.ScanReport) as an output row."""
    d = report.to_dict()
    return {
        "item": checked["item"], "path": checked["path"], "content_sha256": checked["content_sha256"],
        "size_bytes": checked["size_bytes"], "p_generated": d["p_generated"], "verdict": d["verdict"],
        "threshold": d["threshold"], "real_below": d["real_below"], "segments": d["segments"],
        "drivers": json.dumps(d["drivers"]), "evidence": d.get("evidence", []), "analysed_s": d["analysed_s"], "duration_s": d["duration_s"],
        "analysed_fraction": d["analysed_fraction"],
        "provenance": None if d["provenance"] is None else json.dumps(d["provenance"], default=str),
        "provenance_verdict": d["provenance_verdict"], "error": d["error"], "detector": d["detector"],
        "vidprov_version": version, "elapsed_s": d["elapsed_s"] + (checked["elapsed_s"] or 0.0),
    }


class ScoreActor:
    """One per pool slot: loads the detector once, scans the clips of each batch it is given."""

    def __init__(self, model: str | None, scanner_kwargs: dict[str, Any]):
        import vidprov

        self.scanner = vidprov.Scanner(model, **scanner_kwargs)
        self.version = vidprov.__version__

    def __call__(self, batch: pa.Table) -> pa.Table:
        from vidprov.detector.scan import ERROR, ScanReport

        rows = []
        for checked in batch.to_pylist():
            if checked["error"] is not None:
                rep = ScanReport(path=checked["path"], p_generated=None, verdict=ERROR, error=checked["error"],
                                 detector=self.scanner.name)
            else:
                try:
                    rep = self.scanner.safe_scan(checked["path"], name=checked["path"])
                except Exception as exc:  # noqa: BLE001  (safe_scan lets programming errors through; keep the row)
                    log.exception("scan of %s failed", checked["path"])
                    rep = ScanReport(path=checked["path"], p_generated=None, verdict=ERROR,
                                     error=f"{checked['path']}: {type(exc).__name__}: {exc}", detector=self.scanner.name)
            rows.append(report_row(rep, checked, self.version))
        return pa.Table.from_pylist(rows, schema=SCHEMA)


def build_dataset(inputs: Iterable[str | os.PathLike], *, model: str | os.PathLike | None = None,
                  workers: int | None = None, done: dict[str, str] | None = None, rows_per_block: int = 16,
                  limits: Limits = DEFAULT_LIMITS, num_gpus: float = 0.0, **scanner_kwargs: Any):
    """The lazy Ray Dataset of result rows (schema `vidprov.scale.results.SCHEMA`). Ray must be connected."""
    import ray
    from ray.data import ActorPoolStrategy, TaskPoolStrategy

    refs = [ray.put(t) for t in item_blocks(iter_paths(inputs), done or {}, rows_per_block)]
    if not refs:
        raise VidprovError("no inputs: the given folders, manifests and list files name no files")
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    cpus = int(ray.cluster_resources().get("CPU", 1))
    check_tasks = max(1, min(max(2, cpus), len(refs)))
    if workers is None:
        compute = ActorPoolStrategy(min_size=1, max_size=max(1, cpus))
    else:
        compute = ActorPoolStrategy(size=workers)
    model_arg = None if model is None else os.fspath(model)
    return (
        ray.data.from_arrow_refs(refs)
        # Hashing and a header parse wait on the disk more than the CPU. Reserving CPU for them would
        # deadlock a pool of one scorer per core (the scorers hold every CPU), so they reserve none and a
        # task pool caps how many run at once.
        .map_batches(check_files, batch_size=None, batch_format="pyarrow", fn_kwargs={"limits": limits},
                     num_cpus=0, compute=TaskPoolStrategy(size=check_tasks))
        .map_batches(ScoreActor, batch_size=None, batch_format="pyarrow", compute=compute,
                     fn_constructor_args=(model_arg, {**scanner_kwargs, "limits": limits}), num_cpus=1,
                     num_gpus=num_gpus)
    )


def scan_dataset(inputs: Iterable[str | os.PathLike] | str | os.PathLike, out: str | os.PathLike | None = None, *,
                 model: str | os.PathLike | None = None, address: str | None = None, workers: int | None = None,
                 rows_per_block: int = 16, flush_rows: int = 256, flush_s: float = 30.0,
                 limits: Limits = DEFAULT_LIMITS, num_gpus: float = 0.0, progress=None, **scanner_kwargs: Any):
    """Scan folders, manifests, list files or paths on Ray.

    out=None: return the lazy Ray Dataset of rows. out=FOLDER: run it, write Parquet parts there as rows
    arrive, skipping items whose (path, content hash) the folder already holds, and return
    (rows written now, rows already there). scanner_kwargs go to vidprov.Scanner in every actor
    (threshold, max_windows, provenance, device, ...). progress: called with each batch of rows as it arrives.
    """
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    connect(address)
    if out is None:
        return build_dataset(inputs, model=model, workers=workers, rows_per_block=rows_per_block, limits=limits,
                             num_gpus=num_gpus, **scanner_kwargs)
    out = check_out(out)
    done = done_items(out)
    ds = build_dataset(inputs, model=model, workers=workers, done=done, rows_per_block=rows_per_block, limits=limits,
                       num_gpus=num_gpus, **scanner_kwargs)
    writer = PartWriter(out, flush_rows=flush_rows, flush_s=flush_s)
    try:
        for batch in ds.iter_batches(batch_size=None, batch_format="pyarrow"):
            rows = batch.to_pylist()
            writer.add(rows)
            log.info("%d rows received (%d written)", writer.written + len(writer.rows), writer.written)
            if progress is not None:
                progress(rows)
    finally:  # also on KeyboardInterrupt: what arrived is kept
        writer.flush()
    log.info("%d rows written to %s (%d parts); %d were there already", writer.written, out, writer.parts, len(done))
    return writer.written, len(done)


def read_results(out: str | os.PathLike):
    """All rows of an output folder as a pandas DataFrame, in listing order."""
    import pandas as pd

    from vidprov.scale.results import part_files

    files = part_files(out)
    if not files:
        return pd.DataFrame({f.name: [] for f in SCHEMA})
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True).sort_values("item", kind="stable")


__all__ = ["scan_dataset", "build_dataset", "read_results", "check_files", "ScoreActor"]
