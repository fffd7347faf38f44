# The board runs this file at boot. `perimeter node build` writes the board's name in.
BOARD = "sim"

from device.app import main  # noqa: E402

main(BOARD)
