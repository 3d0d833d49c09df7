"""Hostile input on a public server: bounded memory and time, every directory item a row, no litter."""

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

import vidprov
from vidprov.atomic import TEMP_PREFIX, atomic_write_bytes, is_temp_name, remove_stale_temps, temp_prefix
from vidprov.benchmarks import hostile
from vidprov.detector.windows import WindowSpec, iter_spread_windows_one_pass, scan_windows
from vidprov.errors import NotAVideoError, VideoTooLargeError
from vidprov.limits import Limits
from vidprov.listing import list_videos


def dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


@pytest.fixture()
def small_mp4(tmp_path):
    return hostile.h264_large(tmp_path / "a.mp4", width=64, height=48, frames=10)


# -- 4: every item of a directory gets a row with the right reason -----------------------------

def test_special_files_are_named_without_blocking(tmp_path, small_mp4):
    fifo = tmp_path / "pipe.mp4"
    os.mkfifo(fifo)
    broken = tmp_path / "broken.mp4"
    broken.symlink_to(tmp_path / "gone.mp4")
    device = tmp_path / "dev.mp4"
    device.symlink_to("/dev/null")
    t0 = time.monotonic()
    for path, reason in ((fifo, "not a regular file (a FIFO)"), (broken, "broken link"),
                         (device, "not a regular file (a character device)"), (tmp_path, "is a directory")):
        for fn in (vidprov.read_video, vidprov.probe):
            with pytest.raises(NotAVideoError, match=r"^.*: " + reason.replace("(", r"\(").replace(")", r"\)")):
                fn(path)
    assert time.monotonic() - t0 < 10  # nothing waited for a writer on the FIFO
    assert vidprov.read_video(small_mp4).num_frames == 10


def test_directory_listing_gives_every_item_a_row_and_skips_temp_names(tmp_path, small_mp4):
    os.mkfifo(tmp_path / "pipe")  # no video suffix, but not a plain file: listed so it gets a reason
    (tmp_path / "broken.webm").symlink_to(tmp_path / "nowhere")
    (tmp_path / "null.mp4").symlink_to("/dev/null")
    (tmp_path / "notes.txt").write_text("not a clip")
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "b.mkv").write_bytes(b"x")
    (sub / "loop").symlink_to(tmp_path)  # a link back up: not followed
    (tmp_path / f"{TEMP_PREFIX}123.a.mp4.x.part").write_bytes(b"")
    tmp_dir = tmp_path / f"{TEMP_PREFIX}123.generate.x"
    tmp_dir.mkdir()
    (tmp_dir / "clip.mp4").write_bytes(b"half")
    names = [p.relative_to(tmp_path).as_posix() for p in list_videos([tmp_path])]
    assert names == ["a.mp4", "broken.webm", "null.mp4", "pipe", "sub/b.mkv"]


# -- 3: no litter after a crash ------------------------------------------------------------------

def test_temp_names_are_recognised_and_stale_ones_removed(tmp_path):
    dead, live = dead_pid(), os.getpid()
    stale = tmp_path / f"{TEMP_PREFIX}{dead}.out.mp4.abc.part"
    stale.write_bytes(b"")
    stale_dir = tmp_path / f"{TEMP_PREFIX}{dead}.generate.xyz"
    stale_dir.mkdir()
    (stale_dir / "clip.mp4").write_bytes(b"unsigned")
    running = tmp_path / f"{temp_prefix('out.mp4')}def.part"
    running.write_bytes(b"")
    other = tmp_path / ".hidden.mp4.part"  # not vidprov's: left alone
    other.write_bytes(b"")
    assert remove_stale_temps(tmp_path) == 2
    assert not stale.exists() and not stale_dir.exists() and running.exists() and other.exists()
    assert is_temp_name(running.name) and str(live) in running.name


def test_killed_writer_leaves_nothing_a_scan_or_manifest_sees(tmp_path):
    # a writer killed mid-write: its temp file stays, but it is invisible to walks and the next job removes it
    out = tmp_path / "real"
    out.mkdir()
    code = ("import os, sys; from vidprov.atomic import atomic_write; "
            "atomic_write(sys.argv[1], lambda tmp: os._exit(9))")
    assert subprocess.run([sys.executable, "-c", code, str(out / "x.mp4")]).returncode == 9
    left = [p.name for p in out.iterdir()]
    assert len(left) == 1 and is_temp_name(left[0])
    assert list_videos([tmp_path]) == []
    with pytest.raises(vidprov.manifest.ManifestError):
        vidprov.Manifest.from_folder(tmp_path)  # no clip there: the temp file is not one
    from vidprov.atomic import remove_stale_temps_below

    assert remove_stale_temps_below(tmp_path) == 1
    assert list(out.iterdir()) == []
    atomic_write_bytes(out / "y.bin", b"ok")
    assert [p.name for p in out.iterdir()] == ["y.bin"]


