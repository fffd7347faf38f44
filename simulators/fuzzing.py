"""Mutation fuzzing of the gateway's receive path: serial byte streams through the deframer
and pipeline, and GWMP datagrams through the Semtech UDP transport into the pipeline.

Seeds are real frames (HELLO, heartbeat, fence, acoustic, impact) from nodes that hold the
site's keys. Mutations flip bits and bytes, cut, splice, repeat and insert; half the serial
mutations recompute the CRC so that the frame gets past the deframer to the tag check and
beyond. Datagrams are real PUSH_DATA with their JSON bent out of shape (wrong types, missing
and huge fields, broken base64, packets mutated as above). A crash is any exception that
escapes the receive path, or an outcome of a kind it never returns; each is kept with the
input that caused it, so it can be replayed.
"""

import base64
import json
import random
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

from gateway.ingest.pipeline import Frame, FramePipeline, Keyring, Reception, Rejected, SecurityFinding
from gateway.ingest.semtech_udp import BAD_DATAGRAM, SemtechUdpTransport
from protocol import gwmp
from protocol.errors import EncodeError
from protocol.framing import encode_frame
from protocol.keys import NodeKey
from protocol.messages import BY_ID
from protocol.packet import HEADER_SIZE, TAG_SIZE, seal_packet
from simulators.frame_node import SITE_ID, SITE_KEY, SimNode

NODES = (1, 2, 3)


@dataclass
class Crash:
    path: str
    data: bytes
    error: str


@dataclass
class FuzzReport:
    path: str
    inputs: int = 0
    seconds: float = 0.0
    crashes: list[Crash] = field(default_factory=list)
    outcomes: dict[str, int] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "inputs": self.inputs,
            "seconds": round(self.seconds, 1),
            "per_second": round(self.inputs / self.seconds) if self.seconds else None,
            "crashes": len(self.crashes),
            "outcomes": dict(sorted(self.outcomes.items())),
            "first_crash": None
            if not self.crashes
            else {"data": self.crashes[0].data.hex(), "error": self.crashes[0].error},
        }


def seed_packets() -> list[bytes]:
    """Authentic packets of every uplink kind the nodes send."""
    packets = []
    for node_id in NODES:
        node = SimNode(node_id)
        packets.append(node.hello_packet())
        packets.append(node.heartbeat_packet())
        packets.append(node.fence_packet(peak=2000))
        packets.append(
            node.packet(
                "ACOUSTIC",
                {
                    "event_no": 7,
                    "age_ds": 2,
                    "class": 1,
                    "fundamental_hz": 180,
                    "harmonics": 3,
                    "snr_db": 12,
                    "confidence": 80,
                    "duration_ds": 30,
                },
                True,
            )
        )
        packets.append(
            node.packet("IMPACT", {"event_no": 8, "age_ds": 0, "peak": 900, "noise_floor": 40, "duration_ms": 12}, True)
        )
    return packets


