"""Mutated input never takes the receive path down: serial streams through the deframer and
pipeline, GWMP datagrams through the Semtech UDP transport (bench/fuzz_bench.py runs a
million of each; here 20,000 with fixed seeds, and the inputs the fuzzer first broke on)."""

import base64
import json
from typing import Any

import pytest

from gateway.config import SemtechUdpConfig
from gateway.ingest.semtech_udp import SemtechUdpTransport
from simulators.frame_node import SimNode
from simulators.fuzzing import _PipelineReceiver, fuzz_datagrams, fuzz_serial, pipeline


def test_twenty_thousand_mutated_serial_stretches_crash_nothing() -> None:
    report = fuzz_serial(20_000, seed=11)
    assert report.crashes == [], report.crashes[0].error
    outcomes = report.outcomes
    # the mutations reach every stage: bad tags, replays, undecodable authentic bodies, frames
    assert outcomes["rejected:bad_tag"] and outcomes["rejected:replay"] and outcomes["rejected:body"]
    assert outcomes["frame"] > 0


def test_twenty_thousand_mutated_datagrams_crash_nothing() -> None:
    report = fuzz_datagrams(20_000, seed=12)
    assert report.crashes == [], report.crashes[0].error
    assert report.outcomes["bad_datagrams"] > 1000 and report.outcomes["frame"] > 0


def push_data(body: Any) -> bytes:
    return b"\x02\x12\x34\x00" + bytes(8) + json.dumps(body).encode()


def good_rxpk(**changes: Any) -> dict[str, Any]:
    packet = SimNode(1).fence_packet()
    rxpk = {"tmst": 1000, "freq": 868.1, "stat": 1, "modu": "LORA", "datr": "SF7BW125", "rssi": -80, "lsnr": 7.5}
    rxpk["data"] = base64.b64encode(packet).decode()
    rxpk.update(changes)
    return rxpk


@pytest.mark.parametrize(
    "body",
    [
        "a string",
        [1, 2],
        None,
        {"rxpk": "not a list"},
        {"rxpk": [7]},
        {"rxpk": [good_rxpk(freq=1e305)]},
        {"rxpk": [good_rxpk(freq=float("inf"))]},
        {"rxpk": [good_rxpk(rssi="-80")]},
        {"rxpk": [good_rxpk(lsnr=[7])]},
        {"rxpk": [good_rxpk(tmst="soon")]},
        {"rxpk": [good_rxpk(tmst=2**40)]},
    ],
)
def test_a_datagram_the_fuzzer_broke_on_is_counted_as_bad_and_delivers_nothing(body: Any) -> None:
    tally: dict[str, int] = {}
    transport = SemtechUdpTransport(SemtechUdpConfig(name="udp"), _PipelineReceiver(pipeline(), tally))
    transport.datagram(push_data(body), ("127.0.0.1", 1700))  # must not raise
    assert transport.bad_datagrams == 1
    assert "frame" not in tally  # metadata that cannot be trusted is not half-used


def test_the_same_datagram_with_sound_metadata_is_a_frame() -> None:
    tally: dict[str, int] = {}
    transport = SemtechUdpTransport(SemtechUdpConfig(name="udp"), _PipelineReceiver(pipeline(), tally))
    transport.datagram(push_data({"rxpk": [good_rxpk()]}), ("127.0.0.1", 1700))
    assert transport.bad_datagrams == 0 and tally == {"frame": 1}
