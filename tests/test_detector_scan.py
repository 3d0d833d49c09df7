"""Scanning API and CLI on a tiny detector trained in the test (no shipped weights needed)."""

import io
import json
import threading

import numpy as np
import pytest
from test_detector_models import make_clip  # noqa: E402  (shared synthetic data)
from typer.testing import CliRunner

import vidprov
from vidprov import encode_video
from vidprov.clip import Clip
from vidprov.detector.cli import expand_paths
from vidprov.detector.scan import (
    DEFAULT_MODEL_DIR,
    ERROR,
    LIKELY_GENERATED,
    LIKELY_REAL,
    UNCERTAIN,
    Scanner,
    verdict_for,
)


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    rng = np.random.default_rng(1)
    folder = tmp_path_factory.mktemp("videos")
    real = make_clip(rng, False, t=24)
    (folder / "real.mp4").write_bytes(encode_video(real, crf=12))
    (folder / "gen.mp4").write_bytes(encode_video(make_clip(rng, True, t=24), crf=12))
    (folder / "broken.mp4").write_bytes(b"not a video at all")
    return folder, real


def test_verdict_bands():
    assert verdict_for(0.9, 0.6, 0.3) == LIKELY_GENERATED
    assert verdict_for(0.45, 0.6, 0.3) == UNCERTAIN
    assert verdict_for(0.1, 0.6, 0.3) == LIKELY_REAL


def test_scan_every_source_kind(model_dir, videos):
    folder, real = videos
    scanner = Scanner(model_dir, max_windows=8)
    path = folder / "real.mp4"
    by_path = scanner.scan(path)
    by_bytes = scanner.scan(path.read_bytes())
    with open(path, "rb") as f:
        by_file = scanner.scan(f)
    by_clip = scanner.scan(real)
    for rep in (by_path, by_bytes, by_file, by_clip):
        assert 0 <= rep.p_generated <= 1 and rep.verdict in (LIKELY_GENERATED, LIKELY_REAL, UNCERTAIN)
        assert len(rep.segments) == 3 and rep.analysed_s == pytest.approx(3.0, abs=0.2)
        assert rep.analysed_fraction == pytest.approx(1.0, abs=0.07)
        assert rep.drivers and {"feature", "log_odds", "towards"} <= set(rep.drivers[0])
        json.dumps(rep.to_dict())
    assert by_path.p_generated == pytest.approx(by_bytes.p_generated, abs=0.1)  # H.264 is not bit-exact
    assert by_path.threshold == 0.6 and by_path.real_below == 0.3


def test_long_clip_is_sampled_with_bounded_windows(model_dir, videos):
    _, real = videos
    long_clip = Clip(np.concatenate([real.frames] * 4), fps=8.0)  # 12 s
    rep = Scanner(model_dir, max_windows=3).scan(long_clip)
    assert len(rep.segments) == 3 and rep.segments[-1].end_s == pytest.approx(12.0)
    assert rep.analysed_fraction == pytest.approx(0.25)


