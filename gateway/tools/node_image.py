"""Node images built from the pinned MicroPython sources (`perimeter node build --board rp2|unix32`).

- `rp2`: `firmware.uf2` for a Raspberry Pi Pico (RP2040), with the node frozen into flash and
  its frozen `main.py` run at boot.
- `unix32`: the 32-bit unix interpreter (gcc -m32) with the node, and the harness of the
  full-node run, frozen in. The device specs, the full-node run and the simulated nodes run
  on it, so object sizes, small-int limits and the heap are a board's, not a 64-bit desktop's.

The sources are one pinned tarball (MicroPython v1.28.0 with its submodules, and picotool,
which the pico-sdk needs to write a UF2), checked against its SHA-256 and looked for in
`PERIMETER_THIRD_PARTY`, in the cache's own copy, then in `../shared/third_party` beside a
checkout; the first one found is copied into the cache, so an installed package builds too.
It is unpacked once, and each image is cached by everything that goes into it (the tarball,
the target's make flags, the manifests and every file they freeze), outside the checkout:
building the same inputs again is a lookup. ESP32 images need ESP-IDF, which is not pinned here: ESP32 nodes get the
mpy-cross folder that `node_tool.build` writes.
"""

import fcntl
import hashlib
import importlib.util
import os
import shutil
import subprocess
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TARBALL = "micropython-1.28.0-src.tar.xz"
NODE_MANIFEST = ROOT / "device" / "manifest.py"
# The full-node run's harness, frozen into the 32-bit interpreter only (never into a board image),
# when there is one: a checkout has it, an installed package (which runs no specs) does not.
HARNESS_MANIFEST = ROOT / "tests" / "device" / "manifest.py"
TARBALL_SHA256 = "ff84e013c75673af7c173ff95091a42d4aeb531ef4321c48c10b5f0ff3dd5a05"
# What the RP2040 image takes from the port, with our _boot.py (the node key's flash blocks
# kept out of the file system) in place of the port's.
RP2_PORT_MANIFEST = ROOT / "device" / "rp2_image" / "manifest.py"


class BuildError(Exception):
    """A clear message for the installer or the engineer; the build log's tail included."""


@dataclass(frozen=True)
class Target:
    port: str  # the folder under micropython/ports
    make_args: tuple[str, ...]
    port_manifest: str  # what the port itself freezes, included before the node ("": nothing)
    manifests: tuple[Path, ...]
    artifact: str  # the image, relative to the build folder
    needs: tuple[str, ...]  # commands the build needs, with the Debian package that has each
    options: tuple[tuple[str, bool], ...] = ()  # given to the manifests (device/manifest.py's `thumb`)

    def frozen_inputs(self, tree: Path) -> list[Path]:
        """Every file the node's manifests freeze, as MicroPython's own manifest tool reads them."""
        micropython = tree / "micropython"
        spec = importlib.util.spec_from_file_location("manifestfile", micropython / "tools" / "manifestfile.py")
        assert spec is not None and spec.loader is not None
        manifestfile = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(manifestfile)
        paths = {
            "MPY_DIR": str(micropython),
            "MPY_LIB_DIR": str(micropython / "lib" / "micropython-lib"),
            "PORT_DIR": str(micropython / "ports" / self.port),
            "BOARD_DIR": None,
        }
        reader = manifestfile.ManifestFile(manifestfile.MODE_FREEZE, paths)
        for manifest in self.manifests:
            reader.include(str(manifest), **dict(self.options))
        return [*self.manifests, *sorted(Path(f.full_path) for f in reader.files())]


TARGETS = {
    "rp2": Target(
        port="rp2",
        make_args=("BOARD=RPI_PICO",),
        port_manifest="",  # RP2_PORT_MANIFEST stands in for it
        manifests=(RP2_PORT_MANIFEST, NODE_MANIFEST),
        artifact="firmware.uf2",
        needs=("arm-none-eabi-gcc gcc-arm-none-eabi libnewlib-arm-none-eabi", "cmake cmake"),
        options=(("thumb", True),),
    ),
    "unix32": Target(
        port="unix",
        make_args=(
            "MICROPY_FORCE_32BIT=1",
            "MICROPY_PY_BTREE=0",
            "MICROPY_SSL_AXTLS=1",  # cryptolib (AES) from axTLS; mbedTLS is only in the tarball for rp2
            "MICROPY_SSL_MBEDTLS=0",
            "MICROPY_PY_FFI=0",
            "MPY_CROSS_FLAGS=-march=x86",  # viper kernels are frozen as 32-bit x86 machine code
        ),
        port_manifest="$(MPY_DIR)/extmod/asyncio",
        manifests=(NODE_MANIFEST, HARNESS_MANIFEST) if HARNESS_MANIFEST.exists() else (NODE_MANIFEST,),
        artifact="micropython",
        needs=("gcc gcc-multilib",),
    ),
}


