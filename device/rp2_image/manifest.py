# What the RP2040 image takes from the port (in place of ports/rp2/boards/manifest.py): the
# port's `rp2` module and asyncio, and our _boot.py, which keeps the node key's flash blocks
# out of the file system. `perimeter node build --board rp2` includes this before the node.
freeze("$(PORT_DIR)/modules", "rp2.py")
module("_boot.py")
include("$(MPY_DIR)/extmod/asyncio")
