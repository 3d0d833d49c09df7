"""CLI: mark embed/detect, sign, verify, with the JSON shapes scripts depend on."""

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

import vidprov


@pytest.fixture()
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("VIDPROV_HOME", str(tmp_path / "home"))
    rng = np.random.default_rng(0)
    base = cv2.GaussianBlur(rng.normal(0, 1, (200, 300, 3)).astype(np.float32), (0, 0), 2.0)
    base = ((base - base.min()) / (base.max() - base.min()) * 200 + 28).astype(np.uint8)
    frames = np.stack([base[i : i + 160, 2 * i : 2 * i + 224] for i in range(12)])
    src = vidprov.write_video(vidprov.Clip(frames, fps=8.0), tmp_path / "in.mp4", crf=12)
    return tmp_path, src


def run(*args):
    return subprocess.run([sys.executable, "-m", "vidprov.cli", *map(str, args)], capture_output=True, text=True)


def test_mark_sign_verify_json(env):
    tmp, src = env
    marked, signed = tmp / "marked.mp4", tmp / "signed.mp4"
    r = run("mark", "embed", src, marked, "--key", "cli-key", "--payload", "beef")
    assert r.returncode == 0, r.stderr
    r = run("mark", "detect", marked, "--key", "cli-key", "--json")
    d = json.loads(r.stdout)
    assert d["detected"] is True and d["message"] == "00beef" and d["status"] == "bound"
    assert d["p_value"] < 1e-6 and d["bit_accuracy_source"] == "estimated" and d["bit_accuracy"] > 0.8
    d = json.loads(run("mark", "detect", marked, "-k", "cli-key", "--payload", "beef", "--json").stdout)
    assert d["bit_accuracy"] == 1.0 and d["bit_accuracy_source"] == "expected"
    r = run("mark", "detect", marked, "--key", "wrong-key", "--json")
    assert json.loads(r.stdout)["detected"] is False
    r = run("sign", marked, signed, "--key", "cli-key", "--model", "m", "--seed", "3", "--prompt", "fox")
    assert r.returncode == 0, r.stderr
    r = run("verify", signed, "--json", "--key", "cli-key")
    d = json.loads(r.stdout)
    assert d["c2pa"]["state"] == "Trusted" and isinstance(d["c2pa"]["codes"], list)
    assert d["c2pa"]["manifest"]["soft_binding"]["blocks"]
    assert d["watermark"]["detected"] is True and d["latent_watermark"] is None
    assert isinstance(d["finding"], str) and d["finding"].startswith("AI-generated")
    r = run("verify", signed)
    assert r.returncode == 0 and "Trusted" in r.stdout


def test_bad_input_is_one_line_exit_2(env):
    tmp, _ = env
    junk = tmp / "junk.mp4"
    junk.write_bytes(b"\0" * 100 + b"garbage" * 50)
    r = run("verify", junk)
    assert r.returncode == 2 and "error:" in r.stderr and "Traceback" not in r.stderr
    r = run("mark", "embed", tmp / "missing.mp4", tmp / "o.mp4")
    assert r.returncode == 2 and "no such file" in r.stderr
    r = run("mark", "embed", env[1], tmp / "o.mp4", "--payload", "xyz")
    assert r.returncode == 2 and "payload" in r.stderr
