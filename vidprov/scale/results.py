"""The Parquet output of a scan on Ray: a folder of part files, each written atomically.

Rows reach the driver as the pipeline produces them and are written in parts every `flush_rows`
rows or `flush_s` seconds, so an interrupted run (SIGINT, or SIGKILL of the driver) keeps every part
already written, and a re-run skips what those parts hold. `pandas.read_parquet(folder)` reads them
all as one table (files starting with '.' or '_' are ignored by Arrow, which keeps temp files out).
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from vidprov.atomic import atomic_write, remove_stale_temps
from vidprov.errors import VidprovError

log = logging.getLogger(__name__)

SEGMENT = pa.struct([("start_s", pa.float64()), ("end_s", pa.float64()), ("p_generated", pa.float64())])

# What the single-process scan reports, one row per input item; drivers and provenance are JSON text
# because their keys vary from model to model and from layer to layer.
SCHEMA = pa.schema([
    ("item", pa.int64()),
    ("path", pa.string()),
    ("content_sha256", pa.string()),
    ("size_bytes", pa.int64()),
    ("p_generated", pa.float64()),
    ("verdict", pa.string()),
    ("threshold", pa.float64()),
    ("real_below", pa.float64()),
    ("segments", pa.list_(SEGMENT)),
    ("drivers", pa.string()),
    ("evidence", pa.list_(pa.string())),
    ("analysed_s", pa.float64()),
    ("duration_s", pa.float64()),
    ("analysed_fraction", pa.float64()),
    ("provenance", pa.string()),
    ("provenance_verdict", pa.string()),
    ("error", pa.string()),
    ("detector", pa.string()),
    ("vidprov_version", pa.string()),
    ("elapsed_s", pa.float64()),
])

PART_PREFIX = "part-"


class OutputError(VidprovError):
    """The output folder cannot be used (a file is in the way, a part file is unreadable)."""


def check_out(out: str | os.PathLike) -> Path:
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out}: exists and is not a folder of Parquet parts; choose another --out")
    return out


def part_files(out: str | os.PathLike) -> list[Path]:
    out = Path(out)
    return sorted(out.glob(f"{PART_PREFIX}*.parquet")) if out.is_dir() else []


def done_items(out: str | os.PathLike) -> dict[str, str]:
    """path -> content hash of every row already written ('' for a path that could not be read)."""
    done: dict[str, str] = {}
    for f in part_files(out):
        try:
            table = pq.read_table(f, columns=["path", "content_sha256"])
        except (pa.ArrowException, OSError) as exc:
            raise OutputError(f"{f}: unreadable part file ({exc}); move it away and re-run") from exc
        for path, sha in zip(table.column("path").to_pylist(), table.column("content_sha256").to_pylist(), strict=True):
            done[path] = sha or ""
    return done


class PartWriter:
    """Buffer rows and write them as atomic Parquet part files."""

    def __init__(self, out: str | os.PathLike, *, flush_rows: int = 256, flush_s: float = 30.0):
        self.out = check_out(out)
        self.out.mkdir(parents=True, exist_ok=True)
        # part files a killed driver was writing (atomic_write's temp names; pid-aware, so a live run's stay)
        remove_stale_temps(self.out)
        self.flush_rows, self.flush_s = max(1, flush_rows), flush_s
        self.run = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
        self.rows: list[dict[str, Any]] = []
        self.parts = 0
        self.written = 0
        self._last = time.monotonic()

    def add(self, rows: Iterable[dict[str, Any]]) -> None:
        self.rows.extend(rows)
        if len(self.rows) >= self.flush_rows or time.monotonic() - self._last >= self.flush_s:
            self.flush()

    def flush(self) -> None:
        self._last = time.monotonic()
        if not self.rows:
            return
        table = pa.Table.from_pylist(self.rows, schema=SCHEMA)
        path = self.out / f"{PART_PREFIX}{self.run}-{self.parts:06d}.parquet"
        atomic_write(path, lambda tmp: pq.write_table(table, tmp))
        self.parts += 1
        self.written += len(self.rows)
        self.rows = []
