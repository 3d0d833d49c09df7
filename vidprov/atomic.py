"""Atomic file writes: write to a temp file in the target folder, then rename into place, so a
crash or error never leaves a half-written file or destroys the previous one."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _current_umask() -> int:
    # Read once at import: os.umask can only be read by setting it, which would race with threads later.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


# Every temporary name vidprov makes starts with this: directory walks skip such names, and a writer
# removes the ones a killed process left behind (see remove_stale_temps).
TEMP_PREFIX = ".vidprov-tmp."


def is_temp_name(name: str) -> bool:
    """True for vidprov's temporary files and folders (half-written outputs, never results)."""
    return name.startswith(TEMP_PREFIX)


def temp_prefix(tag: str) -> str:
    # The writer's pid is part of the name, so a later writer can tell a crashed writer's leftovers
    # from a live one's.
    return f"{TEMP_PREFIX}{os.getpid()}.{tag}."


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temps(folder: str | os.PathLike) -> int:
    """Remove vidprov temp files and folders in folder whose writing process no longer runs (on this
    machine). Returns how many were removed."""
    import shutil

    removed = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    for e in entries:
        if not is_temp_name(e.name):
            continue
        pid_text = e.name[len(TEMP_PREFIX):].split(".", 1)[0]
        if not pid_text.isdigit() or _pid_alive(int(pid_text)):
            continue
        try:
            if e.is_dir(follow_symlinks=False):
                shutil.rmtree(e.path)
            else:
                os.unlink(e.path)
            removed += 1
        except OSError:
            pass
    return removed


def remove_stale_temps_below(root: str | os.PathLike) -> int:
    """remove_stale_temps in root and every (non-hidden) folder below it: what a resumed job calls on its
    output tree first. Returns how many were removed."""
    root = Path(root)
    if not root.is_dir():
        return 0
    removed = remove_stale_temps(root)
    for folder, dirs, _ in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for d in dirs:
            removed += remove_stale_temps(Path(folder) / d)
    return removed


def temp_dir(parent: str | os.PathLike, tag: str = "dir") -> tempfile.TemporaryDirectory:
    """A TemporaryDirectory inside parent under vidprov's temp name (stale ones there are removed first)."""
    Path(parent).mkdir(parents=True, exist_ok=True)
    remove_stale_temps(parent)
    return tempfile.TemporaryDirectory(dir=parent, prefix=temp_prefix(tag))


def atomic_write(path: str | os.PathLike, write: Callable[[str], Any], *, suffix: str = ".part") -> Path:
    """Call write(tmp_path), then rename tmp_path to path (parent folders are created).
    The temp file is removed on failure; one left by a killed writer is skipped by directory walks
    (is_temp_name) and removed by remove_stale_temps, which resumable jobs call on their folders. suffix: for writers that pick the
    format by the file name (np.savez appends .npz to other names, matplotlib/PIL read the image type from it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=temp_prefix(path.name), suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        # mkstemp creates 0600 files; give the result the mode a plain open() would (0666 minus the umask).
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    return atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def jsonable(o: Any) -> Any:
    """JSON form of what vidprov writes besides plain types: numpy scalars and arrays, tuples, dataclasses,
    paths. Anything else is an error, not silently a string."""
    import dataclasses

    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, tuple):
        return list(o)
    if dataclasses.is_dataclass(o) and not isinstance(o, type):
        return dataclasses.asdict(o)
    if isinstance(o, os.PathLike):
        return os.fspath(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def atomic_write_json(path: str | os.PathLike, obj: Any, *, sort_keys: bool = False) -> Path:
    """The one JSON writer: indented, numpy-aware (see jsonable), newline-terminated, atomic."""
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=sort_keys, default=jsonable) + "\n")
