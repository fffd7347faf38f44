# The RP2040 image's boot (frozen in place of the port's own _boot.py): the file system on the
# flash storage except its last two 4 KiB blocks, which hold the node's key
# (device/keyslot.py, device/boards/rp2.py) where a listing of the file system does not show it.
import rp2
import vfs

bdev = rp2.Flash()
bdev = rp2.Flash(len=(bdev.ioctl(4, 0) - 2) * 4096)
try:
    fs = vfs.VfsLfs2(bdev, progsize=256)
except:  # noqa: E722 - as the port's own: a blank or foreign flash is formatted
    vfs.VfsLfs2.mkfs(bdev, progsize=256)
    fs = vfs.VfsLfs2(bdev, progsize=256)
vfs.mount(fs, "/")

del vfs, rp2, bdev, fs
