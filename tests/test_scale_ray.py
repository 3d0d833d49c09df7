"""Scale-out on a local Ray (2 CPUs, started once for this module) with a tiny detector trained here."""

import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from test_detector_models import make_clip  # noqa: E402  (shared synthetic data)

from vidprov import encode_video

ray = pytest.importorskip("ray", reason='needs the distributed extra: pip install "vidprov[distributed]"')

from vidprov.scale import read_results, scan_dataset  # noqa: E402
from vidprov.scale.results import part_files  # noqa: E402

ODD_NAMES = ["with space.mp4", "ünïcødé – clip.mp4", "-leading-dash.mp4", "new\nline.mp4", "quote'\"#.mp4"]


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Good clips under ordinary and odd names, a corrupt one, a truncated one and an empty one."""
    rng = np.random.default_rng(1)
    d = tmp_path_factory.mktemp("videos")
    good = [encode_video(make_clip(rng, bool(i % 2), t=24), crf=12) for i in range(3)]
    (d / "real.mp4").write_bytes(good[0])
    (d / "gen.mp4").write_bytes(good[1])
    for name in ODD_NAMES:
        (d / name).write_bytes(good[2])
    (d / "sub").mkdir()
    (d / "sub" / "nested.mp4").write_bytes(good[0])
    (d / "corrupt.mp4").write_bytes(b"not a video at all" * 10)
    (d / "truncated.mp4").write_bytes(good[1][: len(good[1]) // 3])
    (d / "empty.mp4").write_bytes(b"")
    return d


def _none(value):
    """pandas reads a null string as NaN."""
    return None if value is None or (isinstance(value, float) and np.isnan(value)) else value


def _scanner_kwargs():
    return dict(max_windows=8, provenance=False)


def test_folder_gives_one_row_per_file_with_reasons(local_ray, model_dir, folder, tmp_path):
    out = tmp_path / "results.parquet"
    written, before = scan_dataset([folder], out, model=model_dir, workers=2, rows_per_block=2, **_scanner_kwargs())
    from vidprov.detector.cli import expand_paths

    files = [str(f) for f in expand_paths([folder])]
    df = read_results(out)
    assert (written, before) == (len(files), 0)
    assert sorted(df["path"]) == sorted(files) and df["path"].is_unique
    by_name = {Path(p).name: r for p, r in zip(df["path"], df.to_dict("records"), strict=True)}
    assert "no known container" in by_name["corrupt.mp4"]["error"]
    assert "empty" in by_name["empty.mp4"]["error"] and by_name["empty.mp4"]["verdict"] == "error"
    assert by_name["truncated.mp4"]["error"]
    for name in ["real.mp4", "gen.mp4", "nested.mp4", *ODD_NAMES]:
        row = by_name[name]
        assert _none(row["error"]) is None and 0 <= row["p_generated"] <= 1, name
        assert len(row["content_sha256"]) == 64 and len(row["segments"]) >= 1
        assert row["detector"] == model_dir.name and row["vidprov_version"]
    # the same content under different names has one hash
    assert len({by_name[n]["content_sha256"] for n in ODD_NAMES}) == 1


def test_scores_equal_the_single_process_scanner(local_ray, model_dir, folder, tmp_path):
    import vidprov

    files = [folder / "real.mp4", folder / "gen.mp4", folder / "corrupt.mp4"]
    out = tmp_path / "r"
    scan_dataset(files, out, model=model_dir, workers=1, threshold=0.5, max_windows=8)  # provenance on
    df = read_results(out)
    scanner = vidprov.Scanner(model_dir, threshold=0.5, max_windows=8)
    for row in df.to_dict("records"):
        rep = scanner.safe_scan(row["path"])
        assert row["verdict"] == rep.verdict and _none(row["provenance_verdict"]) == rep.provenance_verdict
        if rep.error:
            assert row["error"] == rep.error
            continue
        assert row["p_generated"] == pytest.approx(rep.p_generated, abs=1e-9)
        assert [s["p_generated"] for s in row["segments"]] == pytest.approx([s.p_generated for s in rep.segments])
        assert json.loads(row["provenance"]).keys() == rep.provenance.keys()
        assert json.loads(row["drivers"]) == rep.drivers and list(row["evidence"]) == rep.evidence


def test_rerun_skips_finished_items_and_rescans_changed_ones(local_ray, model_dir, folder, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for name in ("real.mp4", "gen.mp4", "corrupt.mp4"):
        (src / name).write_bytes((folder / name).read_bytes())
    listing = tmp_path / "list.txt"
    listing.write_text("src/real.mp4\nsrc/gen.mp4\nsrc/corrupt.mp4\nsrc/missing.mp4\n")
    out = tmp_path / "out"
    assert scan_dataset(listing, out, model=model_dir, workers=1, **_scanner_kwargs()) == (4, 0)
    assert scan_dataset(listing, out, model=model_dir, workers=1, **_scanner_kwargs()) == (0, 4)
    (src / "gen.mp4").write_bytes((folder / "real.mp4").read_bytes())  # new content under a scanned name
    assert scan_dataset(listing, out, model=model_dir, workers=1, **_scanner_kwargs()) == (1, 4)
    df = read_results(out)
    assert len(df) == 5 and df.groupby("path")["content_sha256"].nunique().max() <= 2


def many_clips(src: Path, n: int, seed: int) -> Path:
    """A folder of n small clips, alternately real-like and generated-like."""
    rng = np.random.default_rng(seed)
    src.mkdir()
    for i in range(n):
        (src / f"c{i:02d}.mp4").write_bytes(encode_video(make_clip(rng, bool(i % 2), t=24), crf=12))
    return src


def _cli(*args):
    return [sys.executable, "-c", "from vidprov.cli import main; main()", *args]


def test_killed_driver_then_resume_loses_nothing_and_duplicates_nothing(local_ray, model_dir, tmp_path):
    src = many_clips(tmp_path / "many", 12, seed=2)
    out = tmp_path / "out.parquet"
    address = ray.get_runtime_context().gcs_address
    args = _cli("scan", str(src), "--ray", "--address", address, "--out", str(out), "--model", str(model_dir),
                "--workers", "1", "--max-windows", "8", "--rows-per-block", "1", "--flush-rows", "1")
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not part_files(out) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    first = len(read_results(out))
    assert 1 <= first < 12, proc.stderr.read().decode()[-2000:]
    done = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    df = read_results(out)
    assert sorted(df["path"]) == sorted(str(f) for f in src.iterdir()) and df["path"].is_unique
    assert df["error"].isna().all()


def test_sigint_keeps_what_arrived(local_ray, model_dir, tmp_path):
    src = many_clips(tmp_path / "many", 8, seed=3)
    out = tmp_path / "out.parquet"
    address = ray.get_runtime_context().gcs_address
    args = _cli("-v", "scan", str(src), "--ray", "--address", address, "--out", str(out), "--model", str(model_dir),
                "--workers", "1", "--max-windows", "8", "--rows-per-block", "1", "--flush-rows", "1000")
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(1)
    deadline = time.monotonic() + 120
    line = b""
    while b"rows received" not in line and time.monotonic() < deadline and proc.poll() is None:
        line = proc.stderr.readline()
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=60)
    n = len(read_results(out))
    assert n >= 1  # flush-rows 1000 never reached: the rows came from the flush on interrupt
    rerun = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    df = read_results(out)
    assert len(df) == 8 and df["path"].is_unique


def test_large_list_of_missing_paths_bounded_memory_one_row_per_line(local_ray, model_dir, tmp_path):
    n = 100_000
    listing = tmp_path / "paths.txt"
    real = tmp_path / "ok.mp4"
    real.write_bytes(encode_video(make_clip(np.random.default_rng(4), False, t=24), crf=12))
    with open(listing, "w") as f:
        for i in range(n):
            f.write(f"{real}\n" if i % 10_000 == 0 else f"/nonexistent/dir/{i:06d}.mp4\n")
    out = tmp_path / "out"
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    written, _ = scan_dataset(listing, out, model=model_dir, workers=2, rows_per_block=2000, flush_rows=20_000,
                              **_scanner_kwargs())
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    df = read_results(out)
    assert written == n and len(df) == n and df["item"].tolist() == list(range(n))
    assert (df["error"].notna()).sum() == n - 10 and df["error"].iloc[1].endswith("no such file")
    assert grown_mib < 400, f"driver grew {grown_mib:.0f} MiB"


def test_generate_dataset_on_ray_matches_the_single_process_command(local_ray, tmp_path):
    from test_generator_pipeline import tiny_pipeline

    from vidprov.generator.export import save_pipeline
    from vidprov.generator.generated_dataset import generate_dataset as generate_here
    from vidprov.generator.generated_dataset import make_plan
    from vidprov.provenance import write_clip
    from vidprov.scale.generate import generate_dataset as generate_on_ray

    pipe = tmp_path / "pipe"
    save_pipeline(tiny_pipeline("wan"), pipe, settings={"size": 32, "num_frames": 5, "max_tokens": 8})
    plan = make_plan(4, [str(pipe)], [2], [3.0], [("g1", "a cat on grass"), ("g2", "cars on a road")])
    on_ray = generate_on_ray(tmp_path / "ray", plan, device="cpu", mark=False, sign=False, flush_s=0)
    here = generate_here(tmp_path / "here", plan, write_clip=write_clip, device="cpu", mark=False, sign=False,
                         progress=False)
    assert on_ray.df.drop(columns="checkpoint_hash").equals(here.df.drop(columns="checkpoint_hash"))
    from vidprov import read_video

    for row in on_ray:  # libx264 at its default preset is not bit-exact from run to run: compare pixels
        a, b = (read_video(tmp_path / d / row["path"]) for d in ("ray", "here"))
        assert a.frames.shape == b.frames.shape
        assert np.abs(a.frames.astype(int) - b.frames.astype(int)).mean() < 2, row["path"]
    # a re-run (after a crash, say) keeps finished clips and regenerates a missing one
    (tmp_path / "ray" / on_ray.df["path"][0]).unlink()
    stamp = (tmp_path / "ray" / on_ray.df["path"][1]).stat().st_mtime_ns
    again = generate_on_ray(tmp_path / "ray", plan, device="cpu", mark=False, sign=False)
    assert len(again) == 4 and (tmp_path / "ray" / on_ray.df["path"][0]).exists()
    assert (tmp_path / "ray" / on_ray.df["path"][1]).stat().st_mtime_ns == stamp


def test_ray_missing_is_a_one_line_error_with_the_install_command(tmp_path):
    code = ("import sys; sys.modules['ray'] = None; from vidprov.cli import main; "
            f"sys.argv = ['vidprov', 'scan', {str(tmp_path)!r}, '--ray', '--out', {str(tmp_path / 'o')!r}]; main()")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and 'pip install "vidprov[distributed]"' in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_bench_scan_ray_reports_single_process_and_ray_rows(local_ray, model_dir, folder):
    from vidprov.scale.bench import run_bench_scan_ray

    files = [folder / "real.mp4", folder / "gen.mp4", folder / "with space.mp4"]
    rows = run_bench_scan_ray(files, workers=(1,), model=model_dir)
    assert [r["how"] for r in rows] == ["Scanner", "Ray, 1 actor"]
    for r in rows:
        assert r["clips"] == 3 and r["errors"] == 0 and r["clips_per_s"] > 0
        assert r["video_s_per_s"] == pytest.approx(r["clips_per_s"] * r["video_s"] / 3)
    assert rows[1]["ray_overhead_s_per_clip"] is not None and rows[1]["startup_s"] > 0


def _children(pid: int) -> list[int]:
    kids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                kids.append(int(entry.name))
    return kids


def _cmdline(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def test_killed_scoring_actor_items_are_retried(local_ray, model_dir, tmp_path):
    import threading

    rng = np.random.default_rng(5)
    src = tmp_path / "many"
    src.mkdir()
    for i in range(10):
        (src / f"c{i:02d}.mp4").write_bytes(encode_video(make_clip(rng, bool(i % 2), t=24), crf=12))
    out = tmp_path / "out"
    result = {}
    run = threading.Thread(target=lambda: result.update(n=scan_dataset(
        src, out, model=model_dir, workers=1, rows_per_block=1, flush_rows=1, **_scanner_kwargs())))
    run.start()
    deadline = time.monotonic() + 120
    while not part_files(out) and time.monotonic() < deadline:
        time.sleep(0.1)
    # only this test's Ray: actors are children of the raylet this process started
    actors = [p for r in _children(os.getpid()) if "raylet" in _cmdline(r) for p in _children(r)
              if _cmdline(p).startswith("ray::MapWorker(MapBatches(ScoreActor))")]
    assert actors
    assert len(read_results(out)) < 10  # killed mid-run
    for pid in actors:
        os.kill(pid, signal.SIGKILL)
    run.join(timeout=300)
    df = read_results(out)
    assert result["n"] == (10, 0) and sorted(df["path"]) == sorted(str(f) for f in src.iterdir())
    assert df["path"].is_unique and df["error"].isna().all()


def test_part_writer_removes_parts_a_killed_driver_left_and_keeps_live_ones(tmp_path):
    from vidprov.atomic import temp_prefix
    from vidprov.scale.results import PartWriter

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".vidprov-tmp.{dead.pid}.part-x.parquet.abc.part"
    live = tmp_path / f"{temp_prefix('part-y.parquet')}abc.part"  # this process: still writing
    for f in (stale, live):
        f.write_bytes(b"half a part")
    PartWriter(tmp_path)
    assert not stale.exists() and live.exists()
