"""The app in a real browser: start it on a free loopback port, drive Debian's Chromium with Playwright.

`python -m vidprov.app.browser --out docs/app` (or `make screenshots`) writes one screenshot per page.
Playwright is a dev dependency (pyproject's `dev` extra); it drives the system Chromium
(`apt-get install chromium`), never a browser it downloads itself.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)

CHROMIUM = Path(os.environ.get("VIDPROV_CHROMIUM", "/usr/bin/chromium"))
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
UPLOAD_INPUT = '[data-testid="stFileUploaderDropzoneInput"]'
VERDICT = re.compile(r"Substantial evidence this clip|Uncertain: the detector|Little evidence this clip")
# Streamlit scrolls inside its main block, not the page: a tall viewport is what gets photographed.
VIEWPORT = {"width": 1280, "height": 1700}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(port: int, env: dict | None = None, timeout_s: float = 90.0) -> Iterator[str]:
    """`vidprov app --port port` as a subprocess; yields its URL once Streamlit answers its health check."""
    cmd = [sys.executable, "-m", "vidprov.cli", "app", "--port", str(port)]
    proc = subprocess.Popen(cmd, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
                raise RuntimeError(f"the app exited with code {proc.returncode}: {out[-2000:]}")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.read().strip() == b"ok":
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the app did not answer on {url} within {timeout_s:.0f} s")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def browser_page() -> Iterator:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS, headless=True)
        try:
            yield browser.new_page(viewport=VIEWPORT)
        finally:
            browser.close()


def settle(page, timeout_ms: int = 120_000) -> None:
    """Wait until Streamlit has finished running the page's script and the browser has drawn it."""
    page.wait_for_selector('[data-testid="stApp"]', timeout=timeout_ms)
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=timeout_ms)
    page.wait_for_function("() => [...document.images].every(i => i.complete)", timeout=timeout_ms)
    page.wait_for_timeout(1500)  # tables and charts draw on canvases after the script has finished


def check_clip(page, url: str, clip: Path, timeout_ms: int = 180_000) -> str:
    """Upload clip on the Check page; returns the verdict's text once it shows."""
    page.goto(f"{url}/")  # the default page lives at the root
    page.wait_for_selector(UPLOAD_INPUT, state="attached", timeout=timeout_ms)
    page.set_input_files(UPLOAD_INPUT, str(clip))
    verdict = page.get_by_text(VERDICT).first
    verdict.wait_for(timeout=timeout_ms)
    settle(page, timeout_ms)
    return verdict.inner_text()


def generate_and_play(page, url: str, timeout_ms: int = 180_000) -> dict:
    """Generate a clip on the Generate page; returns the video's state after it has played a while."""
    page.goto(f"{url}/generate")
    page.get_by_role("button", name="Generate").click()
    video = page.locator("video").first
    video.wait_for(timeout=timeout_ms)
    page.wait_for_function("() => { const v = document.querySelector('video'); return v && v.readyState >= 2; }",
                           timeout=timeout_ms)
    start = video.evaluate("v => { v.muted = true; v.play(); return v.currentTime; }")
    page.wait_for_function(f"() => document.querySelector('video').currentTime > {start}", timeout=30_000)
    settle(page, timeout_ms)
    return video.evaluate("v => ({readyState: v.readyState, currentTime: v.currentTime, duration: v.duration})")


def screenshots(out: Path, clip: Path, port: int | None = None) -> list[Path]:
    """One PNG per page into out: check (with clip's verdict), generate, how it works, benchmarks, about."""
    out.mkdir(parents=True, exist_ok=True)
    shots = []
    with serve(port or free_port()) as url, browser_page() as page:
        check_clip(page, url, clip)
        shots.append(out / "check.png")
        page.screenshot(path=shots[-1])
        generate_and_play(page, url)
        shots.append(out / "generate.png")
        page.screenshot(path=shots[-1])
        for name, path, ready in (("how-it-works", "how-it-works", "5. Attention across time"),
                                  ("benchmarks", "benchmarks", "Benchmarks"), ("about", "about", "What it cannot tell")):
            page.goto(f"{url}/{path}")
            page.get_by_text(ready).first.wait_for(timeout=180_000)
            settle(page)
            if page.get_by_text("Page not found").count():
                raise RuntimeError(f"Streamlit showed 'Page not found' for /{path}: its url_path no longer matches")
            shots.append(out / f"{name}.png")
            page.screenshot(path=shots[-1])
    return shots


def main() -> None:
    import argparse

    from vidprov.samples import packaged_real_clips

    ap = argparse.ArgumentParser(description="Screenshot every page of the app into a folder.")
    ap.add_argument("--out", type=Path, default=Path("docs/app"))
    ap.add_argument("--clip", type=Path, default=None, help="Clip for the Check page (default: a bundled sample).")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    clips = {p.name: p for p in packaged_real_clips()}
    clip = args.clip or clips.get("bikes.mp4") or next(iter(clips.values()), None)
    if clip is None:
        sys.exit("no sample clip to check: pass --clip FILE")
    if not CHROMIUM.exists():
        sys.exit(f"no Chromium at {CHROMIUM}: apt-get install -y chromium")
    for path in screenshots(args.out, clip):
        log.info("wrote %s", path)


if __name__ == "__main__":
    main()
