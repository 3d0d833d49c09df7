"""Manifest: a schema-checked table of labelled clips, stored as Parquet or CSV."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vidprov.atomic import atomic_write, is_temp_name
from vidprov.errors import VidprovError

log = logging.getLogger(__name__)

LABELS = ("real", "generated", "animation", "synthetic")
COLUMNS = ("path", "label", "generator", "group", "split", "prompt", "seed", "source_format")
VIDEO_SUFFIXES = (".mp4", ".mkv", ".avi", ".webm", ".mov", ".gif", ".m4v", ".mpg", ".mpeg", ".ts", ".flv", ".wmv")
DEFAULT_SHARED_MANIFEST = Path(
    os.environ.get("VIDPROV_DATA", Path(__file__).resolve().parent.parent.parent / "shared" / "data")
) / "MANIFEST.csv"


class ManifestError(VidprovError):
    """A manifest file or table breaks the schema."""


def source_format(path: str) -> str:
    """'gif' for palette GIFs, otherwise the container suffix; reports group results by this."""
    return Path(path).suffix.lower().lstrip(".") or "unknown"


class Manifest:
    """A table of clips: path, label, generator, group, split, prompt, seed, plus extra columns.

    Relative paths resolve against `root` (the folder of the manifest file).
    """

    def __init__(self, df: pd.DataFrame, root: str | os.PathLike | None = None):
        self.root = Path(root) if root is not None else Path.cwd()
        self.df = self._validate(df.copy())

    # -- schema -------------------------------------------------------------------------
    @staticmethod
    def _validate(df: pd.DataFrame) -> pd.DataFrame:
        for col in ("path", "label"):
            if col not in df.columns:
                raise ManifestError(f"manifest has no '{col}' column (columns: {', '.join(map(str, df.columns))})")
        df["path"] = df["path"].astype(str)
        df["label"] = df["label"].astype(str).str.strip().str.lower()
        bad = sorted(set(df["label"]) - set(LABELS))
        if bad:
            raise ManifestError(f"unknown labels {bad}; valid labels are {list(LABELS)}")
        for col in ("generator", "group", "split", "prompt"):
            if col not in df.columns:
                df[col] = ""
            df[col] = df[col].fillna("").astype(str)
        if "seed" not in df.columns:
            df["seed"] = pd.array([pd.NA] * len(df), dtype="Int64")
        else:
            df["seed"] = pd.to_numeric(df["seed"], errors="coerce").astype("Int64")
        if "source_format" not in df.columns:
            df["source_format"] = df["path"].map(source_format)
        empty_group = df["group"] == ""
        # A clip without a group is its own group: it can never leak across splits with another.
        df.loc[empty_group, "group"] = df.loc[empty_group, "path"]
        if df["path"].duplicated().any():
            dup = df.loc[df["path"].duplicated(), "path"].iloc[0]
            raise ManifestError(f"path listed twice in manifest: {dup}")
        return df.reset_index(drop=True)

    # -- io -----------------------------------------------------------------------------
    @classmethod
    def read(cls, path: str | os.PathLike) -> Manifest:
        path = Path(path)
        if not path.is_file():
            raise ManifestError(f"{path}: no such manifest file")
        try:
            if path.suffix.lower() == ".parquet":
                df = pd.read_parquet(path)
            else:
                df = pd.read_csv(path, dtype={"path": str, "file": str}, keep_default_na=False)
        except (ValueError, OSError, pd.errors.ParserError) as exc:
            raise ManifestError(f"{path}: not a readable manifest ({exc})") from exc
        if "file" in df.columns:
            # ../shared/data/MANIFEST.csv: 'file' is the clip, 'path' its path in the source repository.
            df = df.rename(columns={"path": "source_path"}).rename(columns={"file": "path"})
        return cls(df, root=path.parent)

    def write(self, path: str | os.PathLike) -> Path:
        """Atomic write; .parquet or .csv by suffix."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix.lower() == ".parquet":
            atomic_write(path, lambda tmp: self.df.to_parquet(tmp, index=False))
        else:
            atomic_write(path, lambda tmp: self.df.to_csv(tmp, index=False))
        return path

    @classmethod
    def from_shared(cls, path: str | os.PathLike | None = None) -> Manifest:
        """The data set in ../shared/data (MANIFEST.csv), read in place."""
        return cls.read(path or DEFAULT_SHARED_MANIFEST)

    @classmethod
    def from_folder(cls, folder: str | os.PathLike) -> Manifest:
        """Index a folder laid out as real/ and generated/<generator>/ (GenVideo-style).

        Other top-level folders named after a label (animation/, synthetic/) are taken too.
        Each file is its own group unless it sits in a sub-folder, which then is the group.
        """
        folder = Path(folder)
        if not folder.is_dir():
            raise ManifestError(f"{folder}: not a directory")
        rows = []
        for label_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
            label = {"fake": "generated", "ai": "generated"}.get(label_dir.name.lower(), label_dir.name.lower())
            if label not in LABELS:
                continue
            for f in sorted(label_dir.rglob("*")):
                if not f.is_file() or f.suffix.lower() not in VIDEO_SUFFIXES:
                    continue
                if any(is_temp_name(part) for part in f.relative_to(label_dir).parts):
                    continue  # a half-written output of an interrupted run
                rel = f.relative_to(label_dir)
                generator = rel.parts[0] if label == "generated" and len(rel.parts) > 1 else ""
                inner = rel.parts[1:-1] if generator else rel.parts[:-1]
                group = "/".join(p for p in (label, generator, *inner) if p) if inner else str(f.relative_to(folder))
                rows.append({"path": str(f.relative_to(folder)), "label": label, "generator": generator, "group": group})
        if not rows:
            raise ManifestError(f"{folder}: no videos found under real/ or generated/<generator>/")
        return cls(pd.DataFrame(rows), root=folder)

    # -- access -------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.df)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for row in self.df.to_dict("records"):
            yield row

    def __repr__(self) -> str:
        counts = self.df["label"].value_counts().to_dict()
        return f"Manifest({len(self)} clips, {counts}, root={self.root})"

    def abspath(self, path_or_row: str | dict) -> Path:
        p = Path(path_or_row["path"] if isinstance(path_or_row, dict) else path_or_row)
        return p if p.is_absolute() else self.root / p

    @property
    def paths(self) -> list[Path]:
        return [self.abspath(p) for p in self.df["path"]]

    def labels(self, positive: str = "generated") -> np.ndarray:
        """Binary targets: 1 for `positive`, 0 for everything else."""
        return (self.df["label"] == positive).to_numpy(dtype=np.int64)

    def subset(self, mask) -> Manifest:
        return Manifest(self.df[np.asarray(mask)], root=self.root)

    def where(self, **equals: Any) -> Manifest:
        mask = np.ones(len(self.df), bool)
        for col, value in equals.items():
            values = value if isinstance(value, (list, tuple, set)) else [value]
            mask &= self.df[col].isin(values).to_numpy()
        return self.subset(mask)

    def concat(self, other: Manifest) -> Manifest:
        """Join two manifests; paths become absolute so each keeps its own root."""
        a, b = self.df.copy(), other.df.copy()
        # resolve(): a manifest read through a relative path has a relative root.
        a["path"] = [str(self.abspath(p).resolve()) for p in a["path"]]
        b["path"] = [str(other.abspath(p).resolve()) for p in b["path"]]
        return Manifest(pd.concat([a, b], ignore_index=True), root="/")

    # -- splitting ----------------------------------------------------------------------
    def group_split(self, *, test_size: float = 0.25, val_size: float = 0.0, seed: int = 0) -> Manifest:
        """Assign split in {train, val, test} by group, stratified by each group's majority label.

        No group ever appears in two splits. Returns a new Manifest.
        """
        if not 0 < test_size < 1 or not 0 <= val_size < 1 or test_size + val_size >= 1:
            raise ValueError("test_size and val_size must be fractions with test_size + val_size < 1")
        df = self.df.copy()
        rng = np.random.default_rng(seed)
        sizes = df.groupby("group").size()
        majority = df.groupby("group")["label"].agg(lambda s: s.value_counts().index[0])
        split_of: dict[str, str] = {}
        for label in sorted(majority.unique()):
            groups = np.array(sorted(majority.index[majority == label]))
            rng.shuffle(groups)
            total = sizes[groups].sum()
            acc = 0
            for g in groups:
                frac = acc / total
                if frac < test_size:
                    split_of[g] = "test"
                elif frac < test_size + val_size:
                    split_of[g] = "val"
                else:
                    split_of[g] = "train"
                acc += sizes[g]
            if len(groups) >= 2:
                # every label with two or more groups is represented in both train and test
                if all(split_of[g] != "train" for g in groups):
                    split_of[groups[-1]] = "train"
                if all(split_of[g] != "test" for g in groups):
                    split_of[groups[0]] = "test"
        df["split"] = df["group"].map(split_of)
        return Manifest(df, root=self.root)

    def check_no_group_leak(self) -> None:
        per_group = self.df.groupby("group")["split"].nunique()
        leaked = per_group[per_group > 1]
        if len(leaked):
            raise ManifestError(f"groups in more than one split: {list(leaked.index[:5])}")
