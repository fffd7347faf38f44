"""A node at the frame level: builds real, sealed frames with fresh counters, reads its ACKs.

No sensors and no detectors here (the firmware has those); this stands in for a node's radio
or serial traffic in tests, benches and demos.
"""

from protocol.body import encode_body
from protocol.envelope import ENVELOPE_TYPE, wrap
from protocol.framing import Deframer, encode_frame
from protocol.keys import NodeKey
from protocol.messages import BY_NAME, DOWN
from protocol.packet import open_packet, seal_packet

SITE_KEY = bytes(range(100, 132))
SITE_ID = 90210


class SimNode:
    """A node that builds real frames with a fresh counter each, and reads its ACKs."""

    def __init__(self, node_id: int, site_key: bytes = SITE_KEY, site_id: int = SITE_ID, ctr: int = 1) -> None:
        self.node_id = node_id
        self.key = NodeKey.for_node(site_key, node_id)
        self.site_id = site_id
        self.ctr = ctr
        self.event_no = 0
        self.deframer = Deframer()
        self.acked: list[int] = []
        # Set `boot` to send as firmware 0.5 does, in an ENVELOPE carrying the boot and the
        # node's clock (`clock_s`, seconds since boot, which the caller moves on).
        self.boot: int | None = None
        self.clock_s = 0.0
        self.padded = False

    def packet(self, type_name: str, fields: dict[str, int], ack_req: bool = False) -> bytes:
        type_id = BY_NAME[type_name].type_id
        body = encode_body(type_id, fields)
        if self.boot is not None:
            body = wrap(type_id, body, ack_req, self.boot, int(self.clock_s * 10), self.padded)
            type_id, ack_req = ENVELOPE_TYPE, False
        packet = seal_packet(self.key, self.site_id, type_id, self.node_id, self.ctr, body, ack_req)
        self.ctr += 1
        return packet

    def frame(self, type_name: str, fields: dict[str, int], ack_req: bool = False) -> bytes:
        return encode_frame(self.packet(type_name, fields, ack_req))

    def fence_packet(self, peak: int = 1500, event_no: int | None = None, ack_req: bool = True, cls: int = 1) -> bytes:
        """A FENCE event; `cls` 1 climb, 2 cut, 3 rattle."""
        if event_no is None:
            self.event_no += 1
            event_no = self.event_no
        fields = {
            "event_no": event_no,
            "age_ds": 1,
            "class": cls,
            "peak": peak,
            "noise_floor": 30,
            "pulses": 12,
            "duration_ds": 25,
        }
        return self.packet("FENCE", fields, ack_req)

    def fence(self, peak: int = 1500, event_no: int | None = None, ack_req: bool = True, cls: int = 1) -> bytes:
        return encode_frame(self.fence_packet(peak, event_no, ack_req, cls))

    def heartbeat(self, battery_mv: int = 3700, queued: int = 0) -> bytes:
        return encode_frame(self.heartbeat_packet(battery_mv, queued))

    def heartbeat_packet(self, battery_mv: int = 3700, queued: int = 0) -> bytes:
        return self.packet(
            "HEARTBEAT",
            {
                "battery_mv": battery_mv,
                "temperature_dc": 120,
                "status": 2,
                "downlink_rssi_dbm": -90,
                "fence_floor": 30,
                "acoustic_floor": 400,
                "impact_floor": 10,
                "queued": queued,
                "uptime_s": 100,
            },
        )

    def hello(self, boot_count: int = 1, heartbeat_s: int = 30) -> bytes:
        return encode_frame(self.hello_packet(boot_count, heartbeat_s))

    def hello_packet(self, boot_count: int = 1, heartbeat_s: int = 30) -> bytes:
        return self.packet(
            "HELLO",
            {
                "fw_major": 0,
                "fw_minor": 1,
                "fw_patch": 0,
                "boot_count": boot_count,
                "reset_cause": 1,
                "capabilities": 7,
                "heartbeat_s": heartbeat_s,
                "config_id": 0,
            },
        )

    def take_acks(self, data: bytes, last_down: int | None = None) -> list[int]:
        """ACKs in downlink bytes: the uplink counters they acknowledge."""
        self.deframer.feed(data)
        got = []
        while (packet := self.deframer.next_packet()) is not None:
            opened = open_packet(self.key, self.site_id, packet, DOWN, last_down)
            got.append(opened.fields["acked_ctr"])
        self.acked += got
        return got
