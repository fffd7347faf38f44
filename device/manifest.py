# The node as frozen into a board image (`perimeter node build --board rp2|unix32`): the wire
# contract and the firmware compiled into flash, where their bytecode and constant tables take
# no heap. `perimeter node build` includes this after the port's own manifest.
import os

# Protocol modules only the gateway runs (CPython): never frozen into a node image.
# gateway/tools/node_tool.py reads this list, so the two ways of building agree.
GATEWAY_ONLY = ("schema.py", "gwmp.py")

# The manifest runs with this folder as its working directory.
package(
    "protocol",
    files=sorted(f for f in os.listdir("../protocol") if f.endswith(".py") and f not in GATEWAY_ONLY),
    base_path="..",
)
# Modules in Cortex-M0+ assembly (@micropython.asm_thumb): only an ARM image can hold them
# (`include(..., thumb=True)` from the RP2040 build); elsewhere the viper kernels run.
THUMB_ONLY = ("kernels_thumb.py",)
options.defaults(thumb=False)
# Every firmware module; this file, main.py and the RP2040 image's port files
# (rp2_image/, included by `perimeter node build` before this) are not modules of the package.
package(
    "device",
    files=sorted(
        os.path.join(d, f)[2:]
        for d, _, fs in os.walk(".")
        for f in fs
        if f.endswith(".py")
        and (d, f) not in ((".", "main.py"), (".", "manifest.py"))
        and d != "./rp2_image"
        and (options.thumb or f not in THUMB_ONLY)
    ),
    base_path="..",
)
# The board runs the frozen main.py at boot (pyexec looks in the frozen modules first).
module("main.py")
# The LoRa boards' modem driver (SX1276, e.g. an RFM95W), from the pinned micropython-lib.
require("lora-sx127x")