class Mutator:
    def __init__(self, rng: random.Random, packets: list[bytes]) -> None:
        self.rng = rng
        self.packets = packets
        self.keys = {n: NodeKey.for_node(SITE_KEY, n) for n in NODES}
        self.ctr = 1_000

    def sealed(self) -> bytes:
        """An authentic packet (the node's key, a fresh counter) around a mangled body of any
        type id: what a node with a firmware bug, or a stolen key, could send."""
        rng = self.rng
        node_id = rng.choice(NODES)
        self.ctr += 1
        body = self.bytes_(rng.choice(self.packets)[HEADER_SIZE:-TAG_SIZE]) if rng.random() < 0.8 else b""
        type_id = rng.choice(sorted(BY_ID))  # uplinks and downlinks alike
        try:
            return seal_packet(self.keys[node_id], SITE_ID, type_id, node_id, self.ctr, body, rng.random() < 0.5)
        except EncodeError:  # a body the sealer itself refuses: send a plain mutation instead
            return self.packet()

    def bytes_(self, data: bytes) -> bytes:
        """One to four mutations of a byte string."""
        rng = self.rng
        out = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            choice = rng.randrange(9)
            if choice == 0 and out:  # flip one bit
                i = rng.randrange(len(out))
                out[i] ^= 1 << rng.randrange(8)
            elif choice == 1 and out:  # set a byte to something interesting
                out[rng.randrange(len(out))] = rng.choice((0, 1, 0x7F, 0x80, 0xFF, rng.randrange(256)))
            elif choice == 2 and out:  # cut
                out = out[: rng.randrange(len(out))]
            elif choice == 3:  # insert random bytes
                i = rng.randint(0, len(out))
                out[i:i] = rng.randbytes(rng.randint(1, 8))
            elif choice == 4 and out:  # delete a run
                i = rng.randrange(len(out))
                del out[i : i + rng.randint(1, 6)]
            elif choice == 5:  # splice with another packet
                other = rng.choice(self.packets)
                out = out[: rng.randint(0, len(out))] + bytearray(other[rng.randint(0, len(other)) :])
            elif choice == 6 and out:  # repeat a run
                i = rng.randrange(len(out))
                out[i:i] = out[i : i + rng.randint(1, 8)] * rng.randint(1, 4)
            elif choice == 7:  # grow past every limit
                out += rng.randbytes(rng.choice((64, 255, 300, 1024)))
            else:  # overwrite a span with one value
                if out:
                    i = rng.randrange(len(out))
                    n = rng.randint(1, 8)
                    out[i : i + n] = bytes([rng.randrange(256)]) * len(out[i : i + n])
        return bytes(out)

    def packet(self) -> bytes:
        return self.bytes_(self.rng.choice(self.packets))

    def serial_chunk(self) -> bytes:
        """A stretch of serial line: mutated frames, some with a correct CRC, some raw
        garbage, occasionally a valid frame, joined by delimiters or not."""
        rng = self.rng
        parts = []
        for _ in range(rng.randint(1, 3)):
            kind = rng.randrange(10)
            if kind < 2:
                parts.append(encode_frame(self.packet()))  # past the CRC, into the tag check
            elif kind < 4:
                parts.append(encode_frame(self.sealed()))  # past the tag, into the decoder
            elif kind < 8:
                parts.append(self.bytes_(encode_frame(rng.choice(self.packets))))
            elif kind == 8:
                parts.append(rng.randbytes(rng.randint(1, 64)))
            else:
                parts.append(encode_frame(rng.choice(self.packets)))  # a replay, most often
        return b"".join(parts)

    def json_value(self, depth: int = 0) -> Any:
        """Any JSON value, nested a little: what a broken or hostile forwarder might send."""
        rng = self.rng
        choice = rng.randrange(10 if depth < 2 else 7)
        if choice == 0:
            return None
        if choice == 1:
            return rng.random() < 0.5
        if choice == 2:
            return rng.randint(-(2**70), 2**70)
        if choice == 3:
            return rng.random() * 10.0 ** rng.randint(-5, 300) if rng.random() < 0.9 else float("nan")
        if choice == 4:
            return "x" * rng.randint(0, 100)
        if choice == 5:
            return rng.choice(("SF7BW125", "SF99BW125", "SFBW", "SF7BW", "LORA", "FSK", "4/5", "AAAA", "="))
        if choice == 6:
            return rng.choice((-1, 0, 1, 2, 868.1, -1e308))
        if choice == 7:
            return [self.json_value(depth + 1) for _ in range(rng.randint(0, 3))]
        if choice == 8:
            return {str(self.json_value(depth + 1))[:10]: self.json_value(depth + 1) for _ in range(rng.randint(0, 3))}
        return {"rxpk": [self.json_value(depth + 1)]}

    def rxpk(self) -> dict[str, Any]:
        rng = self.rng
        roll = rng.random()
        packet = self.packet() if roll < 0.5 else self.sealed() if roll < 0.8 else rng.choice(self.packets)
        entry: dict[str, Any] = {
            "tmst": rng.randrange(2**32),
            "freq": rng.choice((868.1, 868.3, 868.5)),
            "chan": 0,
            "rfch": 0,
            "stat": rng.choice((1, 1, 1, 0, -1)),
            "modu": "LORA",
            "datr": "SF%dBW125" % rng.randint(7, 12),
            "codr": "4/5",
            "rssi": rng.randint(-130, -30),
            "lsnr": round(rng.uniform(-20, 10), 1),
            "size": len(packet),
            "data": base64.b64encode(packet).decode(),
        }
        for _ in range(rng.randint(0, 3)):  # bend some fields out of shape
            key = rng.choice(list(entry) + ["extra"])
            if rng.random() < 0.2:
                entry.pop(key, None)
            else:
                entry[key] = self.json_value()
        if rng.random() < 0.1 and isinstance(entry.get("data"), str):
            entry["data"] += rng.choice(("!", "=", "A", "\u00e9"))
        return entry

    def datagram(self) -> bytes:
        rng = self.rng
        body: Any = {"rxpk": [self.rxpk() for _ in range(rng.randint(1, 3))]}
        if rng.random() < 0.15:
            body = self.json_value()
        elif rng.random() < 0.1:
            body["stat"] = self.json_value()
        text = json.dumps(body, allow_nan=True).encode()
        if rng.random() < 0.15:
            text = self.bytes_(text)
        token = rng.randbytes(2)
        ident = 0 if rng.random() < 0.85 else rng.choice((2, 5, 1, 3, 4, 99))
        # Raw on purpose: identifiers the codec would refuse to build (99) are part of the test.
        datagram = bytes([gwmp.VERSION]) + token + bytes([ident]) + rng.randbytes(gwmp.EUI_SIZE) + text
        if rng.random() < 0.05:
            datagram = self.bytes_(datagram)
        return datagram