def cache_root() -> Path:
    return Path(os.environ.get("PERIMETER_CACHE") or Path.home() / ".cache" / "perimeter")


def third_party(name: str = TARBALL) -> Path:
    """The folder a pinned file (the tarball, the RP2040 boot ROM) is in: PERIMETER_THIRD_PARTY
    when set, else the first of the cache's copies and the shared folder beside a checkout that
    has it."""
    if os.environ.get("PERIMETER_THIRD_PARTY"):
        return Path(os.environ["PERIMETER_THIRD_PARTY"])
    places = [cache_root() / "third_party", ROOT.parent / "shared" / "third_party"]
    return next((p for p in places if (p / name).exists()), places[0])


def _digest(paths: "list[Path]", *words: str) -> str:
    h = hashlib.sha256()
    for word in words:
        h.update(word.encode() + b"\0")
    for path in paths:
        h.update(str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name).encode() + b"\0")
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def _tarball_digest(tarball: Path) -> str:
    return _tarball_sha256(tarball)[:12]


def image_key(board: str, say: Callable[[str], None] = print) -> str:
    """What names a cached image: the same key means the same inputs."""
    target = TARGETS[board]
    tarball = _tarball()
    inputs = target.frozen_inputs(sources(say))
    words = (_tarball_digest(tarball), board, *target.make_args, target.port_manifest, repr(target.options))
    return _digest(inputs, *words)


def cached_image(board: str, say: Callable[[str], None] = print) -> Path:
    """Where the image for the current sources is (or will be) kept."""
    return cache_root() / "images" / ("%s-%s" % (board, image_key(board, say))) / Path(TARGETS[board].artifact).name


def _tarball() -> Path:
    """The pinned tarball, checked, with a copy kept in the cache for the next build."""
    tarball = third_party() / TARBALL
    kept = cache_root() / "third_party" / TARBALL
    if not tarball.exists():
        raise BuildError(
            "the pinned MicroPython sources are missing: put %s (SHA-256 %s; the project's shared/third_party "
            "folder has it) in %s, or name its folder in PERIMETER_THIRD_PARTY (looked in %s)"
            % (TARBALL, TARBALL_SHA256, kept.parent, tarball.parent)
        )
    if _tarball_sha256(tarball) != TARBALL_SHA256:
        raise BuildError(
            "%s is not the pinned tarball (its SHA-256 is %s, the pinned one %s): replace it"
            % (tarball, _tarball_sha256(tarball), TARBALL_SHA256)
        )
    if not kept.exists():
        kept.parent.mkdir(parents=True, exist_ok=True)
        partial = kept.with_name(kept.name + ".partial")
        shutil.copyfile(tarball, partial)
        partial.rename(kept)
    return tarball


@cache
def _tarball_sha256(tarball: Path) -> str:
    h = hashlib.sha256()
    with tarball.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _run(command: "list[str]", log: Path, cwd: "Path | None" = None, env: "dict[str, str] | None" = None) -> None:
    with log.open("a") as out:
        out.write("$ %s\n" % " ".join(command))
        out.flush()
        result = subprocess.run(command, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, env=env)
    if result.returncode != 0:
        tail = log.read_text(errors="replace").splitlines()[-25:]
        raise BuildError(
            "%s failed (exit %d); the end of %s:\n%s" % (command[0], result.returncode, log, "\n".join(tail))
        )


def _check_tools(target: Target) -> None:
    for need in target.needs:
        command, *packages = need.split()
        if shutil.which(command) is None:
            raise BuildError(
                "`%s` is missing: install Debian's %s (the README set-up does)" % (command, " ".join(packages))
            )
    if shutil.which("make") is None:
        raise BuildError("`make` is missing: install Debian's make")


