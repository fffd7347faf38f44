"""What the pipeline accepted, made into the gateway's record: each frame's event journalled
once (a retransmission is acked again, never recorded twice), node state kept and retained,
security findings and supervision changes journalled and published, and what they mean for
the alarms handed to the engine. Runs inside the caller's transaction; it sends nothing."""

import json
import logging
from collections.abc import Callable
from typing import Any

from gateway.alarming.alarm_engine import AlarmEngine
from gateway.alarming.fusion import Detection
from gateway.alarming.records import AlarmRecords
from gateway.clock import utc_iso
from gateway.evidence.hashchain import canonical_data
from gateway.evidence.journal import Journal
from gateway.identity.revocations import RevocationWatch
from gateway.ingest.delivery_watch import DeliveryWatch
from gateway.ingest.downlinks import Downlinks
from gateway.ingest.key_change import KEY_FINDINGS, KeyChanges
from gateway.ingest.pipeline import Frame, FramePipeline, Reception, SecurityFinding
from gateway.ingest.registry import COMM_FAIL, NodeRegistry, SupervisionChange
from gateway.outputs import topics
from protocol.body import field_labels
from protocol.messages import BY_ID

log = logging.getLogger("perimeter.gateway")

EVENT_SCHEMA = "perimeter.event/1"
STATE_SCHEMA = "perimeter.node-state/1"
STATE_REFRESH_S = 10.0


