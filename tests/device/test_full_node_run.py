"""Ten simulated minutes of a whole node on the 32-bit node interpreter, with the node and
the harness frozen in as a board's code is: every scripted attack reaches the gateway peer,
nothing is left undelivered, the watchdog is fed throughout, and no MemoryError in a 64 KB
heap, with room to spare. The figures are printed for the README."""

import json
import subprocess
from pathlib import Path

from tests.micropython_host import micropython

HEAP = 64 * 1024
SPARE = 8 * 1024  # never closer than this to the heap's end: room for fragmentation


def ten_minutes(folder: Path, *role: str) -> dict:
    """The harness's report of ten simulated minutes (of a ground node with "ground")."""
    proc = subprocess.run(  # in an empty folder: everything it runs is frozen
        [micropython(), "-X", "heapsize=%d" % HEAP, "-m", "tests.device.ten_minutes", "600", *role],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0 and "MemoryError" not in proc.stderr, proc.stdout + proc.stderr
    report: dict = json.loads(proc.stdout.strip().splitlines()[-1])
    return report


def test_ten_simulated_minutes_of_a_full_node_deliver_every_attack(tmp_path: Path) -> None:
    report = ten_minutes(tmp_path)
    print("full node, 600 simulated s, 32-bit frozen build, 64 KB heap:", report)
    received = report["received"]
    assert received.get("FENCE:1", 0) >= 1, received  # the climb
    assert received.get("FENCE:2", 0) >= 1, received  # the cut
    assert received.get("ACOUSTIC:1", 0) >= 1 and received.get("ACOUSTIC:2", 0) >= 1, received  # drone on, off
    assert received.get("IMPACT", 0) == 1, received
    assert received.get("HEARTBEAT", 0) >= 9, received
    assert report["queued_at_end"] == 0 and report["fifo_samples_lost"] == 0
    assert report["watchdog_feeds"] >= 590
    assert report["peak_heap_bytes"] <= HEAP - SPARE


def test_ten_simulated_minutes_of_a_ground_node_report_the_landings_alone_in_the_same_heap(tmp_path: Path) -> None:
    report = ten_minutes(tmp_path, "ground")
    print("ground node, 600 simulated s, 32-bit frozen build, 64 KB heap:", report)
    received = report["received"]
    assert received.get("IMPACT", 0) == 3, received  # three landings; not the walker, not the rumble
    assert "FENCE" not in str(received) and "ACOUSTIC" not in str(received), received
    assert received.get("HEARTBEAT", 0) >= 9, received
    assert report["queued_at_end"] == 0 and report["watchdog_feeds"] >= 590
    assert report["peak_heap_bytes"] <= HEAP - SPARE