def sources(say: Callable[[str], None] = print) -> Path:
    """The unpacked tarball with mpy-cross built (and picotool installed beside it), once."""
    tarball = _tarball()
    tree = cache_root() / "src" / _tarball_digest(tarball)
    done = tree / ".unpacked"
    if not done.exists():
        say("unpacking %s into %s" % (tarball.name, tree))
        partial = tree.with_name(tree.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        with tarfile.open(tarball) as archive:
            archive.extractall(partial, filter="tar")
        shutil.rmtree(tree, ignore_errors=True)
        partial.rename(tree)
        done.touch()
    return tree


def _mpy_cross(tree: Path, say: Callable[[str], None]) -> None:
    if not (tree / "micropython" / "mpy-cross" / "build" / "mpy-cross").exists():
        say("building mpy-cross (once per source tarball, about 40 s)")
        _run(
            ["make", "-C", str(tree / "micropython" / "mpy-cross"), "-j%d" % (os.cpu_count() or 1)],
            tree / "mpy-cross.log",
        )


def mpy_cross_command(say: Callable[[str], None] = print) -> Path:
    """The pinned sources' own mpy-cross, whose .mpy version matches the images built here."""
    tree = sources(say)
    with _locked(tree):
        _mpy_cross(tree, say)
    return tree / "micropython" / "mpy-cross" / "build" / "mpy-cross"


def _picotool(tree: Path, say: Callable[[str], None]) -> Path:
    prefix = tree / "picotool-install"
    config = prefix / "lib" / "cmake" / "picotool"
    if not config.exists():
        say("building picotool (once per source tarball, about 40 s)")
        log = tree / "picotool.log"
        build = tree / "picotool" / "build"
        sdk = tree / "micropython" / "lib" / "pico-sdk"
        _run(
            [
                "cmake",
                "-S",
                str(tree / "picotool"),
                "-B",
                str(build),
                "-DPICO_SDK_PATH=%s" % sdk,
                "-DPICOTOOL_NO_LIBUSB=1",
                "-DCMAKE_INSTALL_PREFIX=%s" % prefix,
            ],
            log,
        )
        _run(["cmake", "--build", str(build), "-j%d" % (os.cpu_count() or 1)], log)
        _run(["cmake", "--install", str(build)], log)
    return config


class _locked:
    """One build at a time per source tree (a CI run and an engineer's shell may overlap)."""

    def __init__(self, tree: Path) -> None:
        self._path = tree / ".lock"

    def __enter__(self) -> None:
        self._file = self._path.open("w")
        fcntl.flock(self._file, fcntl.LOCK_EX)

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self._file, fcntl.LOCK_UN)
        self._file.close()


def _top_manifest(target: Target) -> str:
    lines = [
        "# Written by perimeter node build: the port's own modules, then the node.",
    ]
    if target.port_manifest:
        lines.append("include(%r)" % target.port_manifest)
    options = "".join(", %s=%r" % option for option in target.options)
    lines += ["include(%r%s)" % (str(m), options) for m in target.manifests]
    return "\n".join(lines) + "\n"


def build(board: str, say: Callable[[str], None] = print) -> Path:
    """The image for `board` from the current sources: from the cache, or built into it."""
    if board not in TARGETS:
        raise BuildError("unknown image %r: one of %s" % (board, ", ".join(sorted(TARGETS))))
    target = TARGETS[board]
    image = cached_image(board, say)
    if image.exists():
        return image
    _check_tools(target)
    tree = sources(say)
    with _locked(tree):
        if image.exists():  # built by whoever held the lock
            return image
        _mpy_cross(tree, say)
        env = dict(os.environ)
        if target.port == "rp2":
            env["picotool_DIR"] = str(_picotool(tree, say))
        work = cache_root() / "build" / image.parent.name
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        manifest = work / "manifest.py"
        manifest.write_text(_top_manifest(target))
        say("building the %s image (about 75 s; cached afterwards in %s)" % (board, image.parent))
        _run(
            [
                "make",
                "-C",
                str(tree / "micropython" / "ports" / target.port),
                "-j%d" % (os.cpu_count() or 1),
                "BUILD=%s" % (work / "build"),
                "FROZEN_MANIFEST=%s" % manifest,
                *target.make_args,
            ],
            work / "build.log",
            env=env,
        )
        built = work / "build" / target.artifact
        ready = image.parent.with_name(image.parent.name + ".partial")
        shutil.rmtree(ready, ignore_errors=True)
        ready.mkdir(parents=True)
        shutil.copy2(built, ready / image.name)
        shutil.copy2(manifest, ready / "manifest.py")
        shutil.rmtree(image.parent, ignore_errors=True)
        ready.rename(image.parent)
        shutil.rmtree(work, ignore_errors=True)
    return image