class Recorder:
    def __init__(
        self,
        site_name: str,
        gateway_id: str,
        prefix: str,
        journal: Journal,
        registry: NodeRegistry,
        alarms: AlarmEngine,
        records: AlarmRecords,
        downlinks: Downlinks,
        counters: dict[str, int],
        undo_on_rollback: Callable[[Callable[[], None]], None],
        delivery_blocked_heartbeats: int = 3,
        pipeline: FramePipeline | None = None,
    ) -> None:
        self.site_name = site_name
        self.gateway_id = gateway_id
        self.prefix = prefix
        self.journal = journal
        self.registry = registry
        self.alarms = alarms
        self.records = records
        self.downlinks = downlinks
        self.counters = counters
        self.undo_on_rollback = undo_on_rollback  # the open transaction's, for memory it changes
        self.clock = journal.clock  # the gateway's one clock, which stamps the rows too
        self.watch = DeliveryWatch(delivery_blocked_heartbeats)
        # The pipeline's freshness anchors are saved with each node's state.
        self.freshness = freshness = pipeline.freshness if pipeline is not None else None
        if freshness is not None:
            freshness.seed(journal.load_nodes())
        self.walk_tests: dict[int, float] = {}  # node -> until when its detections are tests
        self.on_node: list[Callable[[int], None]] = []  # a node's state was published
        self._node_published: dict[int, float] = {}
        self._security_ms = 0
        self._security_ids: dict[str, int] = {}  # this millisecond's finding ids: id -> uses
        self.key_changes = KeyChanges(journal, registry, downlinks, self.security, undo_on_rollback)
        keyring = downlinks.keyring
        last_ctr = pipeline.last_ctr if pipeline is not None else {}
        self.revocations = RevocationWatch(
            keyring.site_keys.revocations,
            keyring,
            journal,
            undo_on_rollback,
            last_ctr,
            on_tampered=lambda node, detail: self.security(
                SecurityFinding("revocations_tampered", node, "-", 1, detail)
            ),
        )

    def frame(self, frame: Frame) -> list[tuple[Reception, bytes]]:
        """Record one accepted frame; what to send once committed: the ACK if the node asked
        or, during a key change, the gateway's offer of a key agreement."""
        packet = frame.packet
        node_id = packet.node_id
        message = BY_ID[packet.type_id]
        now = frame.first.received_at
        self.journal.set_last_up(node_id, packet.ctr)
        receptions = [r.as_json() for r in frame.receptions]
        node = self.registry.nodes[node_id]
        if frame.late_s is not None:
            # Played back by someone who withheld it: the event it tells of is recorded (and
            # its alarm raised, at the time the node saw it), but it says nothing of the node
            # now: no restore from comm-fail, no state, no route for downlinks, no ACK.
            if message.is_event:
                self._event(frame, node.name, node.boot_count or 0, receptions, now)
            return []
        self.downlinks.heard(frame)
        self._keep_node(node_id)
        kept = self.watch.state(node_id)
        self.undo_on_rollback(lambda: self.watch.restore(node_id, kept))
        node, restored, changes = self.registry.heard(node_id, packet.type_id, packet.fields, receptions, now)
        for change in restored:
            self.supervision(change)
        if message.name == "HELLO" and packet.fields["heartbeat_s"] > self.registry.max_heartbeat_s:
            limit = self.registry.max_heartbeat_s  # a node re-configured round the gateway (over USB, say)
            detail = "node %d says it beats every %d s, above the site's %d s: supervised at %d s" % (
                node_id,
                packet.fields["heartbeat_s"],
                limit,
                limit,
            )
            self.security(SecurityFinding("heartbeat_over_limit", node_id, frame.first.transport, 1, detail))
        blocked = self.watch.heard(node_id, message.name, packet.fields, packet.ctr)
        if blocked is not None:  # its heartbeats get through, its events do not: a selective jammer
            self.security(SecurityFinding("delivery_blocked", node_id, frame.first.transport, 1, blocked))
        if message.is_event:
            self._event(frame, node.name, node.boot_count or 0, receptions, now)
        if changes:
            self.counters["state_changes"] += 1
            self.journal.append(
                "state",
                {"node_id": node_id, "changed": changes, "state": {k: getattr(node, k) for k in changes}},
                node_id=node_id,
            )
        # Node state goes out when it changes, with every HELLO and heartbeat, and otherwise at
        # most every STATE_REFRESH_S: not once per event, which would double the MQTT traffic.
        self.publish_node(node_id, force=bool(changes or restored) or not message.is_event)
        if frame.rekeyed:
            self.key_changes.moved(frame)
        if message.name == "KEYX" and not self.key_changes.answer(frame):
            return []  # not acknowledged: the node never takes a key the gateway does not hold
        if packet.ack_req:
            return [self.downlinks.ack(node_id, packet.ctr)]
        return self.key_changes.offer(frame, now)

    def _keep_node(self, node_id: int) -> None:
        """What the registry knows of the node now, put back if the transaction fails: a
        node's state (its tamper, its supervision) must not say what the journal does not."""
        node = self.registry.nodes[node_id]
        before, via = node.__dict__.copy(), dict(node.via)  # via's entries are replaced, not changed

        def undo() -> None:
            node.__dict__.update(before)
            node.via = via

        self.undo_on_rollback(undo)

    def _event(self, frame: Frame, node_name: str, boot: int, receptions: list[dict[str, Any]], now: float) -> None:
        packet = frame.packet
        node_id = packet.node_id
        kind = BY_ID[packet.type_id].name.lower()
        event_id = "%s:%d:%d:%d" % (self.site_name, node_id, boot, packet.fields["event_no"])
        late = frame.late_s or 0.0
        happened = now - late - packet.fields["age_ds"] / 10
        payload = {
            "schema": EVENT_SCHEMA,
            "event_id": event_id,
            "site": self.site_name,
            "gateway": self.gateway_id,
            "node_id": node_id,
            "node": node_name,
            "type": kind,
            "fields": packet.fields,
            "labels": field_labels(packet.type_id, packet.fields),
            "event_time": utc_iso(happened),
            "received_at": utc_iso(now),
            "ctr": packet.ctr,
            "receptions": receptions,
        }
        if frame.late_s is not None:
            payload["late_s"] = round(frame.late_s, 1)
        # A walk test turns the fence's detections into tests; an opened box is never one.
        testing = self.walk_tests.get(node_id, 0.0) > now and kind != "tamper"
        if testing:
            payload["test"] = True  # a walk test: recorded and shown, never an alarm
        text = canonical_data(payload)  # serialized once: journal row, hash and MQTT payload
        new = self.journal.append("event", data_text=text, node_id=node_id, event_id=event_id, ts=utc_iso(now))
        if not new and not self._same_event(event_id, kind, packet.fields):
            # Same event number, different event: the node restarted its numbering (a
            # reboot whose HELLO never arrived). Never drop it as a retransmission.
            log.warning(
                "node=%d reused event_no %d for a different event: boot not seen", node_id, packet.fields["event_no"]
            )
            payload["event_id"] = event_id = "%s:c%d" % (event_id, packet.ctr)
            text = canonical_data(payload)
            new = self.journal.append("event", data_text=text, node_id=node_id, event_id=event_id, ts=utc_iso(now))
        if not new:
            self.counters["retransmits"] += 1  # already journalled and queued: ack again only
            return
        self.journal.enqueue(topics.node_event(self.prefix, node_id, kind), text.encode())
        self.counters["events"] += 1
        if not testing:
            self.records.write(self.alarms.on_event(Detection(event_id, node_id, kind, packet.fields, happened)))

    def _same_event(self, event_id: str, kind: str, fields: dict[str, int]) -> bool:
        """Whether a journalled event is the one these fields describe (a retransmission
        differs only in its age)."""
        stored = self.journal.event(event_id)
        if stored is None or stored.get("type") != kind:
            return False
        before = {k: v for k, v in stored.get("fields", {}).items() if k != "age_ds"}
        return before == {k: v for k, v in fields.items() if k != "age_ds"}

    def publish_node(self, node_id: int, force: bool = True) -> None:
        node = self.registry.nodes[node_id]
        now = self.clock.now()
        if not force and now - self._node_published.get(node_id, 0.0) < STATE_REFRESH_S:
            return
        self._node_published[node_id] = now
        snapshot = node.snapshot()
        anchor = self.freshness.snapshot(node_id) if self.freshness is not None else None
        self.journal.save_node(node_id, dict(snapshot, freshness=anchor) if anchor else snapshot)
        state = dict(
            snapshot,
            schema=STATE_SCHEMA,
            last_seen=utc_iso(node.last_seen) if node.last_seen else None,
            comm_fail_since=utc_iso(node.comm_fail_since) if node.comm_fail_since else None,
        )
        self.journal.set_retained(topics.node_state(self.prefix, node_id), json.dumps(state).encode())
        availability = b"offline" if node.supervision == COMM_FAIL else b"online"
        self.journal.set_retained(topics.node_availability(self.prefix, node_id), availability)
        for listener in self.on_node:
            listener(node_id)

    def security(self, finding: SecurityFinding) -> None:
        self.counters["security_findings"] += 1
        now = self.clock.now()  # one time for the row, its id, its message and its alarm
        ts = utc_iso(now)
        log.warning(
            "security kind=%s node=%s transport=%s count=%d %s",
            finding.kind,
            finding.node_id,
            finding.transport,
            finding.count,
            finding.detail,
        )
        # What the finding is about names it: findings about two nodes (or two transports)
        # in one batch are two rows, never one row and two messages.
        node = "-" if finding.node_id is None else finding.node_id
        event_id = "%s:security:%s:%s:%s:%d" % (self.site_name, finding.kind, node, finding.transport, int(now * 1000))
        # Two findings of one kind about one node within a millisecond (a heartbeat that
        # finds delivery blocked, and the next one, read from one batch) are two rows: the
        # second's id gets a suffix, or the journal would take it for the first again.
        if int(now * 1000) != self._security_ms:  # only this millisecond's ids can collide
            self._security_ms, self._security_ids = int(now * 1000), {}
        seen = self._security_ids.get(event_id, 0)
        self._security_ids[event_id] = seen + 1
        if seen:
            event_id = "%s:%d" % (event_id, seen + 1)
        data = {
            "schema": "perimeter.security/1",
            "event_id": event_id,
            "kind": finding.kind,
            "node_id": finding.node_id,
            "transport": finding.transport,
            "count": finding.count,
            "detail": finding.detail,
            "alarm": finding.kind
            in ("substitution", "delivery_blocked", "late_frame", "revoked_key", "revocations_tampered", *KEY_FINDINGS),
            "ts": ts,
        }
        if not self.journal.append("security", data, node_id=finding.node_id, event_id=event_id, ts=ts):
            log.warning("security finding %s journalled already: not reported again", event_id)
            return
        self.journal.enqueue(topics.security_events(self.prefix), json.dumps(data).encode())
        # Forgery, replay, an unknown node and substitution are all someone at work on the
        # link: each is a security alarm (one per kind and node while open; findings are
        # already limited to one report a minute).
        self.records.write(self.alarms.on_security(finding.kind, finding.node_id, event_id, now))

    def supervision(self, change: SupervisionChange) -> None:
        node = self.registry.nodes[change.node_id]
        data = {
            "schema": "perimeter.supervision/1",
            "event_id": "%s:%d:supervision:%d" % (self.site_name, change.node_id, int(change.at * 1000)),
            "node_id": change.node_id,
            "node": node.name,
            "state": change.state,
            "silent_s": round(change.silent_s, 1),
            "ts": utc_iso(change.at),
        }
        log.warning("supervision node=%d state=%s silent_s=%.1f", change.node_id, change.state, change.silent_s)
        self.journal.append("supervision", data, node_id=change.node_id)
        self.journal.enqueue(topics.node_event(self.prefix, change.node_id, "supervision"), json.dumps(data).encode())
        if change.state == COMM_FAIL:
            self.records.write(self.alarms.on_comm_fail(change.node_id, str(data["event_id"]), change.at))
        self.publish_node(change.node_id)
