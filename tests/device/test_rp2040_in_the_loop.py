"""The RP2040 image in the loop: the built firmware.uf2 boots on the rp2040js emulator, its
UART0 bridged to a pseudo-terminal that the real gateway's serial transport reads, with an
emulated ADXL345 on I2C0, the impact channel on ADC0 and the tamper switch on GP15.
Provisioned over its USB REPL as `perimeter node deploy` provisions a board, the node says
HELLO and beats; the gateway, in a key change, offers it an X25519 agreement and the board
answers, takes the agreed key once acked and is heard on it; a climb on the fence becomes a
FENCE event the gateway journals and acknowledges through the same UART; opening the lid
raises a tamper alarm.

The emulator counts the Cortex-M0+ cycles at 125 MHz: a busy node runs at about a third of
real time here, and the pace is the host's: every wait below is counted in the board's own
time (`on_the_board`), so a slower machine takes longer but does not fail. Its speed is
printed."""

import asyncio
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gateway.evidence.journal import Journal
from gateway.tools import node_image, node_tool
from simulators.emulated_pico import EmulatedPico
from tests.gateway.harness import PERIMETER, SITE_ID, SITE_KEY, Broker, Pty, serial, start, stop, write_site

NODE = 7
# Every file on the board and what it holds, then the key slot as raw flash gives it.
FILES_AND_KEY = """
import os
for name in os.listdir():
    if os.stat(name)[0] & 0x8000:
        print(name, open(name).read())
from device.boards.rp2 import key_blocks
from device.keyslot import read_key
print(read_key(key_blocks())[1].hex())
"""


@pytest.fixture
def pty(tmp_path: Path) -> Iterator[Pty]:
    p = Pty(tmp_path / "ttyPICO")
    yield p
    p.unplug()


def _rows(journal: Path, kind: str) -> list[dict[str, object]]:
    return [r.data for r in Journal(journal, durable=False).entries() if r.kind == kind]


async def on_the_board(pico: EmulatedPico, predicate: Callable[[], bool], board_s: float) -> None:
    """Wait until `predicate()` holds, for at most `board_s` seconds of the board's own clock.
    The emulator's pace is the host's (0.44 simulated s per wall s on the machine of
    2026-12-07 morning, where the key was agreed 70 s of the board's time after it started,
    boot included: 160 s of wall time). Waits in wall seconds failed on a slower machine the
    night before. A board that stops running at all still fails, after an hour."""
    start, deadline = pico.simulated_s, time.monotonic() + 3600
    while not predicate():
        ran = pico.simulated_s - start
        if ran >= board_s or time.monotonic() > deadline:
            raise AssertionError("not within %.0f s of the board's time (%.0f s ran)" % (board_s, ran))
        await asyncio.sleep(0.05)


