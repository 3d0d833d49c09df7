"""The watermark demo step marks, signs and verifies the clips the generator step left."""

import cv2
import numpy as np
from rich.console import Console

import vidprov
from vidprov.demo import DemoContext
from vidprov.watermark.demo import demo_step


def test_demo_step_on_generated_clips(tmp_path, monkeypatch):
    monkeypatch.setenv("VIDPROV_HOME", str(tmp_path / "home"))
    rng = np.random.default_rng(0)
    base = cv2.GaussianBlur(rng.normal(0, 1, (180, 260, 3)).astype(np.float32), (0, 0), 2.0)
    base = ((base - base.min()) / (base.max() - base.min()) * 200 + 28).astype(np.uint8)
    frames = np.stack([base[i : i + 128, 2 * i : 2 * i + 192] for i in range(12)])
    gen = vidprov.write_video(vidprov.Clip(frames, fps=8.0), tmp_path / "gen.mp4", crf=12)
    ctx = DemoContext(out=tmp_path / "out", console=Console(quiet=True), quick=True, real_paths=[], manifest=None,
                      state={"generated": [gen]})
    demo_step(ctx)
    assert len(ctx.state["signed"]) == 1
    title, body = ctx.sections[-1]
    assert title == "Watermark and Content Credentials"
    lines = [line for line in body.splitlines() if line.startswith("| gen.mp4")]
    states = {line.split("|")[2].strip(): line.split("|")[3].strip() for line in lines}
    assert states == {"signed": "Trusted", "re-encoded CRF 30": "absent", "manifest stripped": "absent",
                      "one byte flipped": "Invalid"}
    marked = {line.split("|")[2].strip(): line.split("|")[4].strip() for line in lines}
    assert marked["signed"] == marked["manifest stripped"] == "yes"
    # A flipped media byte damages the frames of its GOP; whether the mark still passes its tag depends on the
    # (per-run) key. Either it reads as this clip's own mark with the signed payload, or it is not claimed.
    payloads = {line.split("|")[2].strip(): line.split("|")[6].strip() for line in lines}
    assert marked["one byte flipped"] == "no" or payloads["one byte flipped"] == payloads["signed"]
