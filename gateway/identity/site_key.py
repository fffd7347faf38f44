"""The site key file, read one way everywhere (the gateway's config, the frame tool, node
deploys): 32 raw bytes or 64 hex digits, and readable by its owner alone. The key derives
every node's keys; a copy others can read is refused, not warned about."""

import stat
from dataclasses import dataclass
from pathlib import Path

from protocol.keys import SITE_KEY_SIZE


@dataclass(frozen=True)
class SiteKeys:
    """The site's node-key epochs: the epoch nodes are on; whether a key change to the next
    one is under way (each node agrees its next key with the gateway); the store of each
    node's own key (`gateway/identity/node_keys.py`) and the file of revoked node keys
    (`gateway/identity/revocations.py`)."""

    epoch: int = 0
    key_change: bool = False
    revocations: Path | None = None
    node_keys: Path | None = None

    @property
    def next_epoch(self) -> int | None:
        return (self.epoch + 1) & 0xFF if self.key_change else None


class KeyFileError(Exception):
    """The key file cannot be used; the message says why and what to do."""


def read_site_key(path: str | Path, setting: str | None = None) -> bytes:
    """The key in `path`; a KeyFileError names the config `setting` it came from, if given."""
    try:
        return _read(Path(path))
    except KeyFileError as exc:
        raise KeyFileError("%s: %s" % (setting, exc) if setting else str(exc)) from None


def _read(path: Path) -> bytes:
    try:
        mode = path.stat().st_mode
        raw = path.read_bytes()
    except OSError as exc:
        raise KeyFileError("cannot read site key file %s: %s" % (path, exc.strerror)) from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError("site key file %s is readable by group or others; chmod 600 it" % path)
    key = site_key_from_bytes(raw)
    if key is None:
        raise KeyFileError(
            "site key file %s must hold %d bytes as %d hex digits (or raw)" % (path, SITE_KEY_SIZE, 2 * SITE_KEY_SIZE)
        )
    return key


def site_key_from_bytes(raw: bytes) -> bytes | None:
    """A site key file's key: 32 raw bytes, or 64 hex digits (whitespace around them allowed)."""
    if len(raw) == SITE_KEY_SIZE:
        return raw
    try:
        key = bytes.fromhex(raw.decode("ascii").strip())
    except (UnicodeDecodeError, ValueError):
        return None
    return key if len(key) == SITE_KEY_SIZE else None


def write_site_key(path: str | Path, key: bytes) -> Path:
    """A key file as `read_site_key` wants it: 64 hex digits, readable by its owner alone."""
    path = Path(path)
    path.touch(mode=0o600)
    path.chmod(0o600)  # touch keeps the mode of a file that was already there
    path.write_text(key.hex())
    return path
