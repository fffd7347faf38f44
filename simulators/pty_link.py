"""A serial link as a real pseudo-terminal: the gateway opens its slave end by a stable path."""

import os
import time
import tty
from pathlib import Path


class Pty:
    """A pseudo-terminal whose slave end the gateway opens by a stable path (a symlink), as
    udev gives a USB adapter a stable name. `unplug()` closes the master end; `plug()` makes
    a new pty and points the link at it."""

    def __init__(self, link: Path) -> None:
        self.link = link
        self.master: int | None = None
        self.plug()

    def plug(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo, no line editing, before the gateway opens it
        name = os.ttyname(slave)
        os.close(slave)
        os.set_blocking(master, False)
        self.master = master
        tmp = self.link.with_suffix(".new")
        if tmp.exists() or tmp.is_symlink():
            tmp.unlink()
        tmp.symlink_to(name)
        tmp.replace(self.link)

    def unplug(self) -> None:
        if self.master is not None:
            os.close(self.master)
            self.master = None
        if self.link.is_symlink():
            self.link.unlink()

    def write(self, data: bytes, *, drop_when_full: bool = False) -> bool:
        """Write all of `data`; with `drop_when_full`, give up (False) when nobody is reading,
        as a node's transmission is lost when the gateway is not listening."""
        assert self.master is not None
        view = memoryview(data)
        while view:
            try:
                n = os.write(self.master, view)
            except BlockingIOError:
                if drop_when_full:
                    return False
                time.sleep(0.001)
                continue
            view = view[n:]
        return True

    def read(self) -> bytes:
        if self.master is None:
            return b""
        chunks = []
        while True:
            try:
                chunk = os.read(self.master, 4096)
            except (BlockingIOError, OSError):
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)
