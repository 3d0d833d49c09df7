import json
import subprocess
import sys

import pytest
from conftest import moving_clip

import vidprov
from vidprov import write_video

VIDPROV = [sys.executable, "-m", "vidprov.cli"]


def run(*args, **kw):
    return subprocess.run([*VIDPROV, *map(str, args)], capture_output=True, text=True, timeout=120, **kw)


def test_version():
    r = run("--version")
    assert r.returncode == 0 and vidprov.__version__ in r.stdout


def test_info_json(tmp_path):
    path = write_video(moving_clip(t=6), tmp_path / "a.mp4")
    r = run("info", path, "--json")
    assert r.returncode == 0, r.stderr
    (row,) = json.loads(r.stdout)
    assert row["codec"] == "h264" and row["num_frames"] == 6 and row["width"] == 64


@pytest.mark.parametrize("content", [b"", b"plain text, not a video\n", b"\x00\x01" * 999])
def test_bad_input_is_one_line_exit_2(tmp_path, content):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(content)
    r = run("info", bad)
    assert r.returncode == 2
    r = run("demo", "--only", "nosuchstep", "--out", tmp_path / "r")
    assert r.returncode == 2 and "unknown demo steps" in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_missing_file_and_usage_errors(tmp_path):
    r = run("info", tmp_path / "nope.mp4", "--json")
    assert r.returncode == 2 and "no such file" in json.loads(r.stdout)[0]["error"]
    r = run("no-such-command")
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_demo_core_step_writes_report(tmp_path):
    r = run("demo", "--only", "core", "--out", tmp_path / "report")
    assert r.returncode == 0, r.stderr
    report = (tmp_path / "report" / "report.md").read_text()
    assert "Clips found" in report and "bikes.mp4" in report
    assert list((tmp_path / "report" / "normalized").glob("*.mp4"))


def test_demo_tables_become_one_line_summaries_off_a_terminal(tmp_path):
    import io

    from rich.console import Console
    from rich.table import Table

    from vidprov.demo import DemoContext

    table = Table("clip", "finding")
    table.add_row("a_very_long_clip_name.mp4", "Manifest stripped (or never attached), watermark present " * 3)
    for terminal, expect in ((False, "2 clips checked (full table in report.md)"), (True, "finding")):
        buf = io.StringIO()
        ctx = DemoContext(out=tmp_path, console=Console(file=buf, force_terminal=terminal, width=80), quick=True,
                          real_paths=[], manifest=None)
        ctx.show(table, "2 clips checked")
        assert expect in buf.getvalue()
        assert ("a_very_long" in buf.getvalue()) == terminal
