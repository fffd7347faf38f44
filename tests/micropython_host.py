"""Running specs on the real MicroPython interpreter from pytest: the 32-bit node interpreter
(`perimeter node build --board unix32`: MicroPython v1.28.0 built from the pinned sources with
gcc -m32, the node and the full-node harness frozen in), its own mpy-cross, and the device
specs compiled for it as a board holds them. Shared by the spec modules that drive
MicroPython (never imported from one another)."""

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.tools import node_image

ROOT = Path(__file__).resolve().parents[1]
# Specs that drive MicroPython from CPython (pytest fixtures, subprocesses): not compiled.
CPYTHON_ONLY = (
    "test_node_tool.py",
    "test_full_node_run.py",
    "test_stub_types.py",
    "test_rp2040_image.py",
    "test_rp2040_in_the_loop.py",
    "manifest.py",
    "on_rp2040.py",
)


def _built(what: str, build: Callable[[], Path]) -> str:
    try:
        return str(build())
    except node_image.BuildError as exc:
        pytest.fail("cannot build %s: %s" % (what, exc))


def micropython() -> str:
    """The 32-bit node interpreter; built on first use, then taken from the cache."""
    return _built("the 32-bit node interpreter", lambda: node_image.build("unix32", say=_quiet))


def mpy_cross() -> str:
    """The pinned sources' mpy-cross, whose .mpy version the node interpreter reads."""
    return _built("mpy-cross", lambda: node_image.mpy_cross_command(say=_quiet))


def _quiet(line: str) -> None:
    print("node image: " + line)


def compiled_tree(out: Path) -> Path:
    """The device specs and their harness compiled as a board holds them (32-bit x86 native
    code for viper). The node itself is not in the tree: the interpreter has it frozen."""
    sources = [ROOT / "tests" / "__init__.py", ROOT / "tests" / "device" / "__init__.py"]
    sources += [p for p in sorted((ROOT / "tests" / "device").glob("*.py")) if p.name not in CPYTHON_ONLY]
    for source in sources:
        relative = source.relative_to(ROOT)
        target = out / relative.with_suffix(".mpy")
        target.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [mpy_cross(), "-march=x86", "-s", str(relative), "-o", str(target), str(source)],
            check=True,
            capture_output=True,
        )
    shutil.copy(ROOT / "tests" / "micropython_runner.py", out / "tests" / "micropython_runner.py")
    return out
