"""Which items of the paths a user names get scanned: every video-named entry of a directory and
every entry that is not a plain file or folder, so nothing is dropped without a row.

Shared by `vidprov scan` and anything else that walks upload folders. vidprov's own temporary
files (see vidprov.atomic.is_temp_name) are never listed: they are half-written outputs, not clips.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from vidprov.atomic import is_temp_name
from vidprov.manifest import VIDEO_SUFFIXES

log = logging.getLogger(__name__)


def _listed(entry: os.DirEntry) -> bool:
    """Video-named entries of any kind, and FIFOs, devices, sockets and broken links of any name
    (reading them says what they are instead of silently skipping them)."""
    if is_temp_name(entry.name):
        return False
    if Path(entry.name).suffix.lower() in VIDEO_SUFFIXES:
        return True
    try:
        mode = entry.stat(follow_symlinks=True).st_mode
    except FileNotFoundError:
        return entry.is_symlink()  # a broken link
    except OSError:
        return True
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def _walk(folder: Path, seen: set[tuple[int, int]]) -> list[Path]:
    try:
        st = folder.stat()
        if (st.st_dev, st.st_ino) in seen:  # a link back up the tree
            return []
        seen.add((st.st_dev, st.st_ino))
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as exc:
        log.warning("%s: cannot list (%s)", folder, exc)
        return [folder]
    out: list[Path] = []
    for e in entries:
        if is_temp_name(e.name):
            continue
        try:
            is_dir = e.is_dir(follow_symlinks=False)
        except OSError:
            is_dir = False
        if is_dir:
            out += _walk(Path(e.path), seen)
        elif _listed(e):
            out.append(Path(e.path))
    return out


def list_videos(paths: list[Path] | list[str]) -> list[Path]:
    """Files as given (whatever they are: reading them reports the problem); directories walked
    recursively, sorted, without following links to folders."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():  # a folder named on the command line is walked even through a link
            out += _walk(p, set())
        else:
            out.append(p)
    return out
