"""The frame counter never repeats across reboots and crashes, and wears flash only once per
block. Runs unchanged on CPython and MicroPython."""

import os

from device.counter import BLOCK, MAX_CTR, CounterExhausted, FrameCounter, count_boot
from device.storage import FileStore, StorageError
from tests.device.stores import CountingStore, _tmp


def test_counters_increase_strictly_across_reboots_and_crashes():
    store = CountingStore()
    used = []
    for uses in (3, BLOCK + 7, 0, 1, 2 * BLOCK):  # each boot uses some, then the power fails
        counter = FrameCounter(store)
        for _ in range(uses):
            used.append(counter.next())
    assert used == sorted(set(used))  # strictly increasing, never reused
    assert store.values["ctr"] > used[-1]


def test_flash_is_written_once_per_block_of_frames():
    store = CountingStore()
    counter = FrameCounter(store)
    assert store.writes == 1  # the first block is reserved before anything is sent
    for _ in range(3 * BLOCK):
        counter.next()
    assert store.writes == 3


def test_a_reboot_skips_what_was_left_of_the_block_in_use():
    store = CountingStore({"ctr": 1000})
    first = FrameCounter(store)
    assert first.next() == 1000
    second = FrameCounter(store)  # rebooted after using one counter of the block 1000..1255
    assert second.next() == 1000 + BLOCK


def test_the_counter_stops_at_2_to_the_24_instead_of_wrapping():
    store = CountingStore({"ctr": MAX_CTR - 1})
    counter = FrameCounter(store)
    assert [counter.next(), counter.next()] == [MAX_CTR - 1, MAX_CTR]
    try:
        counter.next()
    except CounterExhausted:
        pass
    else:
        raise AssertionError("counter wrapped past 2^24")


def test_boot_count_goes_up_by_one_each_boot():
    store = CountingStore()
    assert [count_boot(store), count_boot(store), count_boot(store)] == [1, 2, 3]


def test_file_store_survives_reopening_and_keeps_other_values():
    path = _tmp("store")
    store = FileStore(path)
    FrameCounter(store)
    count_boot(store)
    reopened = FileStore(path)
    assert reopened.get("ctr") == BLOCK and reopened.get("boots") == 1
    os.remove(path)


def test_a_corrupt_store_is_an_error_not_a_counter_of_zero():
    path = _tmp("corrupt")
    with open(path, "w") as f:
        f.write("{not json")
    try:
        FileStore(path)
    except StorageError:
        pass
    else:
        raise AssertionError("a corrupt store was taken for an empty one")
    os.remove(path)


def test_taking_a_counter_allocates_nothing_between_flash_writes():
    try:
        import micropython  # MicroPython only: CPython has no heap lock
    except ImportError:
        return
    counter = FrameCounter(CountingStore())
    micropython.heap_lock()
    try:
        for _ in range(BLOCK - 1):
            counter.next()
    finally:
        micropython.heap_unlock()
    assert counter.peek == BLOCK - 1
