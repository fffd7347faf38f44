# The full-node run's harness, frozen into the 32-bit unix interpreter (`perimeter node build
# --board unix32`) beside the node, as the node's own code is on a board: its bytecode then
# takes no heap, and the run's heap figure is the node's data alone. Never in a board image.
package(
    "tests",
    files=[
        "__init__.py",
        "device/__init__.py",
        "device/ten_minutes.py",
        "device/peer.py",
        "device/signals.py",
        "device/geophone.py",
        "device/stores.py",
    ],
    base_path="../..",
)
