"""What a scan on Ray reads: folders, manifests and list files, expanded lazily into work items.

An input is a folder (walked by the single-process scanner's own listing), a manifest (.csv or
.parquet with a `path` column), a list file (.txt, .lst, .list: one path per line, '#' comments),
or a single path (a video, or a missing or odd file that gets an error row). Items are handed to Ray
in small Arrow blocks as they are listed, so the driver never holds the listing.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import pyarrow as pa

LIST_SUFFIXES = (".txt", ".lst", ".list")
MANIFEST_SUFFIXES = (".csv", ".parquet")

ITEM_SCHEMA = pa.schema([("item", pa.int64()), ("path", pa.string()), ("done_sha256", pa.string()),
                         ("name_error", pa.string())])


def iter_paths(inputs: Iterable[str | os.PathLike]) -> Iterator[str]:
    """Every path the inputs name, in order; nothing is checked here (checks happen on the workers)."""
    for src in inputs:
        p = Path(src)
        if p.is_dir():
            # the scanner's own listing: the same files as `vidprov scan DIR`
            from vidprov.listing import list_videos

            for f in list_videos([p]):
                yield os.fspath(f)
        elif p.is_file() and p.suffix.lower() in MANIFEST_SUFFIXES:
            from vidprov.manifest import Manifest

            manifest = Manifest.read(p)
            for row in manifest:
                yield os.fspath(manifest.abspath(row))
        elif p.is_file() and p.suffix.lower() in LIST_SUFFIXES:
            yield from _list_file(p)
        else:
            yield os.fspath(p)


def _list_file(path: Path) -> Iterator[str]:
    base = path.parent
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            line = line.rstrip("\r\n")
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            yield os.fspath(base / line)  # an absolute line stays as it is; a relative one is relative to the list


def _utf8(path: str) -> tuple[str, str | None]:
    """Parquet strings are UTF-8: a name that is not (raw bytes from a foreign file system) gets an error row."""
    try:
        path.encode("utf-8")
        return path, None
    except UnicodeEncodeError:
        shown = path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        return shown, f"{shown}: file name is not valid UTF-8"


def item_blocks(paths: Iterable[str], done: dict[str, str], rows_per_block: int) -> Iterator[pa.Table]:
    """Arrow blocks of (item, path, done_sha256, name_error); done_sha256 is the hash of a row already
    written for that path (None when there is none), so workers can skip unchanged files."""
    batch: list[dict] = []
    for i, raw in enumerate(paths):
        path, name_error = _utf8(raw)
        batch.append({"item": i, "path": path, "done_sha256": done.get(path), "name_error": name_error})
        if len(batch) >= rows_per_block:
            yield pa.Table.from_pylist(batch, schema=ITEM_SCHEMA)
            batch = []
    if batch:
        yield pa.Table.from_pylist(batch, schema=ITEM_SCHEMA)
