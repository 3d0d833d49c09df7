"""The error hierarchy. Every error a user can cause derives from VidprovError; the CLI turns
those into a one-line message and exit code 2 instead of a traceback."""

from __future__ import annotations


class VidprovError(Exception):
    """Base class of errors caused by input or configuration rather than by a bug."""


class VideoError(VidprovError):
    """A video could not be read or written."""


class NotAVideoError(VideoError):
    """The input is not a video at all (empty, text, an image, missing)."""


class CorruptVideoError(VideoError):
    """The input looks like a video but cannot be decoded (truncated, damaged, no frames)."""


class VideoTooLargeError(VideoError):
    """The input exceeds a configured safety limit (pixels, frames, duration, bytes)."""


class UnsupportedVideoError(VideoError):
    """The input is a video in a form vidprov does not handle (codec, layout)."""
