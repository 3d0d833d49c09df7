"""Benchmark result folders: find them under one root and show their tables, figures and settings."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import streamlit as st

# The files `vidprov bench detector` and `vidprov bench watermark` write; a folder holding any of the
# first group is a run.
MARKERS = ("results.csv", "summary.csv", "report.md", "summary.md")
TABLES = ("summary.csv", "results.csv", "quality.csv")
MAX_ROWS = 500


def list_runs(root: Path, max_depth: int = 3) -> dict[str, Path]:
    """Run folders under root by their path relative to it (the only names a reader can pick)."""
    if not root.is_dir():
        return {}
    out = {}
    for marker in MARKERS:
        for f in root.rglob(marker):
            folder = f.parent.resolve()
            rel = folder.relative_to(root.resolve()) if folder.is_relative_to(root.resolve()) else None
            if rel is not None and len(rel.parts) <= max_depth and not f.is_symlink():
                out[str(rel) if rel.parts else "."] = folder
    return dict(sorted(out.items()))


def render(name: str, folder: Path) -> None:
    st.subheader(name)
    cfg = folder / "config.json"
    if cfg.is_file():
        try:
            meta = json.loads(cfg.read_text())
            if meta.get("command"):
                st.code(str(meta["command"]), language="bash")
            if meta.get("runtime_s") is not None:
                st.caption(f"runtime {meta['runtime_s']} s")
        except (ValueError, OSError):
            st.caption("config.json is unreadable")
    summary = folder / "summary.json"
    headline_table(folder)
    for table in TABLES:
        f = folder / table
        if f.is_file():
            try:
                df = pd.read_csv(f, nrows=MAX_ROWS)
            except (ValueError, OSError, pd.errors.ParserError) as exc:
                st.warning(f"{table}: cannot be read ({' '.join(str(exc).split())[:200]})")
                continue
            with st.expander(f"All rows of {table} ({len(df)}{'+' if len(df) == MAX_ROWS else ''})",
                             expanded=table == "summary.csv"):
                st.dataframe(df, width="stretch", hide_index=True)
    if summary.is_file() and not (folder / "summary.csv").is_file():
        st.json(json.loads(summary.read_text()), expanded=False)
    pngs = sorted(folder.glob("*.png"))
    for i in range(0, len(pngs), 2):
        for col, png in zip(st.columns(2), pngs[i:i + 2], strict=False):
            col.image(str(png), caption=png.stem.replace("_", " "), width="stretch")


def headline_table(folder: Path) -> None:
    """A detector run's summary (AUC, AP, EER, ... with 95% intervals per detector and protocol)."""
    f = folder / "results.parquet"
    if not f.is_file():
        return
    from vidprov.benchmarks.report import summary_table

    try:
        table = summary_table(pd.read_parquet(f))
    except (ValueError, KeyError, OSError) as exc:
        st.warning(f"results.parquet: no summary ({' '.join(str(exc).split())[:200]})")
        return
    if not table.empty:
        st.markdown("**Summary** (clean clips, video level; 95% bootstrap intervals)")
        st.dataframe(table, width="stretch", hide_index=True)
