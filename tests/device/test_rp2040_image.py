"""The RP2040 image, as it ships, on the rp2040js emulator: it boots, waits unprovisioned at
the USB REPL, and its Thumb kernels give exactly the integers of the viper kernels that the
device specs check on the other builds (so those specs speak for the RP2040 too); a board
that ran an older image keeps its files when this one makes room for the node key."""

from pathlib import Path

from gateway.tools import node_image
from simulators.emulated_pico import EmulatedPico

ROOT = Path(__file__).resolve().parents[2]


def test_the_thumb_kernels_give_the_viper_kernels_integers_on_the_emulated_rp2040() -> None:
    with EmulatedPico(node_image.build("rp2")) as pico:
        booted = pico.console.expect(b"not provisioned", timeout=180)
        pico.raw_repl()
        pico.write_file("on_rp2040.py", (ROOT / "tests" / "device" / "on_rp2040.py").read_bytes())
        report = pico.run("import on_rp2040", timeout=600)
    print(report)
    assert b"no identity.json" in booted
    kernels = ("dft ", "fence ", "whitening ", "audio ", "envelope ", "comb ", "prominence ", "log2 ")
    kernels += ("halve ", "dense ")
    checks = [line for line in report.splitlines() if line.startswith(kernels)]
    assert len(checks) == 53 and all(line.endswith(" same") for line in checks), report
    costs = {line.split()[1]: int(line.split()[2]) for line in report.splitlines() if line.startswith("cost ")}
    assert costs["dft-thumb"] * 4 < costs["dft-viper"] and costs["fence-thumb"] * 2 < costs["fence-viper"], costs
    # (each call's own overhead is a good part of these)
    for kernel in ("whiten", "audio", "envelope", "comb", "prominence", "log2", "halve", "dense"):
        assert costs[kernel + "-thumb"] * 2 < costs[kernel + "-viper"], costs


OLD_LAYOUT = """
import vfs, rp2
vfs.umount('/')
vfs.VfsLfs2.mkfs(rp2.Flash(), progsize=256)
vfs.mount(vfs.VfsLfs2(rp2.Flash(), progsize=256), '/')
with open('state.json', 'w') as f:
    f.write('{"ctr": 4096, "boots": 3}')
with open('crash.log', 'w') as f:
    f.write('an old crash')
vfs.umount('/')
"""
AFTER = """
import os, rp2
print(sorted(os.listdir()))
print(open('state.json').read())
print(os.statvfs('/')[2], rp2.Flash().ioctl(4, 0))
"""


def test_a_board_from_an_older_image_keeps_its_files_in_the_smaller_file_system() -> None:
    """Firmware 0.5 and before put the file system over the whole flash storage; this image
    leaves its last two blocks to the node key. A board moved to it keeps its counter."""
    with EmulatedPico(node_image.build("rp2")) as pico:
        pico.console.expect(b"not provisioned", timeout=180)
        pico.raw_repl()
        pico.run(OLD_LAYOUT)  # the file system as an older image left it
        pico.soft_reset()  # _boot.py runs again
        pico.console.expect(b"not provisioned", timeout=180)
        pico.raw_repl()
        files, state, blocks = pico.run(AFTER).strip().splitlines()
    print("after the move:", files, state, blocks)
    assert "'crash.log'" in files and "'state.json'" in files
    assert state == '{"ctr": 4096, "boots": 3}'  # the frame counter carried over
    fs_blocks, storage_blocks = map(int, blocks.split())
    assert storage_blocks - fs_blocks == 2  # the key's two blocks are outside the file system
