"""Helpers for the protocol specs that run on both CPython and MicroPython.

No pytest here: MicroPython has none. Specs are plain `test_*` functions using `assert`;
`tests/micropython_runner.py` calls them on MicroPython, pytest collects them on CPython.
"""

import json

from protocol.errors import FrameRejected
from protocol.framing import decode_frame
from protocol.keys import NodeKey
from protocol.messages import DOWN, UP
from protocol.packet import header_node_id, open_packet


def repo_root():
    parts = __file__.rsplit("/", 3)
    return parts[0] if len(parts) == 4 else "."


def load_vectors(name):
    """One golden-vector file from protocol/vectors/."""
    with open(repo_root() + "/protocol/vectors/" + name) as f:
        return json.load(f)


def rejection(fn, *args, **kwargs):
    """The kind of `FrameRejected` that `fn` raises; fails the spec if it raises none."""
    try:
        fn(*args, **kwargs)
    except FrameRejected as exc:
        return exc.kind
    raise AssertionError("%s did not reject %r" % (getattr(fn, "__name__", fn), args))


def raises(exc_type, fn, *args, **kwargs):
    """True if `fn` raises `exc_type`; fails the spec otherwise."""
    try:
        fn(*args, **kwargs)
    except exc_type:
        return True
    raise AssertionError("%s did not raise %s" % (getattr(fn, "__name__", fn), exc_type.__name__))


def receive(doc, entry):
    """What a receiver does with a vector entry: deframe if serial, then open the packet."""
    site_key = bytes.fromhex(doc["site_key"])
    if "serial" in entry:
        packet = decode_frame(bytes.fromhex(entry["serial"]))
    else:
        packet = bytes.fromhex(entry["packet"])
    node_key = NodeKey.for_node(site_key, header_node_id(packet))
    direction = UP if entry["dir"] == "up" else DOWN
    return open_packet(node_key, doc["site_id"], packet, direction, entry.get("last_ctr"), doc["encrypted"])
