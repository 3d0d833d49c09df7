"""A scan's evidence in words and pictures: what kind of signal drove the score, whether the clip is
of a kind the detector was built for, and a noise-residual map of a frame to look at."""

from __future__ import annotations

from typing import Any

import numpy as np

# Feature-name prefixes of the shipped detectors, grouped by the kind of signal they measure.
SIGNAL_KINDS = {
    "diff1": ("motion", "how much the picture changes from frame to frame"),
    "diff2": ("motion", "how smoothly the frame-to-frame change itself changes"),
    "curv": ("motion", "how curved the clip's path through pixel space is"),
    "flow": ("motion", "the optical flow: speed, smoothness and coherence of movement"),
    "warp": ("motion", "what is left after warping one frame onto the next along the flow"),
    "peak": ("frequency", "periodic peaks in the spectrum (upsampling and patch-grid traces)"),
    "spec": ("frequency", "the balance of fine detail against coarse detail"),
    "resid": ("noise", "the camera-noise residual: its strength, texture and correlation"),
}

# Below these the detector sees less than it was trained on (16 frames at 8 fps, 256-px crops of
# windows of camera clips): its score can still be computed, but it means less.
MIN_DURATION_S = 2.0
MIN_SIDE_PX = 240
MIN_BITS_PER_PIXEL = 0.02


def signal_kind(feature: str) -> tuple[str, str]:
    """(kind, plain description) of a detector feature name; unknown names are 'other'."""
    if feature.startswith("model:"):  # a fused detector's member network, as one signal
        return "combined", f"the {feature.split(':', 1)[1]} model's score as a whole"
    return SIGNAL_KINDS.get(feature.split("_")[0], ("other", feature.replace("_", " ")))


def drivers_in_words(drivers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A ScanReport's drivers grouped by kind of signal, strongest first: {kind, log_odds, towards,
    signals}, where signals are plain descriptions, each with the direction its features pushed in net."""
    kinds: dict[str, dict[str, float]] = {}
    for d in drivers:
        kind, words = signal_kind(str(d.get("feature", "")))
        signals = kinds.setdefault(kind, {})
        signals[words] = signals.get(words, 0.0) + float(d.get("log_odds", 0.0))
    out = []
    for kind, signals in kinds.items():
        total = sum(signals.values())
        out.append({"kind": kind, "log_odds": total, "towards": "generated" if total > 0 else "real",
                    "signals": [f"{w} ({'towards generated' if v > 0 else 'towards real'})"
                                for w, v in sorted(signals.items(), key=lambda kv: -abs(kv[1]))]})
    return sorted(out, key=lambda k: -abs(k["log_odds"]))


def scope_notes(info) -> list[str]:
    """Why a clip (a vidprov.probe VideoInfo) lies outside what the detector was built for; [] if it does not."""
    notes = []
    if info.duration_s and info.duration_s < MIN_DURATION_S:
        notes.append(f"very short ({info.duration_s:.1f} s): the detector looks at 2-s windows")
    if min(info.width, info.height) < MIN_SIDE_PX:
        notes.append(f"tiny ({info.width}x{info.height}): under {MIN_SIDE_PX} px on its short side, little of the "
                     "fine detail the detector measures is left")
    if info.size_bytes and info.duration_s and info.fps and info.width and info.height:
        bpp = 8 * info.size_bytes / (info.duration_s * info.fps * info.width * info.height)
        if bpp < MIN_BITS_PER_PIXEL:
            notes.append(f"heavily compressed ({bpp:.3f} bits per pixel): compression wipes out the fine traces "
                         "the detector reads")
    if str(info.codec).lower() == "gif" or str(info.container).lower().startswith("gif"):
        notes.append("an animated GIF (256 colours): colour quantisation changes the noise the detector reads")
    return notes


def noise_residual(frame: np.ndarray) -> np.ndarray:
    """uint8 (H, W, 3) frame -> uint8 (H, W) map of its high-frequency residual (frame minus a 3x3 median),
    scaled so the strongest 1% is white: camera noise looks like fine grain, generated frames are often
    smoother or show a regular pattern."""
    import cv2

    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError(f"expected a uint8 (H, W, 3) frame, got {frame.dtype} {frame.shape}")
    grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    resid = np.abs(grey.astype(np.float32) - cv2.medianBlur(grey, 3).astype(np.float32))
    top = float(np.percentile(resid, 99)) or 1.0
    return (np.clip(resid / top, 0, 1) * 255).astype(np.uint8)