class _PipelineReceiver:
    """What the daemon does with a transport's deliveries, down to the pipeline."""

    def __init__(self, pipeline: FramePipeline, outcomes: dict[str, int]) -> None:
        self.pipeline = pipeline
        self.outcomes = outcomes

    def on_stream(self, data: bytes, reception: Reception) -> None:
        check(self.pipeline.feed_stream(data, reception), self.outcomes)

    def on_packet(self, packet: bytes, reception: Reception) -> None:
        check(self.pipeline.feed_packet(packet, reception), self.outcomes)

    def on_transport_state(self, name: str, state: str, detail: str) -> None:
        pass

    def on_interference(self, name: str, at: float) -> None:
        self.outcomes["interference"] = self.outcomes.get("interference", 0) + 1


def check(outcomes: list[Any], tally: dict[str, int]) -> None:
    for outcome in outcomes:
        if isinstance(outcome, Frame):
            kind = "frame"
        elif isinstance(outcome, Rejected):
            kind = "rejected:" + outcome.kind
        elif isinstance(outcome, SecurityFinding):
            kind = "finding:" + outcome.kind
        else:
            raise TypeError("the pipeline returned %r" % (outcome,))
        tally[kind] = tally.get(kind, 0) + 1


def pipeline() -> FramePipeline:
    return FramePipeline(Keyring(SITE_KEY, set(NODES)), SITE_ID, report_interval_s=0.0)


def fuzz_serial(count: int, seed: int = 1) -> FuzzReport:
    """`count` mutated stretches of serial line through one deframer and the pipeline."""
    rng = random.Random(seed)
    mutator = Mutator(rng, seed_packets())
    report = FuzzReport("serial")
    receiver = _PipelineReceiver(pipeline(), report.outcomes)
    started = time.perf_counter()
    for i in range(count):
        data = mutator.serial_chunk()
        try:
            receiver.on_stream(data, Reception("fuzz-serial", float(i)))
        except Exception:
            report.crashes.append(Crash("serial", data, traceback.format_exc(limit=4)))
            receiver.pipeline.reset_stream("fuzz-serial")
    report.inputs = count
    report.seconds = time.perf_counter() - started
    return report


def fuzz_datagrams(count: int, seed: int = 2) -> FuzzReport:
    """`count` mutated GWMP datagrams through the Semtech UDP transport and the pipeline."""
    from gateway.config import SemtechUdpConfig

    rng = random.Random(seed)
    mutator = Mutator(rng, seed_packets())
    report = FuzzReport("udp")
    receiver = _PipelineReceiver(pipeline(), report.outcomes)
    transport = SemtechUdpTransport(SemtechUdpConfig(name="fuzz-udp"), receiver)
    started = time.perf_counter()
    for _ in range(count):
        data = mutator.datagram()
        try:
            try:
                transport._datagram(data, ("127.0.0.1", 1700))
            except BAD_DATAGRAM:  # a refusal, as `datagram()` counts it: not a crash
                transport.bad_datagrams += 1
        except Exception:
            report.crashes.append(Crash("udp", data, traceback.format_exc(limit=4)))
    report.outcomes["bad_datagrams"] = transport.bad_datagrams
    report.inputs = count
    report.seconds = time.perf_counter() - started
    return report
