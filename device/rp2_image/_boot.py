# The RP2040 image's boot (frozen in place of the port's own _boot.py): the file system on the
# flash storage except its last two 4 KiB blocks, which hold the node's key
# (device/keyslot.py, device/boards/rp2.py) where a listing of the file system does not show it.
#
# A board that ran an older image (firmware 0.5 and before) has a file system over the whole
# storage. Its files (identity, frame counter, settings: a few hundred bytes) are carried over
# into the smaller one, so the node keeps its counter and the gateway does not take its next
# frames for replays. A blank or foreign flash is formatted, as the port's own _boot.py does.
import rp2
import vfs

bdev = rp2.Flash()
small = rp2.Flash(len=(bdev.ioctl(4, 0) - 2) * 4096)
try:
    fs = vfs.VfsLfs2(small, progsize=256)
except:  # noqa: E722 - as the port's own
    kept = {}
    try:
        old = vfs.VfsLfs2(bdev, progsize=256)
        vfs.mount(old, "/old")
        for name in old.ilistdir("/"):
            if name[1] == 0x8000:
                with open("/old/" + name[0], "rb") as f:
                    kept[name[0]] = f.read()
        vfs.umount("/old")
    except:  # noqa: E722 - nothing to carry over
        pass
    vfs.VfsLfs2.mkfs(small, progsize=256)
    fs = vfs.VfsLfs2(small, progsize=256)
    vfs.mount(fs, "/")
    for name in kept:
        with open("/" + name, "wb") as f:
            f.write(kept[name])
    vfs.umount("/")
    del kept
vfs.mount(fs, "/")

del vfs, rp2, bdev, small, fs
