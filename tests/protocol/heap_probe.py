"""Run by MicroPython with a small heap: import the compiled protocol and round-trip frames.

    micropython -X heapsize=64k tests/protocol/heap_probe.py DIR   (DIR holds protocol/*.mpy)

Prints the heap each module costs at import and what is held after 200 frames, then `ok`.
"""

import gc
import sys

sys.path.insert(0, sys.argv[1])
MODULES = ("errors", "messages", "crypto", "keys", "body", "envelope", "packet", "framing")

gc.collect()
start = gc.mem_alloc()
previous = start
for name in MODULES:
    __import__("protocol." + name)
    gc.collect()
    print("import protocol.%s: %d bytes" % (name, gc.mem_alloc() - previous))
    previous = gc.mem_alloc()
imported = previous - start

from protocol.framing import Deframer, encode_frame  # noqa: E402
from protocol.keys import NodeKey  # noqa: E402
from protocol.packet import encode_packet, open_packet  # noqa: E402

key = NodeKey.for_node(bytes(range(32)), 7)
fields = {"event_no": 1, "age_ds": 0, "class": 1, "peak": 900, "noise_floor": 40, "pulses": 9, "duration_ds": 30}
deframer = Deframer()
for ctr in range(1, 201):
    deframer.feed(encode_frame(encode_packet(key, 5, 3, 7, ctr, fields, True)))
    assert open_packet(key, 5, deframer.next_packet(), 0, ctr - 1).fields == fields
gc.collect()
print(
    "all modules: %d bytes; held after 200 frames: %d bytes; heap free: %d bytes"
    % (imported, gc.mem_alloc() - start, gc.mem_free())
)
print("ok")
