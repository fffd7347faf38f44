"""What the daemon's process sets up for itself before it serves: room for descriptors, files
no one else reads, and a log that a flood cannot fill.

- Descriptors: the soft limit is raised to the hard one (systemd's `LimitNOFILE`), so the web
  gate's caps (`connection_gate.py`), not the kernel's 1,024, are what a flood meets, and a
  replugged serial port can always be opened again.
- `umask 027`: the journal, its WAL and the witness file are created readable by the
  gateway's user and group only (before: 0644, the evidence readable by any local account).
- A log record repeated (the same logger, level and message template) is written at most once
  a minute, with how many were held back: asyncio's `accept()` error under a descriptor
  flood wrote a traceback per attempt, 507 MB in 20 s.
"""

import logging
import os
import resource
import time
from collections.abc import Callable
from pathlib import Path

UMASK = 0o027
REPEAT_S = 60.0
MAX_TRACKED = 1000  # message templates remembered; the oldest forgotten beyond


def raise_descriptor_limit() -> tuple[int, int]:
    """The soft RLIMIT_NOFILE raised to the hard one; (soft, hard) as they are now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        wanted = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        except (ValueError, OSError):
            pass  # kept as it was; the gate's caps still hold
    return resource.getrlimit(resource.RLIMIT_NOFILE)


class RepeatFilter(logging.Filter):
    """Lets a record through if its (logger, level, template) was not let through within
    `every_s`; the next one let through says how many were held back."""

    def __init__(self, every_s: float = REPEAT_S, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.every_s = every_s
        self.clock = clock
        self._last: dict[tuple[str, int, str], tuple[float, int]] = {}  # key -> (when let through, held since)

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, record.levelno, str(record.msg))
        now = self.clock()
        seen = self._last.get(key)
        if seen is not None and now - seen[0] < self.every_s:
            self._last[key] = (seen[0], seen[1] + 1)
            return False
        if seen is not None and seen[1]:
            record.msg = "%s [%d like it held back in the last %.0f s]" % (record.msg, seen[1], now - seen[0])
        if len(self._last) >= MAX_TRACKED:
            self._last.pop(next(iter(self._last)))
        self._last[key] = (now, 0)
        return True


def harden_process() -> None:
    """Everything above, once, before the daemon opens a file or a socket."""
    os.umask(UMASK)
    raise_descriptor_limit()
    repeats = RepeatFilter()
    for handler in logging.getLogger().handlers:
        handler.addFilter(repeats)


def private_to_group(path: Path) -> None:
    """The journal and its WAL readable by the gateway's user and group only (a journal made
    before `umask 027`, or by hand, was 0644)."""
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            mode = file.stat().st_mode & 0o777
            if mode & 0o007:
                file.chmod(mode & ~0o007)
        except OSError:
            pass  # not there (no WAL yet), or not ours to change: SQLite's own errors say more