async def test_the_rp2040_image_talks_to_the_real_gateway_through_its_uart(
    tmp_path: Path, broker: Broker, pty: Pty
) -> None:
    node = {"id": NODE, "name": "pico", "chainage_m": 50.0}
    # The emulated board's clock runs at about a third of the gateway's (the emulator's pace):
    # to the gateway's freshness check its frames fall further behind each second, as frames
    # played back late would. A real board's crystal is within 100 ppm; here the check waits
    # an hour before it calls a frame late.
    slow_clock = {"supervision": {"missed_heartbeats": 10, "default_heartbeat_s": 30, "late_frame_s": 3600}}
    config = write_site(
        tmp_path, broker.port, transports=serial(("fence", pty.link)), nodes=[node], extra=dict(PERIMETER, **slow_clock)
    )
    config.write_text(config.read_text().replace("[site]\n", "[site]\nkey_change = true\n", 1))
    gateway, task = await start(config)
    # What each of the node's frames said, as the gateway's delivery watch hears them: a
    # heartbeat's `queued` is what the node still holds unacknowledged.
    heard: list[tuple[str, int, int]] = []
    watch = gateway.recorder.watch
    listen = watch.heard

    def hear(node_id: int, kind: str, fields: dict[str, int], ctr: int) -> str | None:
        heard.append((kind, fields.get("queued", -1), ctr))
        return listen(node_id, kind, fields, ctr)

    watch.heard = hear  # type: ignore[method-assign]
    journal = gateway.config.journal
    assert pty.master is not None
    os.set_blocking(pty.master, True)  # the emulator's end: it reads in a thread of its own
    started = time.monotonic()
    try:
        with EmulatedPico(node_image.build("rp2"), link_fd=pty.master) as pico:
            await on_the_board(pico, lambda: b"not provisioned" in pico.console.data, 90)
            pico.raw_repl()
            identity = node_tool.identity_json(node_tool.derived_key(SITE_KEY, NODE), SITE_ID, NODE)
            pico.write_file("identity.json", identity.encode())
            # A node configured earlier for a 10 s heartbeat (the least it accepts), so one
            # arrives within the emulator's patience (the gateway allows 10 missed: the
            # emulated node runs slower than the gateway's clock).
            pico.write_file("state.json", json.dumps({"cfg.heartbeat_s": 10}).encode())
            pico.soft_reset()  # the frozen main.py runs the node

            await on_the_board(pico, lambda: gateway.registry.nodes[NODE].firmware is not None, 60)  # HELLO
            hello = gateway.registry.nodes[NODE].snapshot()
            await on_the_board(pico, lambda: gateway.registry.nodes[NODE].battery_mv is not None, 60)  # a HEARTBEAT
            # Its downlink slot carried the offer: the board's KEYX, acked (its next frame, below,
            # comes on the agreed key).
            await on_the_board(pico, lambda: bool(_rows(journal, "key_agreed")), 150)
            agreed_at = time.monotonic() - started
            agreed_board_s = pico.simulated_s

            pico.set(fence="climb")
            # A faint report may come first, as the climb builds up: the climb itself follows.
            climbs = lambda: [  # noqa: E731
                e
                for e in _rows(journal, "event")
                if e["type"] == "fence" and e["labels"]["class"] == "climb"  # type: ignore[index]
            ]
            await on_the_board(pico, lambda: bool(climbs()), 90)
            pico.set(fence="quiet")
            fence = climbs()[0]
            after = int(fence["ctr"])  # type: ignore[call-overload]

            pico.set(tamper=True)  # the lid is opened
            await on_the_board(
                pico,
                lambda: any(
                    a["action"] == "raised" and a["alarm"]["category"] == "tamper"  # type: ignore[index]
                    for a in _rows(journal, "alarm")
                ),
                60,
            )
            # Acknowledged through the UART: a later heartbeat says the node holds nothing.
            await on_the_board(pico, lambda: any(k == "HEARTBEAT" and q == 0 and c > after for k, q, c in heard), 90)
            speeds = pico.speeds
            # At the REPL, as someone with a USB cable: no file holds the key any more...
            pico.raw_repl()
            files = pico.run(FILES_AND_KEY)
    finally:
        await stop(gateway, task)
    events = _rows(journal, "event")
    print(
        "emulated RP2040: HELLO %s; fence event %s; events journalled: %s; %d frames heard; "
        "%.0f s of wall time (key agreed after %.0f s, %.0f s of the board's); emulator %.2f simulated s per wall s"
        % (
            hello["firmware"],
            fence["labels"],
            ", ".join("%s %s" % (e["type"], e["labels"]) for e in events),
            len(heard),
            time.monotonic() - started,
            agreed_at,
            agreed_board_s,
            sum(speeds) / len(speeds) if speeds else 0.0,
        )
    )
    assert hello["boot_count"] == 1 and hello["reset_cause"] is not None
    assert fence["node_id"] == NODE and fence["labels"]["class"] == "climb"  # type: ignore[index]
    assert any(e["type"] == "tamper" for e in events)
    assert [(r["node_id"], r["epoch"]) for r in _rows(journal, "key_agreed")] == [(NODE, 1)]
    assert [(r["node_id"], r["epoch"]) for r in _rows(journal, "rekey")] == [(NODE, 1)]
    assert gateway.pipeline.keyring.current(NODE)[0] == 1  # heard on the agreed key since
    key = json.loads(identity)["node_key"]
    print("the board's file system after the run:", files.replace(key, "<NODE KEY>"))
    listing, slot = files.strip().rsplit("\n", 1)
    assert "identity.json" in listing and key not in listing
    # ... though raw flash still does (a board without secure boot hides it, no more): the
    # agreed key, which nothing the deploy wrote gives.
    store = json.loads((tmp_path / "node-keys.json").read_text())
    assert slot.strip() == store["nodes"][str(NODE)]["key"] != key
