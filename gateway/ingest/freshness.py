"""Freshness: a frame played late by someone who recorded it, told from one sent late.

The counter refuses a frame heard before, not one nobody heard: an attacker who jams the
gateway while recording a node's frames can play them whenever it suits him, and they
would pass for the node's news (a node in comm-fail "restored" by its own old heartbeats).
An ENVELOPE carries the node's boot and its clock when the frame was sealed (`sent_ds`;
a retransmission is sealed afresh, so an event that waited on the node is not late). The
gateway anchors each node's clock to its own: `offset = received_at - sent`. A frame whose
offset exceeds the earliest the node's clock could now read by more than `late_after_s` was
played late.

The anchor is the lowest offset seen in this boot, allowed to rise by `drift_ppm` of the
time since (a node's crystal runs a little slow or fast; an attacker's delays do not move
it, since each delayed frame's offset lies above it). A new boot (the envelope's boot byte
changes) starts a new anchor. The anchors are kept with each node's saved state, so a restart
does not give the first frame after it a free pass. What cannot be judged: frames of a boot
the gateway never heard a fresh frame of, and bare frames (firmware before 0.5). Sans-I/O:
fed each accepted frame's boot, clock and arrival time.
"""

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Anchor:
    boot: int
    offset: float  # received_at - sent, seconds, the lowest this boot (drift allowed for)
    at: float  # when it was set


class Freshness:
    def __init__(self, late_after_s: float = 30.0, drift_ppm: float = 200.0) -> None:
        self.late_after_s = late_after_s
        self.drift = drift_ppm * 1e-6
        self.anchors: dict[int, Anchor] = {}

    def check(self, node_id: int, boot: int | None, sent_ds: int | None, received_at: float) -> float | None:
        """How many seconds late the frame was played, or None if it is fresh (or bare)."""
        if boot is None or sent_ds is None:
            return None
        offset = received_at - sent_ds / 10
        anchor = self.anchors.get(node_id)
        if anchor is None or anchor.boot != boot:
            self.anchors[node_id] = Anchor(boot, offset, received_at)
            return None
        earliest = anchor.offset + self.drift * max(0.0, received_at - anchor.at)
        late = offset - earliest
        if late > self.late_after_s:
            return late  # the anchor stays: a late frame says nothing of the node's clock
        self.anchors[node_id] = Anchor(boot, min(offset, earliest), received_at)
        return None

    def state(self, node_id: int) -> Anchor | None:
        """What is known of a node now (for a rollback to put back)."""
        return self.anchors.get(node_id)

    def restore(self, node_id: int, anchor: Anchor | None) -> None:
        if anchor is None:
            self.anchors.pop(node_id, None)
        else:
            self.anchors[node_id] = anchor

    def snapshot(self, node_id: int) -> dict[str, float] | None:
        """The node's anchor as saved with its state (None: none yet)."""
        anchor = self.anchors.get(node_id)
        return None if anchor is None else {"boot": anchor.boot, "offset": anchor.offset, "at": anchor.at}

    def seed(self, saved: dict[int, dict[str, Any]]) -> None:
        """Take back the anchors saved with the nodes' state (at a gateway start)."""
        for node_id, state in saved.items():
            anchor = state.get("freshness")
            if isinstance(anchor, dict) and {"boot", "offset", "at"} <= anchor.keys():
                self.anchors[node_id] = Anchor(int(anchor["boot"]), float(anchor["offset"]), float(anchor["at"]))
