"""Window decoding in a separate process, so one scan really uses two cores.

On CPython the decode thread of a scan and the scoring thread share one interpreter lock: measured
on the 2-core machine here, each slowed the other about 2x, and the thread pipeline gained ~1%
(`vidprov bench scan`). A worker process has its own interpreter: it decodes, resizes and
round-trips the next windows while the scanning process scores the current ones.

The worker is `python -m vidprov.detector.decode_worker`, started with subprocess rather than
multiprocessing: spawn would re-run the caller's main module in the child (a script without a
`__main__` guard, a Streamlit app), and fork is unsafe next to torch and server threads. Jobs (a
path or bytes, the window spec, limits) go to its stdin and windows come back on its stdout as
pickles; the pipe blocks the worker when the scan falls behind, so memory stays bounded. Errors
the decode raises come back with their type and message; a worker that dies is reported as a
VidprovError, and a worker whose job was abandoned mid-way is terminated rather than reused.
"""

from __future__ import annotations

import logging
import os
import pickle
import subprocess
import sys
import threading
from collections.abc import Iterator
from itertools import count

from vidprov.errors import VidprovError

log = logging.getLogger(__name__)

MAX_SEND_BYTES = 64 * 2**20  # larger in-memory videos are decoded in the scanning process (no copy)


class WorkerError(VidprovError):
    """The decode worker died (FFmpeg crashing on a hostile file, the OS killing it) or would not start.
    A VidprovError, so a batch scan reports the file as an error row and carries on."""


class WorkerStartError(WorkerError):
    """No worker process could be started here (scans then decode in-process)."""


def _rebuild(name: str, message: str, is_vidprov: bool) -> Exception:
    from vidprov import errors

    cls = getattr(errors, name, None)
    if isinstance(cls, type) and issubclass(cls, errors.VidprovError):
        return cls(message)
    if is_vidprov:
        return errors.VidprovError(message)
    if name == "ValueError":
        return ValueError(message)
    if name in ("OSError", "FileNotFoundError", "PermissionError", "IsADirectoryError"):
        return OSError(message)
    return WorkerError(message)


