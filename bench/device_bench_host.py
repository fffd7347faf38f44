"""`bench/device_bench.py` run by CPython: the same bench on the 32-bit node interpreter and on
the RP2040 image booted on the rp2040js emulator, both built from the pinned sources."""

import subprocess
import sys
import time
from pathlib import Path

from gateway.tools import node_image
from simulators.emulated_pico import EmulatedPico

ROOT = Path(__file__).resolve().parents[1]
# What the bench imports that the RP2040 image does not freeze (the signal synthesizers).
ON_THE_BOARD = ("tests/__init__.py", "tests/device/__init__.py", "tests/device/signals.py", "tests/device/geophone.py")


def main() -> None:
    unix32 = node_image.build("unix32")
    print("== 32-bit unix build (%s), node frozen" % unix32.parent.name)
    sys.stdout.flush()
    subprocess.run([str(unix32), str(ROOT / "bench" / "device_bench.py")], check=True)
    image = node_image.build("rp2")
    print("\n== RP2040 image (%s) on rp2040js, Cortex-M0+ cycles at 125 MHz" % image.parent.name)
    sys.stdout.flush()
    started = time.monotonic()
    with EmulatedPico(image) as pico:
        pico.raw_repl()
        for path in ON_THE_BOARD:
            pico.write_file(path, (ROOT / path).read_bytes())
        pico.write_file("device_bench.py", (ROOT / "bench" / "device_bench.py").read_bytes())
        print(pico.run("import device_bench", timeout=1800), end="")
        speed = sum(pico.speeds) / len(pico.speeds) if pico.speeds else 0.0
    print("(emulator: %.2f simulated s per wall s; %.0f s in all)" % (speed, time.monotonic() - started))
