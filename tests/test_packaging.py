"""The wheel must carry every folder that is a package, under the one vidprov namespace."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
COMPONENTS = {"vidprov": "vidprov", "generator": "vidprov/generator", "detector": "vidprov/detector",
              "watermark": "vidprov/watermark", "app": "vidprov/app", "benchmarks": "vidprov/benchmarks"}


def test_wheel_contains_every_package(tmp_path):
    pytest.importorskip("setuptools")
    src = tmp_path / "src"
    # build from a copy so the build leaves nothing in the checkout
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".venv", ".git", "runs", "reports", "*.egg-info",
                                                             "build", "__pycache__", ".pytest_cache"))
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                        "-w", tmp_path / "dist", src], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    (wheel,) = (tmp_path / "dist").glob("vidprov-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = []
    for init in ROOT.rglob("__init__.py"):
        rel = init.parent.relative_to(ROOT)
        if rel.parts[0] not in COMPONENTS:
            continue
        expected.append("/".join([COMPONENTS[rel.parts[0]], *rel.parts[1:], "__init__.py"]))
    assert len(expected) >= len(COMPONENTS)
    missing = [e for e in expected if e not in names]
    assert not missing, f"packages missing from the wheel: {missing}"
    assert not any(n.startswith(("generator/", "detector/", "watermark/", "benchmarks/", "app/")) for n in names)


def test_no_bare_component_imports():
    """ruff's banned-api rule (pyproject) forbids `import generator` and friends; run it."""
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    r = subprocess.run([ruff, "check", "--select", "TID251", str(ROOT)], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
