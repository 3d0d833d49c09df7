"""The app end to end in a real headless browser (Debian's Chromium driven by Playwright)."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from vidprov.samples import packaged_real_clips

pytest.importorskip("playwright", reason="playwright is in the dev extra: pip install -e '.[dev]'")
from vidprov.app import browser  # noqa: E402


def _install_chromium() -> str | None:
    """Install Debian's chromium package when it is missing; None on success, else why not."""
    if browser.CHROMIUM.exists():
        return None
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        return f"no Chromium at {browser.CHROMIUM} and no root apt-get to install it (apt-get install -y chromium)"
    for cmd in ([apt, "update", "-qq"], [apt, "install", "-y", "-qq", "chromium"]):
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                           env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        if r.returncode != 0:
            return f"apt-get could not install chromium: {(r.stderr or r.stdout).strip()[-300:]}"
    return None if browser.CHROMIUM.exists() else f"chromium installed but not at {browser.CHROMIUM}"


@pytest.fixture(scope="module")
def app_url():
    why = _install_chromium()
    if why:
        pytest.skip(why)
    with browser.serve(browser.free_port()) as url:
        yield url


def test_upload_shows_the_verdict_and_a_generated_clip_plays(app_url, tmp_path):
    clips = {p.name: p for p in packaged_real_clips()}
    clip = clips.get("carphone_pristine.mp4") or next(iter(clips.values()))
    with browser.browser_page() as page:
        text = browser.check_clip(page, app_url, clip)
        assert browser.VERDICT.search(text)
        page.screenshot(path=tmp_path / "check.png")
        body = page.inner_text("body")
        assert "Content Credentials (C2PA)" in body and "Traceback" not in body and "Page not found" not in body
        state = browser.generate_and_play(page, app_url)
        assert state["readyState"] >= 2 and state["currentTime"] > 0
        page.screenshot(path=tmp_path / "generate.png")
    assert (tmp_path / "check.png").stat().st_size > 10_000


def test_a_corrupt_upload_gets_a_message_in_the_page(app_url, tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x17" * 4000)
    with browser.browser_page() as page:
        page.goto(f"{app_url}/")
        page.wait_for_selector(browser.UPLOAD_INPUT, state="attached", timeout=60_000)
        page.set_input_files(browser.UPLOAD_INPUT, str(bad))
        alert = page.locator('[data-testid="stAlertContentError"]').first
        alert.wait_for(timeout=120_000)
        assert "broken.mp4" in alert.inner_text()
        assert page.locator('[data-testid="stException"]').count() == 0
