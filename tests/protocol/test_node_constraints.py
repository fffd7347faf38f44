"""The protocol room keeps to what a node can run (DESIGN.md: device firmware rules)."""

import re
import subprocess
from pathlib import Path

from gateway.tools.node_tool import GATEWAY_ONLY
from tests.micropython_host import micropython, mpy_cross

PROTOCOL = Path(__file__).resolve().parents[2] / "protocol"
NODE_MODULES = sorted(p for p in PROTOCOL.glob("*.py") if p.name not in GATEWAY_ONLY)
FORBIDDEN = {
    r"^\s*(import|from)\s+(typing|dataclasses|construct|enum|abc)\b": "a CPython-only module",
    r"struct\.Struct\(": "struct.Struct (MicroPython has none)",
    r"f\"[^\"]*=\}": "f-string '=' specifier",
    r"^\s*from\s+\.schema\b|^\s*import\s+protocol\.schema": "the construct schema",
}


def test_node_side_protocol_modules_use_only_micropython_features() -> None:
    for path in NODE_MODULES:
        text = path.read_text()
        for pattern, what in FORBIDDEN.items():
            match = re.search(pattern, text, re.MULTILINE)
            assert match is None, "%s uses %s: %r" % (path.name, what, match.group(0) if match else "")


def test_compiled_protocol_round_trips_frames_in_a_64k_micropython_heap(tmp_path: Path) -> None:
    (tmp_path / "protocol").mkdir()
    for path in NODE_MODULES:
        subprocess.run(
            [mpy_cross(), "-o", str(tmp_path / "protocol" / (path.stem + ".mpy")), str(path)],
            check=True,
            capture_output=True,
        )
    probe = Path(__file__).with_name("heap_probe.py")
    result = subprocess.run(
        [micropython(), "-X", "heapsize=64k", str(probe), str(tmp_path)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0 and result.stdout.endswith("ok\n"), result.stdout + result.stderr