def test_scan_many_reports_errors_and_is_thread_safe(model_dir, videos):
    folder, _ = videos
    scanner = Scanner(model_dir)
    files = [str(folder / n) for n in ("real.mp4", "broken.mp4", "gen.mp4", "missing.mp4")] * 2
    reports = list(scanner.scan_many(files, workers=3))
    assert len(reports) == len(files)
    errors = [r for r in reports if r.error]
    assert len(errors) == 4 and all(r.verdict == ERROR and r.p_generated is None for r in errors)
    ok = {r.path: r.p_generated for r in reports if not r.error}
    serial = {f: scanner.scan(f).p_generated for f in set(ok)}
    for f, p in ok.items():
        assert p == pytest.approx(serial[f], abs=0.1)
    # Many threads on one scanner: no exceptions, same answers.
    out, threads = [], [threading.Thread(target=lambda: out.append(scanner.scan(files[0]).p_generated))
                        for _ in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert len(out) == 4 and np.ptp(out) < 0.1


def test_pipelined_scan_matches_serial_scan(model_dir, videos):
    folder, real = videos
    long_clip = Clip(np.concatenate([real.frames] * 4), fps=8.0)
    for src in (str(folder / "gen.mp4"), long_clip):
        a = Scanner(model_dir, pipeline=True).scan(src)
        b = Scanner(model_dir, pipeline=False).scan(src)
        assert a.p_generated == b.p_generated
        assert [(s.start_s, s.p_generated) for s in a.segments] == [(s.start_s, s.p_generated) for s in b.segments]


def test_pipeline_hands_on_decode_errors_and_stops_on_scoring_errors(model_dir, videos):
    scanner = Scanner(model_dir)
    good = list(scanner._windows(videos[1], None, None))

    def breaks_off():
        yield from good
        raise vidprov.VidprovError("damaged video, decoding failed after 24 frames")

    with pytest.raises(vidprov.VidprovError, match="decoding failed"):
        scanner._score(breaks_off())

    def failing(windows, explain=0):
        raise ValueError("scoring failed")

    scanner.detector = type("Broken", (), {"score_windows": staticmethod(failing), "spec": scanner.spec})()
    long_clip = Clip(np.concatenate([videos[1].frames] * 8), fps=8.0)
    threads_before = threading.active_count()
    with pytest.raises(ValueError, match="scoring failed"):
        scanner.scan(long_clip)
    assert threading.active_count() == threads_before  # the decode thread was stopped and joined


def test_bad_input_raises_vidprov_error(model_dir):
    with pytest.raises(vidprov.VidprovError):
        Scanner(model_dir).scan(io.BytesIO(b"garbage"))
    with pytest.raises(vidprov.VidprovError, match="no trained detector"):
        Scanner(model_dir / "nothing")


def test_package_root_exposes_scan_api():
    from vidprov import provenance
    from vidprov.detector import scan as scan_module

    # The public Scanner is the detector's, with the file's provenance added on top.
    assert vidprov.Scanner is provenance.Scanner and issubclass(vidprov.Scanner, scan_module.Scanner)
    assert vidprov.ScanReport is scan_module.ScanReport and vidprov.verify is provenance.verify


def test_cli_scan_json_csv_and_exit_code(model_dir, videos, tmp_path):
    from vidprov.cli import app

    folder, _ = videos
    csv = tmp_path / "out.csv"
    res = CliRunner().invoke(app, ["scan", str(folder), "--json", "--csv", str(csv), "--model", str(model_dir),
                                   "--threshold", "0.5"])
    assert res.exit_code == 2, res.output
    rows = json.loads(res.stdout)
    assert [r["path"].rsplit("/", 1)[-1] for r in rows] == ["broken.mp4", "gen.mp4", "real.mp4"]
    assert rows[0]["p_generated"] is None and rows[0]["error"]
    assert all(r["error"] is None and 0 <= r["p_generated"] <= 1 and r["threshold"] == 0.5 for r in rows[1:])
    assert csv.read_text().splitlines()[0].startswith("path,p_generated,verdict,error")
    good = CliRunner().invoke(app, ["scan", str(folder / "gen.mp4"), "--model", str(model_dir)])
    assert good.exit_code == 0 and "gen.mp4" in good.output


def test_expand_paths_walks_directories(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.mp4").write_bytes(b"")
    (tmp_path / "a" / "notes.txt").write_text("")
    (tmp_path / "y.gif").write_bytes(b"")
    assert [p.name for p in expand_paths([tmp_path])] == ["x.mp4", "y.gif"]
    assert expand_paths([tmp_path / "z.bin"]) == [tmp_path / "z.bin"]


def test_provenance_combined_into_one_verdict(model_dir, videos):
    from vidprov.provenance import sentence
    from vidprov.watermark.credentials import TRAINED_ALGORITHMIC_MEDIA, C2paState

    ai = C2paState("Valid", [], {"digital_source_type": TRAINED_ALGORITHMIC_MEDIA})
    absent = C2paState("absent", [], None)
    assert sentence(ai, False, LIKELY_REAL).startswith("generated (Content Credentials from an untrusted signer")
    assert sentence(absent, True, UNCERTAIN) == "generated (vidprov watermark present)"
    assert "tampered" in sentence(C2paState("Invalid", [], None), False, LIKELY_REAL)
    assert sentence(absent, False, LIKELY_REAL) == f"{LIKELY_REAL} (no Content Credentials or watermark found)"
    assert sentence(ai, False).startswith("AI-generated: signed by an untrusted signer")  # verify()'s finding
    folder, _ = videos
    rep = vidprov.Scanner(model_dir, provenance=True).scan(folder / "real.mp4")
    assert rep.provenance is not None and "c2pa" in rep.provenance
    assert rep.provenance_verdict.startswith(rep.verdict)
    plain = vidprov.Scanner(model_dir, provenance=False).scan(folder / "real.mp4")
    assert plain.provenance is None and plain.provenance_verdict is None
    assert Scanner(model_dir).scan(folder / "real.mp4").provenance is None  # the detector alone


@pytest.mark.skipif(not (DEFAULT_MODEL_DIR / "config.json").is_file(), reason="no shipped default detector weights")
def test_shipped_default_detector_scans(videos):
    folder, real = videos
    card = json.loads((DEFAULT_MODEL_DIR / "card.json").read_text())
    rep = vidprov.scan(folder / "real.mp4")
    assert 0 <= rep.p_generated <= 1 and rep.threshold == pytest.approx(card["threshold"])
    assert (DEFAULT_MODEL_DIR / "model.safetensors").stat().st_size < 5_000_000


def test_bench_scan_times_decode_scan_and_serial_scan_side_by_side(model_dir, videos, tmp_path):
    from vidprov.detector.bench_scan import run_bench_scan

    folder, _ = videos
    rows = run_bench_scan([folder / "gen.mp4"], repeats=1, model=model_dir, out=tmp_path / "scan.json")
    (r,) = rows
    assert r["decode_s"] > 0 and r["scan_s"] > 0 and r["serial_scan_s"] > 0
    assert r["scan_over_decode"] == pytest.approx(r["scan_s"] / r["decode_s"])
    assert r["windows"] >= 1 and json.loads((tmp_path / "scan.json").read_text())[0]["file"] == "gen.mp4"


def test_shipped_models_load_by_name(tmp_path):
    from vidprov.detector.persist import DetectorFileError
    from vidprov.detector.scan import DEFAULT_MODEL_DIR, SHIPPED_DIR, resolve_model_dir, shipped_models

    names = shipped_models()
    assert "default" in names and "with-vidprov" in names
    assert resolve_model_dir(None) == resolve_model_dir("default") == DEFAULT_MODEL_DIR
    assert resolve_model_dir("with-vidprov") == SHIPPED_DIR / "with-vidprov"
    assert resolve_model_dir(tmp_path) == tmp_path  # a folder path stays a folder path
    with pytest.raises(DetectorFileError, match="shipped ones: default, handcrafted, with-vidprov"):
        vidprov.Scanner(model=tmp_path / "no-such-model", provenance=False)


def test_progress_reports_segments_as_they_are_scored(model_dir, videos):
    folder, real = videos
    long_clip = Clip(np.concatenate([real.frames] * 4), fps=8.0)
    for pipeline in (True, False):
        seen = []
        rep = Scanner(model_dir, pipeline=pipeline, max_windows=4).scan(
            long_clip, progress=seen.append)
        assert seen, "progress was never called"
        assert [len(s) for s in seen] == sorted(len(s) for s in seen)  # only ever grows
        assert [(s.start_s, s.p_generated) for s in seen[-1]] == [(s.start_s, s.p_generated) for s in rep.segments]


def test_model_card_by_folder_and_shipped_name(model_dir):
    from vidprov.detector.scan import model_card

    assert model_card(model_dir)["threshold"] == 0.6
    assert model_card(model_dir / "nothing") == {}
    assert 0 < model_card("default")["threshold"] < 1
