"""The sans-I/O receive pipeline: bytes in, verified frames and security findings out.

    deframe -> verify tag -> de-duplicate / replay check -> decrypt -> decode -> outcomes

Nothing here awaits, reads a socket or touches the disk: transports feed it bytes or
packets with a `Reception` (who heard it, how well), and `poll(now)` hands out frames whose
de-duplication window has closed. State it keeps: the keyring, the last counter accepted per
node (seeded from the journal at start, so replays are refused across restarts), a short
memory of recent `(node, ctr)` for multi-receiver de-duplication, and per-transport counters.
"""

from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from gateway.ingest.freshness import Freshness
from gateway.ingest.keyring import Keyring
from protocol.errors import FrameRejected
from protocol.framing import Deframer
from protocol.keys import NodeKey
from protocol.messages import UP
from protocol.packet import OVERHEAD, Header, Packet, decode_verified, header_node_id, verify_packet

# Rejection kinds beyond the protocol's own.
UNKNOWN_NODE = "unknown_node"
COUNTER_KINDS = (
    "frames_ok",
    "duplicate",
    "bad_crc",
    "truncated",
    "oversize",
    "bad_tag",
    "replay",
    "unknown_node",
    "decode_error",
    "late",
    "revoked",
)


@dataclass(frozen=True)
class Reception:
    """One receiver's hearing of a frame."""

    transport: str
    received_at: float  # wall clock, seconds
    rssi_dbm: float | None = None
    snr_db: float | None = None
    frequency_hz: int | None = None
    sf: int | None = None
    # What the transport needs to answer on the same path (e.g. the concentrator's address).
    reply_to: Any = field(default=None, compare=False)

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"transport": self.transport}
        for name in ("rssi_dbm", "snr_db", "frequency_hz", "sf"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out


@dataclass
class Frame:
    """An authentic, fresh frame, with every reception merged into it."""

    packet: Packet
    receptions: list[Reception]
    late_s: float | None = None  # played this long after the node sent it (`freshness.py`)
    epoch: int = 0  # of the node key its tag verified under
    rekeyed: bool = False  # under the key agreed with the node, not yet its current one

    @property
    def first(self) -> Reception:
        return self.receptions[0]


@dataclass(frozen=True)
class Rejected:
    """A frame that did not pass; `kind` is a protocol error kind or `unknown_node`."""

    transport: str
    kind: str
    node_id: int | None
    detail: str


@dataclass(frozen=True)
class SecurityFinding:
    """Something an attacker may be doing, to journal and report.

    `kind`: "bad_tag", "replay", "unknown_node" (reported at most once per node and kind per
    report interval, with the count since the last report) or "substitution" (repeated bad
    tags claiming one node id: someone is trying to pass for it), or "delivery_blocked" (a
    node's heartbeats arrive while the frames they say it holds do not: `delivery_watch.py`),
    "late_frame" (an authentic frame played long after it was sent: `freshness.py`), or
    "revoked_key" (a frame under a node key that was revoked: `gateway/identity/revocations.py`).
    """

    kind: str
    node_id: int | None
    transport: str
    count: int
    detail: str


LATE_FRAME = "late_frame"  # an authentic frame played long after the node sent it
REVOKED_KEY = "revoked_key"  # a frame under a node key that `perimeter node revoke` revoked


Outcome = Frame | Rejected | SecurityFinding
__all__ = ["Frame", "FramePipeline", "Keyring", "Outcome", "Reception", "Rejected", "SecurityFinding"]


class FramePipeline:
    """Verifies and de-duplicates frames from every transport of one gateway."""

    def __init__(
        self,
        keyring: Keyring,
        site_id: int,
        *,
        encrypted: bool = True,
        last_ctr: dict[int, int] | None = None,
        dedup_window_s: float = 0.2,
        hold_transports: frozenset[str] = frozenset(),
        bad_tag_alarm_count: int = 5,
        bad_tag_alarm_window_s: float = 60.0,
        report_interval_s: float = 60.0,
        late_frame_s: float = 30.0,
    ) -> None:
        self.keyring = keyring
        self.site_id = site_id
        self.encrypted = encrypted
        self.last_ctr: dict[int, int] = dict(last_ctr or {})
        self.dedup_window_s = dedup_window_s
        # Frames heard on these transports wait out the window so that receptions from the
        # other receivers can join them; elsewhere (one receiver per node) they go at once.
        self.hold_transports = hold_transports
        self.bad_tag_alarm_count = bad_tag_alarm_count
        self.bad_tag_alarm_window_s = bad_tag_alarm_window_s
        self.report_interval_s = report_interval_s
        self.freshness = Freshness(late_frame_s)
        self.counters: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(COUNTER_KINDS, 0))
        self._deframers: dict[str, Deframer] = {}
        self._recent: dict[tuple[int, int], tuple[float, Frame, bool]] = {}
        self._recent_order: deque[tuple[float, tuple[int, int]]] = deque()
        self._held: deque[tuple[float, Frame]] = deque()
        self._bad_tags: dict[int, deque[float]] = defaultdict(deque)
        self._last_report: dict[tuple[str, int | None], float] = {}
        self._unreported: dict[tuple[str, int | None], int] = defaultdict(int)

    # -- input -----------------------------------------------------------------------------

    def feed_stream(self, data: bytes, reception: Reception) -> list[Outcome]:
        """Bytes from a COBS-framed stream (serial, TCP); `reception` describes the link."""
        deframer = self._deframers.get(reception.transport)
        if deframer is None:
            deframer = self._deframers[reception.transport] = Deframer()
        before = deframer.stats()
        deframer.feed(data)
        outcomes: list[Outcome] = []
        while (packet := deframer.next_packet()) is not None:
            outcomes += self.feed_packet(packet, reception)
        after = deframer.stats()
        counters = self.counters[reception.transport]
        for kind in ("bad_crc", "truncated", "oversize"):
            counters[kind] += after[kind] - before[kind]
        return outcomes

    def reset_stream(self, transport: str) -> None:
        """The link was lost: a frame half-received before it is not joined to what follows."""
        self._deframers.pop(transport, None)

    def feed_packet(self, packet: bytes, reception: Reception) -> list[Outcome]:
        """One packet (a LoRa payload, or a deframed serial frame) and who heard it."""
        counters = self.counters[reception.transport]
        now = reception.received_at
        self._expire(now)
        if len(packet) < OVERHEAD:
            counters["truncated"] += 1
            return [Rejected(reception.transport, "truncated", None, "packet of %d bytes" % len(packet))]
        node_id = header_node_id(packet)
        if not self.keyring.knows(node_id):
            counters["unknown_node"] += 1
            # Reported per kind, not per made-up id, so a flood of invented ids is one finding.
            detail = "frame from node %d, not on this site" % node_id
            out = self._security(UNKNOWN_NODE, None, reception, detail)
            return [Rejected(reception.transport, UNKNOWN_NODE, node_id, detail), *out[1:]]
        try:
            header, epoch, key = self._verify(node_id, packet)
        except FrameRejected as exc:
            if exc.kind == "tag":
                if any(self._verifies(key, packet) for key in self.keyring.revoked_keys(node_id)):
                    counters["revoked"] += 1  # the key someone read off the node's flash
                    detail = "frame under node %d's revoked key generation" % node_id
                    return self._security(REVOKED_KEY, node_id, reception, detail)
                counters["bad_tag"] += 1
                return self._bad_tag(node_id, reception)
            counters["truncated" if exc.kind == "truncated" else "decode_error"] += 1
            return [Rejected(reception.transport, exc.kind, node_id, exc.detail)]
        seen = self._recent.get((node_id, header.ctr))
        if seen is not None and all(r.transport != reception.transport for r in seen[1].receptions):
            # The same authentic transmission heard by another receiver: one frame, two hearings.
            # Heard twice on the same transport it is a replay, and falls through to that check.
            counters["duplicate"] += 1
            seen[1].receptions.append(reception)
            return []
        last = self.last_ctr.get(node_id)
        if last is not None and header.ctr <= last:
            counters["replay"] += 1
            detail = "ctr %d is not above %d" % (header.ctr, last)
            return self._security("replay", node_id, reception, detail)
        try:
            opened = decode_verified(key, self.site_id, header, packet, self.encrypted)
        except FrameRejected as exc:
            counters["decode_error"] += 1
            # Authentic (the tag verified) but undecodable: the counter is spent all the same.
            self.last_ctr[node_id] = header.ctr
            return [Rejected(reception.transport, exc.kind, node_id, exc.detail)]
        self.last_ctr[node_id] = header.ctr
        counters["frames_ok"] += 1
        frame = Frame(opened, [reception], self.freshness.check(node_id, opened.boot, opened.sent_ds, now), epoch)
        agreed = self.keyring.agreed(node_id)
        if agreed is not None and key is agreed[1]:  # the first frame under its agreed key
            frame.rekeyed = True
        findings: list[Outcome] = []
        if frame.late_s is not None:
            counters["late"] += 1
            detail = "%s ctr %d played %.0f s after node %d sent it (recorded, withheld and played back)" % (
                opened.name,
                opened.ctr,
                frame.late_s,
                node_id,
            )
            findings = self._security(LATE_FRAME, node_id, reception, detail)[1:]
        hold = self.dedup_window_s > 0 and reception.transport in self.hold_transports
        self._recent[(node_id, header.ctr)] = (now, frame, hold)
        self._recent_order.append((now, (node_id, header.ctr)))
        if hold:
            self._held.append((now + self.dedup_window_s, frame))
            return findings
        return [frame, *findings]

    def poll(self, now: float) -> list[Outcome]:
        """Held frames whose de-duplication window has closed, with all their receptions."""
        self._expire(now)
        out: list[Outcome] = []
        while self._held and self._held[0][0] <= now:
            out.append(self._held.popleft()[1])
        return out

    def next_deadline(self) -> float | None:
        """When `poll` next has something to hand out."""
        return self._held[0][0] if self._held else None

    # -- internals -------------------------------------------------------------------------

    def _verifies(self, key: NodeKey, packet: bytes) -> bool:
        try:
            verify_packet(key, self.site_id, packet, UP)
        except FrameRejected:
            return False
        return True

    def _verify(self, node_id: int, packet: bytes) -> tuple[Header, int, NodeKey]:
        """The header, epoch and key of the first of the node's keys the tag verifies under."""
        failed: FrameRejected | None = None
        for epoch, key in self.keyring.candidates(node_id):
            try:
                return verify_packet(key, self.site_id, packet, UP), epoch, key
            except FrameRejected as exc:
                if exc.kind != "tag":
                    raise
                failed = exc
        assert failed is not None
        raise failed

    def _expire(self, now: float) -> None:
        horizon = now - max(self.dedup_window_s, 0.0)
        while self._recent_order and self._recent_order[0][0] < horizon:
            _, key = self._recent_order.popleft()
            self._recent.pop(key, None)

    def _bad_tag(self, node_id: int, reception: Reception) -> list[Outcome]:
        now = reception.received_at
        times = self._bad_tags[node_id]
        times.append(now)
        while times and times[0] < now - self.bad_tag_alarm_window_s:
            times.popleft()
        out = self._security("bad_tag", node_id, reception, "tag does not verify (forged, corrupted or wrong key)")
        if len(times) >= self.bad_tag_alarm_count:
            out.append(
                SecurityFinding(
                    "substitution",
                    node_id,
                    reception.transport,
                    len(times),
                    "%d bad tags claiming node %d within %d s" % (len(times), node_id, self.bad_tag_alarm_window_s),
                )
            )
            times.clear()
        return out

    def _security(self, kind: str, node_id: int | None, reception: Reception, detail: str) -> list[Outcome]:
        """A rejection, plus a finding unless one for this node and kind went out recently."""
        out: list[Outcome] = [Rejected(reception.transport, kind, node_id, detail)]
        slot = (kind, node_id)
        self._unreported[slot] += 1
        now = reception.received_at
        last = self._last_report.get(slot)
        if last is None or now - last >= self.report_interval_s:
            out.append(SecurityFinding(kind, node_id, reception.transport, self._unreported.pop(slot), detail))
            self._last_report[slot] = now
        return out
