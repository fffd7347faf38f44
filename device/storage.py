"""Small persistent values (frame counter reservation, boot count) in one file.

A node writes these rarely (once per 256 frames, once per boot), so a whole-file rewrite is
fine. The file is written beside itself and renamed over the old one, so a power cut leaves
either the old or the new content, never half of each (rename is atomic on littlefs, FAT
and POSIX file systems).
"""

import json
import os


class StorageError(Exception):
    """The stored values cannot be read: the caller must not carry on as if they were zero."""


class FileStore:
    """Named integers in a JSON file (flash on a board, a temp file in simulation)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._values = self._read()

    def _read(self) -> dict:
        try:
            with open(self.path) as f:
                text = f.read()
        except OSError:
            return {}  # first boot: nothing stored yet
        try:
            values = json.loads(text)
        except ValueError:
            raise StorageError("%s is corrupt" % self.path) from None
        if not isinstance(values, dict):
            raise StorageError("%s is corrupt" % self.path) from None
        return values

    def get(self, name: str, default: int = 0) -> int:
        return self._values.get(name, default)

    def set(self, name: str, value: int) -> None:
        """Store `value` under `name`, on flash before this returns."""
        self._values[name] = value
        tmp = self.path + ".new"
        with open(tmp, "w") as f:
            f.write(json.dumps(self._values))
        os.rename(tmp, self.path)