# -- 1: bounded memory and time ------------------------------------------------------------------

def test_limits_refuse_before_spending(tmp_path, small_mp4):
    with pytest.raises(VideoTooLargeError, match="time limit"):
        vidprov.read_video(small_mp4, limits=Limits(max_seconds=0.0))
    with pytest.raises(VideoTooLargeError, match="would decode more than"):
        vidprov.read_video(small_mp4, limits=Limits(max_decoded_pixels=64 * 48 * 5))  # header: 10 frames
    gif = hostile.gif_big_screen(tmp_path / "screen.gif", screen=600, frames=400)
    assert vidprov.probe(gif).num_frames == 400 and (vidprov.probe(gif).width, vidprov.probe(gif).height) == (600, 600)
    few = Limits(max_decoded_pixels=600 * 600 * 50)
    with pytest.raises(VideoTooLargeError, match="would decode more than"):  # from the frame count, before decoding
        vidprov.read_video(gif, size=32, limits=few)
    with pytest.raises(VideoTooLargeError, match="decoded more than"):  # a part of unknown length: counted as decoded
        vidprov.read_video(gif, size=32, start_s=0.5, limits=few)
    with pytest.raises(VideoTooLargeError, match="per frame"):
        vidprov.read_video(gif, limits=Limits(max_pixels=500 * 500))
    with pytest.raises(VideoTooLargeError, match="decoded frames exceed"):
        vidprov.read_video(gif, limits=Limits(max_decoded_bytes=600 * 600 * 3 * 20))
    clip = vidprov.read_video(gif, max_frames=30, size=32)
    assert clip.frames.shape == (30, 32, 32, 3)


def test_decoded_bytes_limit_holds_in_resident_memory(tmp_path):
    big = hostile.h264_large(tmp_path / "big.mp4", width=1024, height=1024, frames=60)  # 3 MB per RGB frame
    code = ("import resource, sys, vidprov\n"
            "from vidprov.limits import Limits\n"
            "vidprov.read_video(sys.argv[2], max_frames=2)\n"
            "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
            "try:\n    vidprov.read_video(sys.argv[1], limits=Limits(max_decoded_bytes=64 * 2**20))\nexcept vidprov.VidprovError as e:\n"
            "    print(str(e).split(':')[-1])\n"
            "print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024)\n")
    r = subprocess.run([sys.executable, "-c", code, str(big), str(big)], capture_output=True, text=True, check=True)
    message, grown_mb = r.stdout.strip().splitlines()
    assert "decoded frames exceed" in message
    # the 64 MB of frames plus FFmpeg's own buffers; the old doubling array went to ~1.7x the limit
    assert float(grown_mb) < 64 + 48, r.stdout


def test_spread_windows_of_a_gif_take_one_pass(tmp_path):
    gif = hostile.gif_big_screen(tmp_path / "long.gif", screen=64, frames=600, tile=16, delay_cs=4)  # 24 s
    info = vidprov.probe(gif)
    spec = WindowSpec(size=32, num_frames=4, max_windows=4, fps=2.0)
    wins = list(iter_spread_windows_one_pass(gif, spec, info.duration_s, src_fps=info.fps))
    assert [round(w.start_s, 2) for w in wins] == list(np.round(np.linspace(0, info.duration_s - spec.window_s, 4), 2))
    assert all(w.clip.frames.shape == (4, 32, 32, 3) for w in wins)
    one = scan_windows(gif, spec, info.duration_s, info.fps, seekable=False)
    assert one.__name__ == "iter_spread_windows_one_pass"
    assert json.dumps([w.start_s for w in one]) == json.dumps([w.start_s for w in wins])


def test_bench_limits_measures_the_command_not_its_parent():
    from vidprov.benchmarks.limits import one_line_error, run_measured

    ballast = np.ones(200 * 2**20, np.uint8)  # a large benchmark process must not inflate the figure
    r = run_measured([sys.executable, "-S", "-c", "import sys; b = bytearray(80 * 2**20); sys.exit('error: too big')"])
    assert 80 < r["peak_rss_mb"] < 80 + 60 and ballast[0] == 1
    assert r["exit"] == 1 and one_line_error(r) and r["message"] == "error: too big"
    r = run_measured([sys.executable, "-S", "-c", "import time; time.sleep(30)"], kill_after_s=0.5)
    assert r["killed"] and not one_line_error(r) and r["wall_s"] < 10
