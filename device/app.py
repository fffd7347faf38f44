"""Boot: read the node's identity, build the board, run the node (or bridge) role, and if
anything escapes, log it to flash and reset rather than hang with the watchdog fed."""

import asyncio
import gc
import json
import sys

from device.keyslot import read_key, write_key

CRASH_LOG = "crash.log"
_CRASH_LOG_LIMIT = 4096
# Collect after this many bytes of allocation. MicroPython allocates upwards from the lowest
# free block and collects only when the heap is full, so without it the garbage of a few
# seconds sweeps the whole heap and leaves short-lived objects scattered through it; the
# node's buffers (the 1 KB audio frame, the detector tables) then find no room in a small
# heap. Collected often, garbage stays low in the heap and the rest stays whole.
GC_EVERY = 4096


def collect_often():
    """The first thing at boot, before anything allocates."""
    gc.collect()
    if hasattr(gc, "threshold"):  # MicroPython; CPython's collector is another kind
        gc.threshold(GC_EVERY)


def load_identity(path="identity.json"):
    """The node's identity written by `perimeter node deploy`: node id, site id, and how it
    talks. Its key is in the key slot (device/keyslot.py); `deployed_key` is one that an older
    deploy left in the file, which `settle_key` moves."""
    with open(path) as f:
        raw = json.load(f)
    deployed = raw.get("node_key")
    return {
        "node_id": raw["node_id"],
        "site_id": raw["site_id"],
        "key": None,
        "deployed_key": bytes.fromhex(deployed) if deployed else None,
        "key_epoch": raw.get("key_epoch", 0),  # the node-key epoch the gateway's store has it on
        "role": raw.get("role", "node"),
        "link": raw.get("link", "serial"),
        "encrypted": raw.get("encrypted", True),
        "uplinks": raw.get("uplinks", "enveloped"),
    }


def settle_key(identity, key_blocks, path="identity.json"):
    """Move a key found in the identity file into the key slot, then rewrite the file without
    it (a listing shows no key from then on). Returns whether the node holds a key."""
    deployed = identity.pop("deployed_key", None)
    if deployed is not None:
        write_key(key_blocks, identity.get("key_epoch", 0), deployed)  # read back before the file loses it
        with open(path) as f:
            raw = json.load(f)
        del raw["node_key"]
        with open(path + ".new", "w") as f:
            f.write(json.dumps(raw))
        import os

        os.rename(path + ".new", path)
    return read_key(key_blocks) is not None


def _print_exception(exc, stream=None):
    if hasattr(sys, "print_exception"):  # MicroPython
        sys.print_exception(exc, stream) if stream is not None else sys.print_exception(exc)
    else:  # CPython, where simulations run the same code
        import traceback

        traceback.print_exception(exc, file=stream)


def log_crash(exc, path=CRASH_LOG):
    """Append the traceback to the crash log, starting it afresh when it grows too big."""
    try:
        import os

        mode = "a" if os.stat(path)[6] < _CRASH_LOG_LIMIT else "w"
    except OSError:
        mode = "w"
    try:
        with open(path, mode) as f:
            _print_exception(exc, f)
    except OSError:
        pass
    _print_exception(exc)


async def _forever(role):
    tasks = role.start()
    while True:
        await asyncio.sleep(1)
        for task in tasks:
            if task.done():  # the supervisor stops feeding the watchdog; say why meanwhile
                return


def main(board_name):
    collect_often()
    try:
        identity = load_identity()
    except OSError:  # unprovisioned: stay at the USB REPL, where `perimeter node deploy` writes it
        print("no identity.json: this node is not provisioned (perimeter node deploy writes it)")
        return
    board = None
    try:
        module = __import__("device.boards." + board_name, None, None, ["Board"])
        key_blocks = module.key_blocks()
        if not settle_key(identity, key_blocks):  # before the board starts its watchdog
            print("no node key: this node is not provisioned (perimeter node deploy writes it)")
            return
        board = module.Board(identity)
        from device.storage import FileStore

        store = FileStore("state.json")
        if identity["role"] == "bridge":
            from device.bridge import Bridge

            asyncio.run(_forever(Bridge(board.uart, board.modem, board.clock)))
        elif identity["role"] == "ground":
            from device.ground_node import GroundNode

            asyncio.run(_forever(GroundNode(board, identity, store, key_blocks)))
        else:
            from device.node import Node

            asyncio.run(_forever(Node(board, identity, store, key_blocks)))
    except Exception as exc:  # the last line of defence: log, then reset
        log_crash(exc)
    if board is not None:
        board.reset()
    try:
        import machine  # no board object (it failed to build): reset the chip directly

        machine.reset()
    except ImportError:
        pass  # the unix port: nothing to reset, main() returns
