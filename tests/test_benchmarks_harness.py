import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from vidprov import Clip, Manifest, write_video
from vidprov.benchmarks import protocols as PR
from vidprov.benchmarks.clipstore import ClipStore, NormConfig
from vidprov.benchmarks.harness import BenchConfig, run_benchmark
from vidprov.benchmarks.perturbations import get
from vidprov.benchmarks.plugins import DetectorSpec, ExternalCommand, ExternalDetectorError, registered
from vidprov.manifest import DEFAULT_SHARED_MANIFEST

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _write(path: Path, seed: int, smooth: bool, t: int = 12, size: int = 32):
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (1, size, size, 3)).astype(np.float32)
    steps = rng.normal(0, 2 if smooth else 20, (t, 1, 1, 3))
    frames = np.clip(base + np.cumsum(steps, 0) + rng.normal(0, 4, (t, size, size, 3)), 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_video(Clip(frames, fps=8.0), path, crf=10)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    for i in range(8):
        _write(root / "real" / f"r{i}.mp4", i, smooth=False)
    for i in range(4):
        _write(root / "generated" / "zeroscope" / f"z{i}.mp4", 100 + i, smooth=True)
        _write(root / "generated" / "svd" / f"s{i}.mp4", 200 + i, smooth=True)
    _write(root / "animation" / "a0.mp4", 300, smooth=True)
    return root


def test_family_table_covers_shared_generators():
    from vidprov.lineage import GENERATOR_FAMILIES, family_of

    assert family_of("zeroscope") == "modelscope"
    assert family_of("tooncrafter") == "videocrafter"
    assert family_of("brand-new") == "brand-new"
    if DEFAULT_SHARED_MANIFEST.exists():
        gens = set(Manifest.from_shared().where(label="generated").df["generator"])
        assert gens <= set(GENERATOR_FAMILIES), sorted(gens - set(GENERATOR_FAMILIES))


def test_folds_never_leak(folder):
    m = PR.ensure_split(Manifest.from_folder(folder), test_size=0.4, seed=1)
    fold = PR.in_distribution(m)
    assert not set(fold.train.df["group"]) & set(fold.test.df["group"])
    folds = list(PR.leave_one_family_out(m))
    assert [f.name for f in folds] == ["modelscope", "svd"]
    for f in folds:
        train_fams = {PR.family_of(g) for g in f.train.where(label="generated").df["generator"]}
        test_fams = {PR.family_of(g) for g in f.test.where(label="generated").df["generator"]}
        assert f.name not in train_fams and test_fams == {f.name}
        assert not set(f.train.df["group"]) & set(f.test.df["group"])
    with pytest.raises(PR.ProtocolError, match="unknown protocols"):
        PR.build_folds(["indist"], m)
    with pytest.raises(PR.ProtocolError, match="needs a second manifest"):
        PR.build_folds(["cross"], m)


def test_clipstore_normalises_and_caches(folder, tmp_path):
    m = Manifest.from_folder(folder)
    store = ClipStore(m, NormConfig(size=24, num_frames=8), tmp_path)
    row = next(iter(m))
    clip = store.clean(row)
    assert clip.frames.shape == (8, 24, 24, 3) and clip.fps == 8.0
    assert len(list((tmp_path / "clips").rglob("*.npz"))) == 1
    again = ClipStore(m, NormConfig(size=24, num_frames=8), tmp_path).clean(row)
    np.testing.assert_array_equal(again.frames, clip.frames)
    bad = store.perturbed(row, get("resize_0.25"))
    assert bad.frames.shape == clip.frames.shape and not np.array_equal(bad.frames, clip.frames)


class _Counting:
    calls = 0

    def __init__(self):
        from vidprov.detector import create

        self.det = create("d3")

    def fit(self, clips, y):
        self.det.fit(clips, y)
        return self

    def predict_proba(self, clips):
        _Counting.calls += len(clips)
        return self.det.predict_proba(clips)


def test_run_benchmark_rows_and_resume(folder, tmp_path):
    m = Manifest.from_folder(folder)
    cfg = BenchConfig(norm=NormConfig(size=24, num_frames=8), protocols=("in-dist", "robust", "logo"),
                      perturbations=("none", "h264_crf35"), test_size=0.4, n_boot=20, seed=1)
    spec = DetectorSpec("counting", _Counting, {"v": 1})
    r = run_benchmark(m, [spec, registered("d3")], cfg, cache_dir=tmp_path)
    first_calls = _Counting.calls
    assert first_calls > 0 and not r.skipped
    cols = {"detector", "protocol", "fold", "perturbation", "subset", "level", "metric", "value", "ci_low",
            "ci_high", "split", "n_clips", "n_pos", "n_neg"}
    assert cols <= set(r.metrics.columns)
    got = set(zip(r.metrics["protocol"], r.metrics["perturbation"], strict=True))
    assert {("in-dist", "none"), ("robust", "h264_crf35"), ("logo", "none")} <= got
    subs = set(r.metrics["subset"])
    assert {"all", "real_vs_generated", "hard_negatives_vs_generated", "format=video"} <= subs
    assert any(s.startswith("generator=") for s in subs)
    assert r.scores["score"].between(0, 1).all()
    # a second run reads everything from the cache: no new predictions
    r2 = run_benchmark(m, [spec], cfg, cache_dir=tmp_path)
    assert _Counting.calls == first_calls
    a = r.metrics[r.metrics.detector == "counting"].reset_index(drop=True)
    pd.testing.assert_frame_equal(a, r2.metrics.reset_index(drop=True))


def test_external_command(folder, tmp_path):
    script = tmp_path / "ext.py"
    script.write_text(
        "import sys, av, numpy as np\n"
        "paths = open(sys.argv[1]).read().split()\n"
        "with open(sys.argv[2], 'w') as f:\n"
        "    f.write('path,score\\n')\n"
        "    for p in paths:\n"
        "        with av.open(p) as c:\n"
        "            m = np.mean([fr.to_ndarray(format='rgb24').mean() for fr in c.decode(video=0)])\n"
        "        f.write(f'{p},{m / 255:.6f}\\n')\n")
    det = ExternalCommand(f"{sys.executable} {script} {{list}} {{out}}").fit([], [])
    clips = [Clip(np.full((4, 16, 16, 3), v, np.uint8), 8.0) for v in (20, 200)]
    p = det.predict_proba(clips)[:, 1]
    assert p[0] < 0.2 < 0.7 < p[1]
    broken = ExternalCommand(f"{sys.executable} -c 'import sys; sys.exit(3)' {{list}} {{out}}").fit([], [])
    with pytest.raises(ExternalDetectorError, match="exited with 3"):
        broken.predict_proba(clips)
    with pytest.raises(ExternalDetectorError, match="must contain"):
        ExternalCommand("detect.sh")


def test_cli_index_and_bench(folder, tmp_path):
    from vidprov.cli import app

    runner = CliRunner()
    res = runner.invoke(app, ["dataset", "index", str(folder), "--out", str(tmp_path / "m.csv"), "--split"])
    assert res.exit_code == 0, res.output
    m = Manifest.read(tmp_path / "m.csv")
    assert len(m) == 17 and set(m.df["split"]) == {"train", "test"}
    res = runner.invoke(app, ["bench", "detector", "--data", str(tmp_path / "m.csv"), "--out", str(tmp_path / "out"),
                              "--detectors", "d3", "--protocol", "in-dist,robust", "--perturbations", "none,blur_2",
                              "--size", "24", "--n-boot", "20"])
    assert res.exit_code == 0, res.output
    out = tmp_path / "out"
    for name in ("results.parquet", "results.csv", "report.md", "config.json", "scores.parquet",
                 "roc_per_generator.png", "calibration.png"):
        assert (out / name).is_file(), name
    table = pd.read_parquet(out / "results.parquet")
    assert set(table["perturbation"]) == {"none", "blur_2"}
    assert "## Summary" in (out / "report.md").read_text()
    res = runner.invoke(app, ["bench", "detector", "--data", str(tmp_path / "m.csv"), "--out", str(tmp_path / "o2"),
                              "--detectors", "nope"])
    assert res.exit_code != 0


def test_cross_dataset_keeps_manifests_apart(folder, tmp_path):
    # B reuses A's relative paths with different content: scores must come from B's own files.
    other = tmp_path / "b"
    for i in range(3):
        _write(other / "real" / f"r{i}.mp4", 900 + i, smooth=False)
        _write(other / "generated" / "svd" / f"s{i}.mp4", 950 + i, smooth=True)
    a, b = Manifest.from_folder(folder), Manifest.from_folder(other)
    cfg = BenchConfig(norm=NormConfig(size=24, num_frames=8), protocols=("cross",), n_boot=10)
    r = run_benchmark(a, [registered("d3")], cfg, test_manifest=b, cache_dir=tmp_path / "cache")
    assert len(r.scores) == 6 and set(r.scores["protocol"]) == {"cross"}
    assert set(r.scores["clip_hash"]) == set(ClipStore(b, cfg.norm).hashes)


def test_same_content_shares_a_group():
    df = pd.DataFrame({
        "path": ["generated/gen2/gen2_comparison_gen2_01.mp4", "generated/modelscope/modelscope_comparison_ms_01.mp4",
                 "generated/zeroscope/zeroscope_comparison_zs_02.mp4", "generated/a/x.mp4", "generated/b/y.mp4",
                 "real/r.mp4"],
        "label": ["generated"] * 5 + ["real"],
        "prompt": ["", "", "", "A cat surfing", "a cat surfing ", ""],
    })
    m = PR.merge_shared_content(Manifest(df))
    g = m.df["group"].tolist()
    assert g[0] == g[1] and g[2] != g[0] and g[3] == g[4] and len(set(g)) == 4
    for seed in range(5):
        s = PR.ensure_split(Manifest(df), test_size=0.5, seed=seed).df
        assert s.loc[0, "split"] == s.loc[1, "split"] and s.loc[3, "split"] == s.loc[4, "split"]


def test_cli_dataset_merge_keeps_paths_and_drops_excluded_groups(folder, tmp_path):
    from vidprov.cli import app

    m = Manifest.from_folder(folder)
    real, gen = m.subset(m.df["label"] == "real"), m.subset(m.df["label"] != "real")
    Manifest(real.df, root=tmp_path).write(tmp_path / "real.csv")
    for f in real.paths:  # relative paths resolve against the folder holding the manifest
        (tmp_path / f.relative_to(folder)).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / f.relative_to(folder)).write_bytes(f.read_bytes())
    gen_abs = gen.df.assign(path=[str(p) for p in gen.paths])
    Manifest(gen_abs).write(tmp_path / "elsewhere" / "gen.csv")
    g0 = real.df["group"].iloc[0]
    Manifest(real.df.iloc[:1], root=folder).write(tmp_path / "held.csv")
    runner = CliRunner()
    res = runner.invoke(app, ["dataset", "merge", str(tmp_path / "real.csv"), str(tmp_path / "elsewhere" / "gen.csv"),
                              "--out", str(tmp_path / "m.csv"), "--exclude-groups-of", str(tmp_path / "held.csv")])
    assert res.exit_code == 0, res.output
    merged = Manifest.read(tmp_path / "m.csv")
    assert all(p.is_file() for p in merged.paths)
    assert g0 not in set(merged.df["group"])
    assert len(merged) == len(m) - int((m.df["group"] == g0).sum())
    res = runner.invoke(app, ["dataset", "merge", str(folder), "--out", str(tmp_path / "x.csv")])
    assert res.exit_code == 2 and "at least two" in res.output


