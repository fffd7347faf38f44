"""The node's key on flash outside the file system: read back as written, the newest of two
records wins, a write cut short leaves the key in use, erased flash holds no key; and at boot
a key that a deploy left in identity.json moves into the slot and out of the file. Runs on
CPython and MicroPython."""

import json

from device.app import load_identity, settle_key
from device.keyslot import MemoryBlocks, read_key, write_key
from tests.device.stores import _tmp

KEY0 = bytes(range(32))
KEY1 = bytes(range(100, 132))


def test_erased_flash_holds_no_key():
    assert read_key(MemoryBlocks()) is None


def test_a_key_reads_back_as_written_and_the_newest_wins():
    blocks = MemoryBlocks()
    write_key(blocks, 0, KEY0)
    assert read_key(blocks) == (0, KEY0)
    write_key(blocks, 1, KEY1)
    assert read_key(blocks) == (1, KEY1)
    write_key(blocks, 2, KEY0)  # the third write goes back into the first block
    assert read_key(blocks) == (2, KEY0) and sorted(blocks.data) == [0, 1]


def test_a_write_cut_short_leaves_the_key_in_use():
    blocks = MemoryBlocks()
    write_key(blocks, 0, KEY0)
    write_key(blocks, 1, KEY1)
    # Power lost while the third record was programmed: its block erased, half of it written.
    blocks.ioctl(6, 0)
    blocks.writeblocks(0, b"PKEY\x02\x00\x00\x00\x02" + KEY0[:5], 0)
    assert read_key(blocks) == (1, KEY1)


def test_a_deployed_key_moves_out_of_identity_json_into_the_slot():
    path = _tmp("identity")
    with open(path, "w") as f:
        f.write(json.dumps({"node_id": 7, "site_id": 4242, "node_key": KEY0.hex(), "link": "lora"}))
    identity = load_identity(path)
    blocks = MemoryBlocks()
    assert settle_key(identity, blocks, path) is True
    assert read_key(blocks) == (0, KEY0)
    with open(path) as f:
        text = f.read()
    assert KEY0.hex() not in text and json.loads(text)["link"] == "lora"
    # The next boot finds the file without a key, and the key in the slot.
    assert settle_key(load_identity(path), blocks, path) is True and read_key(blocks) == (0, KEY0)


def test_a_node_with_no_key_anywhere_is_not_provisioned():
    path = _tmp("identity")
    with open(path, "w") as f:
        f.write(json.dumps({"node_id": 7, "site_id": 4242}))
    assert settle_key(load_identity(path), MemoryBlocks(), path) is False
