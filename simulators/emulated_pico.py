"""The node's RP2040 image on the rp2040js emulator (`simulators/rp2040/board.mjs`), driven
from Python: its USB REPL (raw REPL, as mpremote speaks it), its UART0 link on a file
descriptor the caller gives (a pseudo-terminal's master, say), and its surroundings (the
ADXL345's fence, the impact channel, the tamper switch).

The emulator counts Cortex-M0+ cycles at 125 MHz, so code timed with ticks_us() on the board
takes what it would take on a Pico; it runs at about one simulated second per wall second here.
"""

import json
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path
from types import TracebackType

ROOT = Path(__file__).resolve().parents[1]
HARNESS = ROOT / "simulators" / "rp2040" / "board.mjs"
BOOTROM = "rp2040-bootrom-b1.bin"
REPORT_EVERY_S = 5.0  # board.mjs prints "speed S" every 5 simulated seconds


class PicoError(Exception):
    """The emulated board did not do what was asked; carries what it printed."""


def bootrom() -> Path:
    from gateway.tools.node_image import third_party

    path = third_party(BOOTROM) / BOOTROM
    if not path.exists():
        raise PicoError("the RP2040 boot ROM is missing: %s" % path)
    return path


class _Reader:
    """Collects what a pipe delivers, in a thread, for `expect`."""

    def __init__(self, stream: "object") -> None:
        self.data = bytearray()
        self._lock = threading.Condition()
        self._stream = stream
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        read = self._stream.read1  # type: ignore[attr-defined]
        while True:
            chunk = read(4096)
            if not chunk:
                break
            with self._lock:
                self.data += chunk
                self._lock.notify_all()

    def expect(self, marker: bytes, timeout: float) -> bytes:
        """Everything up to and including `marker`, removed from the buffer."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while marker not in self.data:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise PicoError(
                        "no %r from the board within %.0f s; it printed: %r"
                        % (marker, timeout, bytes(self.data[-600:]))
                    )
                self._lock.wait(min(left, 0.5))
            end = self.data.index(marker) + len(marker)
            taken = bytes(self.data[:end])
            del self.data[:end]
            return taken


class EmulatedPico:
    def __init__(self, image: Path, link_fd: "int | None" = None) -> None:
        self.image = image
        self.link_fd = link_fd
        self._process: subprocess.Popen[bytes] | None = None
        self._control_write: int | None = None
        self.speeds: list[float] = []

    def __enter__(self) -> "EmulatedPico":
        node = shutil.which("node")
        if node is None:
            raise PicoError("Node.js is needed for the rp2040js emulator (the README set-up installs it)")
        if not (HARNESS.parent / "node_modules" / "rp2040js").exists():
            raise PicoError("rp2040js is not installed: npm --prefix simulators/rp2040 ci (scripts/setup.sh does)")
        control_read, self._control_write = os.pipe()
        fds = [control_read] + ([self.link_fd] if self.link_fd is not None else [])
        command = [
            node,
            str(HARNESS),
            str(self.image),
            str(bootrom()),
            str(self.link_fd if self.link_fd is not None else "-"),
            str(control_read),
        ]
        self._process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, pass_fds=fds
        )
        os.close(control_read)
        assert self._process.stdout is not None and self._process.stderr is not None
        self.console = _Reader(self._process.stdout)
        threading.Thread(target=self._speed, args=(self._process.stderr,), daemon=True).start()
        return self

    def __exit__(
        self, kind: "type[BaseException] | None", exc: "BaseException | None", tb: "TracebackType | None"
    ) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait()
        if self._control_write is not None:
            os.close(self._control_write)
            self._control_write = None

    @property
    def simulated_s(self) -> float:
        """How far the board's clock has run, to within 5 s: the harness reports its pace
        every 5 simulated seconds. Waits on a board are measured in its time, not the host's:
        the emulator's pace differs from one machine to the next by two times and more."""
        return REPORT_EVERY_S * len(self.speeds)

    def _speed(self, stream: "object") -> None:
        for line in iter(stream.readline, b""):  # type: ignore[attr-defined]
            if line.startswith(b"speed "):
                self.speeds.append(float(line.split()[1]))

    # -- the surroundings ------------------------------------------------------------------------

    def set(self, **what: object) -> None:
        """fence="climb"|"quiet", impact=0..4095, tamper=True (open) | False (closed)."""
        assert self._control_write is not None
        os.write(self._control_write, (json.dumps(what) + "\n").encode())

    # -- the REPL --------------------------------------------------------------------------------

    def send(self, data: bytes) -> None:
        assert self._process is not None and self._process.stdin is not None
        self._process.stdin.write(data)
        self._process.stdin.flush()

    def raw_repl(self, timeout: float = 90.0) -> None:
        """Interrupt whatever runs and enter the raw REPL."""
        deadline = time.monotonic() + timeout
        while True:
            self.send(b"\r\x03\x03\x01")
            try:
                self.console.expect(b"raw REPL; CTRL-B to exit\r\n>", timeout=5)
                return
            except PicoError:
                if time.monotonic() > deadline:
                    raise

    def run(self, code: str, timeout: float = 120.0) -> str:
        """Run code in the raw REPL; returns what it printed. PicoError if it raised."""
        self.send(code.encode() + b"\x04")
        self.console.expect(b"OK", timeout=timeout)
        out = self.console.expect(b"\x04", timeout=timeout)[:-1]
        err = self.console.expect(b"\x04>", timeout=timeout)[:-2]
        if err.strip():
            raise PicoError(
                "the board raised:\n%s\n(after printing %s)"
                % (err.decode(errors="replace"), out.decode(errors="replace"))
            )
        return out.decode(errors="replace")

    def write_file(self, path: str, data: bytes) -> None:
        """Write a file on the board's LittleFS, creating its folders."""
        parts = path.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            self.run("import os\ntry:\n os.mkdir(%r)\nexcept OSError:\n pass" % "/".join(parts[:i]))
        self.run("f = open(%r, 'wb')" % path)
        for start in range(0, len(data), 512):
            self.run("f.write(%r)" % data[start : start + 512])
        self.run("f.close()")

    def soft_reset(self) -> None:
        """Leave the raw REPL and soft-reset: the board runs its frozen main.py again."""
        self.send(b"\x02\x04")