def test_demo_manifest_without_shared_data_uses_absolute_paths(tmp_path, monkeypatch):
    # A fresh machine has no ../shared/data: the demo benchmarks the sample real clips against the generator
    # step's clips, whose paths are relative to the working directory (the demo's default --out).
    from types import SimpleNamespace

    from vidprov.benchmarks.demo import _demo_manifest

    monkeypatch.chdir(tmp_path)
    for name in ("real.mp4", "gen.mp4"):
        (tmp_path / "out").mkdir(exist_ok=True)
        (tmp_path / "out" / name).write_bytes(b"x")
    ctx = SimpleNamespace(manifest=None, real_paths=[Path("out/real.mp4")], state={"generated": [Path("out/gen.mp4")]})
    m = _demo_manifest(ctx)
    assert all(p.is_file() for p in m.paths) and list(m.df["label"]) == ["real", "generated"]


def test_detector_params_option_parses_json_values_and_rejects_bad_ones():
    import typer

    from vidprov.benchmarks.cli import _detector_params

    got = _detector_params(['fused.member_params={"spacetime": {"epochs": 60}}', "fused.arch=mobilenet", "d3.k=3"],
                           ["fused", "d3"])
    assert got == {"fused": {"member_params": {"spacetime": {"epochs": 60}}, "arch": "mobilenet"}, "d3": {"k": 3}}
    for bad in ("fused.epochs", "epochs=3", "other.k=1"):
        with pytest.raises(typer.BadParameter):
            _detector_params([bad], ["fused"])
