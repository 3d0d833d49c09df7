"""Watermark keys and the per-user config folder.

A key is any secret string (a passphrase, or the hex the default key file holds). Everything the
watermark needs is derived from it with SHA-256, so the same key always gives the same patterns;
the key id (a hash prefix) is safe to publish, e.g. in a C2PA soft-binding assertion.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidprov.errors import VidprovError

ENV_HOME = "VIDPROV_HOME"
DEFAULT_KEY_FILE = "watermark.key"


class WatermarkKeyError(VidprovError):
    """A watermark key is missing, empty or unreadable."""


@dataclass(frozen=True)
class WatermarkKey:
    secret: bytes

    @property
    def key_id(self) -> str:
        """Public identifier: 16 hex digits of a hash that cannot be inverted to the key."""
        return hashlib.sha256(b"vidprov-key-id\0" + self.secret).hexdigest()[:16]

    def rng(self, purpose: str) -> np.random.Generator:
        """An independent random stream per purpose (phases, scrambling, latent rings...)."""
        digest = hashlib.sha256(b"vidprov-wm-v1\0" + purpose.encode() + b"\0" + self.secret).digest()
        return np.random.default_rng(np.frombuffer(digest, dtype=np.uint64))

    def __repr__(self) -> str:  # never print the secret
        return f"WatermarkKey(id={self.key_id})"


def as_key(key: str | bytes | WatermarkKey) -> WatermarkKey:
    if isinstance(key, WatermarkKey):
        return key
    if isinstance(key, str):
        key = key.encode()
    if not isinstance(key, (bytes, bytearray)) or len(key) == 0:
        raise WatermarkKeyError("a watermark key must be a non-empty string")
    return WatermarkKey(bytes(key))


def vidprov_home() -> Path:
    """The per-user config folder: $VIDPROV_HOME, else ~/.config/vidprov."""
    env = os.environ.get(ENV_HOME)
    return Path(env).expanduser() if env else Path.home() / ".config" / "vidprov"


def write_private(path: Path, data: bytes) -> None:
    """Atomic write readable by the owner only (keys, private keys)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def default_key(create: bool = True) -> WatermarkKey | None:
    """The per-user default key (created on first use with 256 random bits)."""
    path = vidprov_home() / DEFAULT_KEY_FILE
    if not path.exists():
        if not create:
            return None
        write_private(path, (secrets.token_hex(32) + "\n").encode())
    try:
        text = path.read_text().strip()
    except OSError as exc:
        raise WatermarkKeyError(f"{path}: cannot read the default watermark key ({exc})") from exc
    if not text:
        raise WatermarkKeyError(f"{path}: the default watermark key file is empty")
    return as_key(text)


MESSAGE_BYTES = 3  # the user's share of the mark's 64 bits (see binding.py for the rest)


def parse_payload(payload: str | bytes | None, key: WatermarkKey) -> bytes:
    """The 3 message bytes a mark carries: given as up to 6 hex digits or 3 bytes; by default the
    first 3 bytes of the key id."""
    if payload is None:
        return bytes.fromhex(key.key_id)[:MESSAGE_BYTES]
    raw = _hex_bytes(payload)
    if len(raw) > MESSAGE_BYTES:
        raise WatermarkKeyError(f"payload holds at most {MESSAGE_BYTES * 8} bits ({MESSAGE_BYTES * 2} hex digits), "
                                f"got {len(raw) * 8}; the rest of the mark's 64 bits bind it to the content and key")
    return raw.rjust(MESSAGE_BYTES, b"\0")


def parse_expected(payload: str | bytes) -> bytes:
    """An expected payload to compare a detection with: the 3-byte message or the whole 8-byte word."""
    raw = _hex_bytes(payload)
    if len(raw) > 8:
        raise WatermarkKeyError(f"a mark carries 64 bits (16 hex digits), got {len(raw) * 8}")
    return raw.rjust(MESSAGE_BYTES, b"\0") if len(raw) <= MESSAGE_BYTES else raw.rjust(8, b"\0")


def _hex_bytes(payload: str | bytes) -> bytes:
    if isinstance(payload, str):
        text = payload.strip().lower().removeprefix("0x")
        if len(text) % 2:
            text = "0" + text
        try:
            return bytes.fromhex(text)
        except ValueError as exc:
            raise WatermarkKeyError(f"payload must be hex, got {payload!r}") from exc
    return bytes(payload)
