"""The Streamlit app through Streamlit's AppTest: every page renders, bad uploads get a message."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

from vidprov.app import shared, verdict  # noqa: E402

MAIN = str(Path(__file__).resolve().parent.parent / "app" / "main.py")
TIMEOUT = 120  # the first scan loads the shipped detector (~6 s on the 2-core CPU)


def page(path: str | None = None) -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=TIMEOUT).run()
    if path:
        at.switch_page(path).run()
    return at


def texts(at: AppTest) -> str:
    parts = [e.value for kind in ("markdown", "error", "warning", "info", "success", "caption", "title", "subheader")
             for e in getattr(at, kind)]
    return "\n".join(str(p) for p in parts)


def in_order(node) -> list:
    """Every element of the page in the order a reader meets them."""
    out = []
    children = getattr(node, "children", None)
    for child in (children.values() if isinstance(children, dict) else []):
        out.append(child)
        out += in_order(child)
    return out


@pytest.fixture(autouse=True)
def _fresh_caches():
    import streamlit as st

    yield
    st.cache_resource.clear()  # a test's tiny generator must not serve the next test


def test_check_page_sample_shows_the_verdict_first_and_a_pathless_report(one_torch_thread):
    at = page()
    assert not at.exception
    at.radio[0].set_value("Sample").run()
    at.selectbox(key="check_sample").set_value("carphone_pristine.mp4").run()
    assert not at.exception, at.exception
    # The finding comes first: the first box on the page is the headline with its plain-words level.
    boxes = [e for e in in_order(at.main) if type(e).__name__ in ("Error", "Warning", "Info", "Success")]
    assert boxes and any(s in boxes[0].value for s in ("Substantial evidence", "Uncertain", "Little evidence"))
    assert "tiny (176x144)" in texts(at)  # outside the detector's scope, and said so
    assert "Content Credentials (C2PA)" in texts(at) and "Invisible watermark" in texts(at)
    assert at.get("download_button"), "no JSON report download"
    report = at.session_state["check_result"][0]
    blob = json.dumps(report)
    assert report["path"] == "carphone_pristine.mp4"
    assert "/tmp" not in blob and "site-packages" not in blob and "vidprov-app-" not in blob
    assert report["segments"] and 0.0 <= report["p_generated"] <= 1.0


@pytest.mark.parametrize("name, data, message", [
    ("broken.mp4", b"\x00\x00\x00\x18ftypmp42" + b"\x17" * 4000, "broken.mp4"),
    ("empty.mov", b"", "empty"),
    ("notes.txt", b"hello", "not a video type"),
    ("../../etc/passwd.webm", b"not a video at all", "passwd.webm"),
])
def test_check_page_bad_upload_gives_one_line_error(name, data, message):
    at = page()
    at.file_uploader[0].set_value((name, data, "video/mp4")).run()
    assert not at.exception, at.exception
    assert len(at.error) == 1
    err = at.error[0].value
    assert message in err and "Traceback" not in err and "\n" not in err
    assert "/tmp" not in err and "vidprov-app-" not in err and "etc/" not in err


@pytest.fixture
def tiny_generators(tmp_path, monkeypatch):
    from test_generator_pipeline import FAMILIES, tiny_pipeline

    from vidprov.generator import video_generator
    from vidprov.generator.export import save_pipeline

    for family in FAMILIES:
        save_pipeline(tiny_pipeline(family), tmp_path / family, settings={"size": 64, "num_frames": 5, "max_tokens": 8})  # 64 px: the watermark tile
    monkeypatch.setattr(video_generator, "WEIGHTS_DIR", tmp_path)
    monkeypatch.setattr(video_generator, "_LOADED", {})
    return tmp_path


def test_generate_page_plays_a_signed_clip_and_sends_it_to_the_checker(tiny_generators, one_torch_thread):
    at = page("views/generate.py")
    at.slider[0].set_value(2)
    at.button[0].click().run()  # the form's submit button
    assert not at.exception, at.exception
    assert at.get("video"), "no video element"
    name, data, signed = at.session_state["generated"]
    assert signed and data[4:8] == b"ftyp"
    import vidprov

    info = vidprov.probe(data)
    assert info.codec == "h264" and info.pix_fmt == "yuv420p"
    [b for b in at.button if b.label == "Check this clip"][0].click().run()
    assert not at.exception, at.exception
    report = at.session_state["check_result"][0]
    assert report is not None, at.session_state["check_result"][1]
    # The detector may not recognise vidprov's own clips; the signed manifest and the watermark do.
    assert report["provenance"]["c2pa"]["state"] in ("Trusted", "Valid")
    assert report["provenance"]["watermark"]["detected"]
    boxes = [e for e in in_order(at.main) if type(e).__name__ in ("Error", "Warning", "Info", "Success")]
    assert "Substantial evidence" in boxes[0].value


def test_how_it_works_renders_every_figure_from_a_tiny_model(tiny_generators, one_torch_thread):
    at = page("views/how_it_works.py")
    assert not at.exception, at.exception
    subs = [s.value for s in at.subheader]
    assert subs == ["1. The frames", "2. The latent after the VAE", "3. The spacetime patches the transformer sees",
                    "4. The denoising trajectory", "5. Attention across time"]
    assert len(at.get("image")) >= 6  # frames, channels, patches, 3 trajectory rows, attention
    assert "fewer numbers" in texts(at)


def _bench_run(folder: Path, auc: float) -> None:
    folder.mkdir(parents=True)
    (folder / "results.csv").write_text(f"detector,protocol,roc_auc\nfused,in-dist,{auc}\n")
    (folder / "config.json").write_text(json.dumps({"command": "vidprov bench detector --out x", "runtime_s": 12}))
    import cv2

    cv2.imwrite(str(folder / "roc_per_generator.png"), np.zeros((20, 30, 3), np.uint8))


def test_benchmarks_page_lists_runs_and_compares_two(tmp_path, monkeypatch):
    _bench_run(tmp_path / "run-a", 0.91)
    _bench_run(tmp_path / "nested" / "run-b", 0.84)
    monkeypatch.setenv(shared.RESULTS_ENV, str(tmp_path))
    at = page("views/benchmarks.py")
    assert not at.exception, at.exception
    assert at.selectbox[0].options == ["nested/run-b", "run-a"]
    at.selectbox[1].set_value("run-a").run()
    assert not at.exception
    assert len(at.dataframe) == 2 and {s.value for s in at.subheader} == {"nested/run-b", "run-a"}


def test_benchmarks_page_without_runs_says_how_to_make_one(tmp_path, monkeypatch):
    monkeypatch.setenv(shared.RESULTS_ENV, str(tmp_path / "none"))
    at = page("views/benchmarks.py")
    assert not at.exception and "vidprov bench detector" in at.info[0].value


def test_about_page_states_limits():
    at = page("views/about.py")
    assert not at.exception
    assert "not proof of authenticity" in texts(at)
    assert at.table, "no measured figures"


def test_headline_levels_and_provenance_outranks_the_detector():
    base = {"p_generated": 0.1, "threshold": 0.83, "real_below": 0.32, "verdict": "likely real"}
    assert verdict.headline(base)[0] == "little"
    assert verdict.headline({**base, "p_generated": 0.5, "verdict": "uncertain"})[0] == "uncertain"
    assert verdict.headline({**base, "p_generated": 0.9, "verdict": "likely generated"})[0] == "substantial"
    level, _, why = verdict.headline({**base, "provenance_verdict": "generated (vidprov watermark present)"})
    assert level == "substantial" and "watermark" in why


def test_report_and_names_never_carry_server_paths():
    rep = {"path": "/tmp/vidprov-app-x/clip.mp4", "provenance": {"path": "/tmp/vidprov-app-x/clip.mp4", "n": 3},
           "segments": [{"note": "read /tmp/vidprov-app-x/clip.mp4"}]}
    out = shared.without_paths(rep, {"/tmp/vidprov-app-x/clip.mp4": "a.mp4", "/tmp/vidprov-app-x": ""})
    assert "/tmp" not in json.dumps(out) and out["provenance"]["n"] == 3 and out["path"] == "a.mp4"
    assert shared.safe_name("../../etc/passwd.mp4") == "passwd.mp4"
    assert shared.safe_name("C:\\x\\evil\x00name.mov") == "evil_name.mov"
    assert shared.suffix_of("clip.MKV") == "mkv" and shared.suffix_of("clip.exe") is None


def test_cli_port_from_option_then_environment(monkeypatch):
    from vidprov.app import cli

    monkeypatch.setenv("STREAMLIT_SERVER_PORT", "8765")
    assert cli.default_port() == 8765
    cmd = cli.streamlit_command(9001, "127.0.0.1", 50)
    assert cmd[cmd.index("--server.port") + 1] == "9001" and cmd[cmd.index("--server.address") + 1] == "127.0.0.1"
    assert cmd[cmd.index("--server.maxUploadSize") + 1] == "50"
    monkeypatch.delenv("STREAMLIT_SERVER_PORT")
    assert cli.default_port() == 8501
