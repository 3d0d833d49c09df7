"""Windowing: timing, counts, the analysis cap, short clips and every source type."""

import io

import numpy as np
import pytest

from vidprov import encode_video
from vidprov.clip import Clip
from vidprov.detector.window_detector import is_normalized_window
from vidprov.detector.windows import WindowSpec, iter_windows, rewindable

SPEC = WindowSpec(size=32, fps=8.0, num_frames=8, crf=23, max_windows=None, chunk=2)


def moving(t, fps, size=48):
    x = np.arange(size)
    frames = [np.broadcast_to(((x[None, :] + 3 * i) % 48 * 5).astype(np.uint8)[..., None], (size, size, 3))
              for i in range(t)]
    return Clip(np.ascontiguousarray(np.stack(frames)), fps=fps)


def test_windows_cover_clip_in_order():
    clip = moving(75, 25.0)  # 3 s -> one full 1 s window per second at 8 fps x 8 frames
    wins = list(iter_windows(clip, SPEC))
    assert [round(w.start_s, 3) for w in wins] == [0.0, 1.0, 2.0]
    assert all(w.clip.frames.shape == (8, 32, 32, 3) for w in wins)
    assert all(is_normalized_window(w.clip, SPEC) for w in wins)


def test_max_windows_caps_analysis():
    wins = list(iter_windows(moving(100, 25.0), WindowSpec(size=32, num_frames=8, max_windows=2, chunk=4)))
    assert len(wins) == 2 and wins[-1].end_s == pytest.approx(2.0)


def test_short_clip_gives_one_extended_window_and_tiny_tail_dropped():
    wins = list(iter_windows(moving(5, 10.0), SPEC))  # 0.5 s
    assert len(wins) == 1 and wins[0].clip.num_frames == 8 and wins[0].end_s == pytest.approx(0.5)
    wins = list(iter_windows(moving(27, 25.0), SPEC))  # 1.08 s: the 0.08 s tail is too short
    assert len(wins) == 1


def test_low_fps_source_repeats_frames():
    wins = list(iter_windows(moving(8, 4.0), SPEC))  # 2 s at 4 fps -> 16 samples at 8 fps
    assert len(wins) == 2


def test_sources_path_bytes_fileobj_agree(tmp_path):
    data = encode_video(moving(40, 20.0), crf=10)
    path = tmp_path / "c.mp4"
    path.write_bytes(data)
    # No H.264 round-trip here: vidprov.reencode is not bit-exact from run to run, decoding is.
    spec = WindowSpec(size=32, fps=8.0, num_frames=8, crf=None, max_windows=None, chunk=2)
    a = list(iter_windows(path, spec))
    b = list(iter_windows(data, spec))
    with open(path, "rb") as f:
        c = list(iter_windows(rewindable(f), spec))
    nonseek = io.BufferedReader(io.BytesIO(data))
    d = list(iter_windows(rewindable(nonseek), spec))
    assert len(a) == len(b) == len(c) == len(d) == 2
    for x, y in ((a[0], b[0]), (a[1], c[1]), (a[1], d[1])):
        assert np.array_equal(x.clip.frames, y.clip.frames)


def test_windows_from_files_and_clips_are_recognised_as_prepared(tmp_path):
    spec = WindowSpec(size=32, fps=8.0, num_frames=8, crf=23, preset="ultrafast", max_windows=None, chunk=2)
    clip = moving(40, 20.0)
    path = tmp_path / "c.mp4"
    path.write_bytes(encode_video(clip, crf=10))
    for src in (path, clip):
        wins = list(iter_windows(src, spec))
        assert len(wins) == 2 and all(w.clip.frames.shape == (8, 32, 32, 3) for w in wins)
        assert all(is_normalized_window(w.clip, spec) for w in wins)
        other = WindowSpec(**{**spec.to_dict(), "preset": "medium"})
        assert not is_normalized_window(wins[0].clip, other)  # a model of another format re-windows it


def test_window_spec_round_trips_and_refuses_unknown_settings():
    spec = WindowSpec(size=64, num_frames=8, max_windows=1)
    assert WindowSpec.from_dict(spec.to_dict()) == spec
    with pytest.raises(ValueError, match="unknown window settings \\['resize_in'\\]"):
        WindowSpec.from_dict({**spec.to_dict(), "resize_in": "rgb24"})
