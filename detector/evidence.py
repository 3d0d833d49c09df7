"""What a scan's report cannot say by itself: whether the clip is of a kind the detector was built for,
and a noise-residual map of a frame to look at."""

from __future__ import annotations

import numpy as np

from vidprov.color import luma_u8

# Below these the detector sees less than it was trained on (16 frames at 8 fps, 256-px crops of
# windows of camera clips): its score can still be computed, but it means less.
MIN_DURATION_S = 2.0
MIN_SIDE_PX = 240
MIN_BITS_PER_PIXEL = 0.02


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
    grey = luma_u8(frame)
    resid = np.abs(grey.astype(np.float32) - cv2.medianBlur(grey, 3).astype(np.float32))
    top = float(np.percentile(resid, 99)) or 1.0
    return (np.clip(resid / top, 0, 1) * 255).astype(np.uint8)
