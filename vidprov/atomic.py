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


def atomic_write(path: str | os.PathLike, write: Callable[[str], Any], *, suffix: str = ".part") -> Path:
    """Call write(tmp_path), then rename tmp_path to path (parent folders are created).
    The temp file is removed on failure. suffix: for writers that pick the format by the file name
    (np.savez appends .npz to other names, matplotlib/PIL read the image type from it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
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
