"""The device room type-checks against each board's MicroPython stubs, in its own mypy run
(DESIGN.md: device firmware rules). The set-up installs the stubs of each port into
.venv/stubs/<port>; device/mypy-stubs.ini holds the checker's settings."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BOARDS = {"esp32": "rp2", "rp2": "esp32"}  # each run leaves out the other port's board file


@pytest.mark.parametrize("port", sorted(BOARDS))
def test_device_code_type_checks_against_the_ports_stubs(port: str) -> None:
    stubs = ROOT / ".venv" / "stubs" / port
    assert (stubs / "machine.pyi").exists(), "no stubs in %s: run scripts/setup.sh" % stubs
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            "device/mypy-stubs.ini",
            "--exclude",
            "device/boards/%s.py" % BOARDS[port],
            "--cache-dir",
            str(ROOT / ".venv" / ("mypy-cache-" + port)),
        ],
        cwd=ROOT,
        env={**os.environ, "MYPYPATH": str(stubs)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0 and "Success" in result.stdout, result.stdout + result.stderr