class DecodeWorker:
    """One worker process that turns (source, spec) jobs into streamed windows, one job at a time."""

    _ids = count()

    def __init__(self):
        env = dict(os.environ)
        # The child must import the same vidprov as this process, installed or not.
        env["PYTHONPATH"] = os.pathsep.join([p for p in sys.path if p] + [env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        try:
            self._proc = subprocess.Popen([sys.executable, "-m", "vidprov.detector.decode_worker"],
                                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        except (OSError, ValueError) as exc:
            raise WorkerStartError(f"the decode worker could not be started ({exc})") from exc
        self._ready = False
        self.broken = False

    def _read(self):
        try:
            return pickle.load(self._proc.stdout)
        except (EOFError, OSError, pickle.UnpicklingError) as exc:
            self.broken = True
            code = self._proc.poll()
            raise WorkerError(f"the decode worker died (exit code {code}) while reading the video") from exc

    def wait_ready(self) -> None:
        if self._ready:
            return
        try:
            kind, _, _ = self._read()
        except WorkerError as exc:
            raise WorkerStartError(f"the decode worker did not start (exit code {self._proc.poll()})") from exc
        if kind != "ready":
            self.broken = True
            raise WorkerStartError(f"the decode worker sent {kind!r} before it was ready")
        self._ready = True

    def windows(self, src, spec, duration, src_fps, limits) -> Iterator:
        """Windows of one source, as the worker makes them. Abandoning the iterator early marks the
        worker broken (its pipe still holds that job's windows), so the owner replaces it."""
        from vidprov.clip import Clip
        from vidprov.detector.windows import Window

        self.wait_ready()
        job_id = next(self._ids)
        try:
            pickle.dump((job_id, src, spec, duration, src_fps, limits), self._proc.stdin, protocol=5)
            self._proc.stdin.flush()
        except OSError as exc:
            self.broken = True
            raise WorkerError(f"the decode worker died (exit code {self._proc.poll()})") from exc
        finished = False
        try:
            while True:
                kind, jid, payload = self._read()
                if jid != job_id:
                    self.broken = True
                    raise WorkerError(f"the decode worker answered job {jid}, expected {job_id}")
                if kind == "window":
                    start_s, end_s, frames, fps, meta = payload
                    yield Window(start_s, end_s, Clip(frames, fps=fps, meta=meta))
                elif kind == "done":
                    finished = True
                    return
                else:
                    finished = True
                    raise _rebuild(*payload)
        finally:
            if not finished:
                self.broken = True

    def close(self) -> None:
        proc = self._proc
        if proc.poll() is None and not self.broken:
            try:
                pickle.dump(None, proc.stdin)
                proc.stdin.close()
                proc.wait(timeout=2.0)
            except (OSError, ValueError, subprocess.TimeoutExpired):
                pass
        if proc.poll() is None:
            proc.kill()  # broken workers may be blocked writing a window nobody reads
            proc.wait(timeout=5.0)
        for f in (proc.stdin, proc.stdout):
            try:
                f.close()
            except OSError:
                pass


class WorkerPool:
    """Idle decode workers shared by the threads of one Scanner; one worker per concurrent scan."""

    def __init__(self):
        self._idle: list[DecodeWorker] = []
        self._lock = threading.Lock()
        self._closed = False
        self.disabled = False  # set when no worker can start here: scans then decode in-process

    def warm(self) -> None:
        """Start one worker now, so that its imports overlap whatever the caller does next."""
        with self._lock:
            if self._idle or self._closed or self.disabled:
                return
            try:
                self._idle.append(DecodeWorker())
            except WorkerStartError as exc:
                self._disable(exc)

    def _disable(self, exc: Exception) -> None:
        if not self.disabled:
            log.warning("no decode worker process (%s); scans decode in this process", exc)
        self.disabled = True

    def windows(self, src, spec, duration, src_fps, limits) -> Iterator:
        from vidprov.detector.windows import scan_windows

        with self._lock:
            if self._closed:
                raise WorkerError("the scanner was closed")
            worker = self._idle.pop() if self._idle else None
        try:
            if self.disabled:
                raise WorkerStartError("disabled")
            worker = worker or DecodeWorker()
            worker.wait_ready()
        except WorkerStartError as exc:
            if worker is not None:
                worker.close()
            self._disable(exc)
            yield from scan_windows(src, spec, duration, src_fps, limits)
            return
        try:
            yield from worker.windows(src, spec, duration, src_fps, limits)
        finally:
            with self._lock:
                reuse = not worker.broken and not self._closed
                if reuse:
                    self._idle.append(worker)
            if not reuse:
                worker.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for w in idle:
            w.close()


def _serve() -> None:
    """Worker main loop: jobs from stdin, windows and outcomes to the real stdout."""
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # stray prints must not corrupt the window stream
    jobs = sys.stdin.buffer

    import cv2

    from vidprov.detector.windows import scan_windows

    cv2.setNumThreads(1)  # the worker shares the machine with the scoring process

    def send(item) -> None:
        pickle.dump(item, out, protocol=5)
        out.flush()

    send(("ready", None, None))
    while True:
        try:
            job = pickle.load(jobs)
        except EOFError:
            return
        if job is None:
            return
        job_id, src, spec, duration, src_fps, limits = job
        try:
            for w in scan_windows(src, spec, duration, src_fps, limits):
                send(("window", job_id, (w.start_s, w.end_s, w.clip.frames, w.clip.fps, w.clip.meta)))
            send(("done", job_id, None))
        except (VidprovError, ValueError, OSError) as exc:
            # Sent as (type name, message, is a VidprovError): the class is rebuilt on the other side.
            send(("error", job_id, (type(exc).__name__, str(exc), isinstance(exc, VidprovError))))
        except Exception as exc:  # a bug: reported as this file's failure rather than killing the worker
            log.exception("decode worker failed")
            send(("error", job_id, (type(exc).__name__, f"decode worker failed: {exc}", False)))


if __name__ == "__main__":
    try:
        _serve()
    except BrokenPipeError:  # the scanner went away
        pass
