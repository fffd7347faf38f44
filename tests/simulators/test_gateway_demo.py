"""The README's demo runs to its end: a climb published once, every attack reported,
comm-fail raised and restored, the journal's chain intact."""

import subprocess
import sys


def test_gateway_demo_completes() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "simulators.gateway_demo"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "demo complete" in result.stdout and "chain intact" in result.stdout
