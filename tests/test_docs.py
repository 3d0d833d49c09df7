"""The docs stay navigable and state the present: links resolve, no lab-notebook history, a short README."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SKIP_DIRS = {".git", ".venv", "reports", "runs", "build", "dist", "node_modules", ".pytest_cache"}
LINK = re.compile(r"\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6} (.*)$", re.M)
# The word "session" followed by a number (singular or plural, space or hyphen): the history of how the
# project was built, which git keeps.
SESSION_HISTORY = re.compile(r"\bsessions?[ -]\d", re.I)


def _project_files(*suffixes: str) -> list[Path]:
    out = []
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.endswith(".egg-info")]
        out += [Path(folder) / f for f in files if Path(f).suffix in suffixes]
    return sorted(out)


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_slug_matches_github_anchors():
    assert _slug("vidprov's own generators") == "vidprovs-own-generators"
    assert _slug("Tried and rejected (detector)") == "tried-and-rejected-detector"
    assert _slug("I/O") == "io"


MARKDOWN = _project_files(".md")


@pytest.mark.parametrize("md", MARKDOWN, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(md: Path):
    broken = []
    for link in LINK.findall(md.read_text(encoding="utf-8")):
        if re.match(r"^[a-z]+:", link):
            continue
        path, _, anchor = link.partition("#")
        target = (md.parent / path).resolve() if path else md
        if not target.exists():
            broken.append(f"{link}: no such file")
        elif anchor and target.suffix == ".md":
            anchors = {_slug(h) for h in HEADING.findall(target.read_text(encoding="utf-8"))}
            if anchor not in anchors:
                broken.append(f"{link}: no heading with that anchor")
    assert not broken, f"{md.relative_to(ROOT)}: " + "; ".join(broken)


def test_docs_and_cards_carry_no_session_history():
    hits = []
    for path in _project_files(".md", ".json"):
        for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if SESSION_HISTORY.search(line):
                hits.append(f"{path.relative_to(ROOT)}:{n}")
    assert not hits, "history belongs in git, not in docs: " + ", ".join(hits)


def test_readme_stays_short():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").count("\n")
    assert lines <= 200, f"README.md has {lines} lines; move detail into docs/"
