# The board runs this file at boot: frozen into the image (`perimeter node build --board rp2`)
# or copied beside the compiled modules (`perimeter node deploy`). sys.platform names the port;
# the unix port is the simulated board.
import sys

from device.app import main

main(sys.platform if sys.platform in ("rp2", "esp32") else "sim")
