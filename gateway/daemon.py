"""The gateway daemon: transports in, journal and MQTT out, supervision in between.

The asyncio shell around the sans-I/O parts. What arrives on a transport goes through the
`FramePipeline`; each accepted frame is journalled, its counter stored and its MQTT message
queued in one SQLite transaction; only after that commit does the node get its ACK. The MQTT
sink drains the queue on its own schedule, so a broker outage delays messages and loses none.
"""

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gateway import clock
from gateway.alarming.alarm_engine import AlarmEngine, Detection
from gateway.alarming.alarms import ACKNOWLEDGED, ACTIVE, CLEARED, DRONE, AlarmBook, Change
from gateway.alarming.desk import OperatorDesk
from gateway.config import GatewayConfig
from gateway.dashboard.live import LiveFeed
from gateway.dashboard.server import DashboardServer
from gateway.dashboard.views import alarm_view, log_entry, node_view, tracks_view
from gateway.ingest.pipeline import Frame, FramePipeline, Keyring, Reception, Rejected, SecurityFinding
from gateway.ingest.registry import COMM_FAIL, NodeRegistry, SupervisionChange
from gateway.ingest.transports import (
    UP,
    LoraBridgeTransport,
    SemtechUdpTransport,
    SerialTransport,
    TcpTransport,
    Transport,
)
from gateway.journal import Journal, canonical_data, utc_iso, utc_now
from gateway.outputs import topics
from gateway.outputs.homeassistant import discovery
from gateway.outputs.integrations import DeliverySink, MilestoneSink, WebhookSink, milestone_text, webhook_body
from gateway.outputs.mqtt_sink import MqttSink
from protocol.body import encode_body, field_labels
from protocol.messages import BY_ID, BY_NAME
from protocol.packet import seal_packet

log = logging.getLogger("perimeter.gateway")

EVENT_SCHEMA = "perimeter.event/1"
STATE_SCHEMA = "perimeter.node-state/1"
ACK = BY_NAME["ACK"].type_id
VERSION = "0.1.0"
STATE_REFRESH_S = 10.0


class Gateway:
    """One gateway: its transports, pipeline, journal, node registry and MQTT sink."""

    def __init__(self, config: GatewayConfig) -> None:
        self.config = config
        self.prefix = topics.prefix(config.mqtt.prefix, config.site_name, config.gateway_id)
        self.journal = Journal(config.journal)
        self.keyring = Keyring(config.site_key, {n.id for n in config.nodes})
        radio = [t.name for t in config.lora_bridge] + [t.name for t in config.semtech_udp]
        self.pipeline = FramePipeline(
            self.keyring,
            config.site_id,
            encrypted=config.encrypted,
            last_ctr=self.journal.last_counters(),
            dedup_window_s=config.dedup_window_ms / 1000,
            hold_transports=frozenset(radio) if len(radio) > 1 else frozenset(),
            bad_tag_alarm_count=config.bad_tag_alarm_count,
            bad_tag_alarm_window_s=config.bad_tag_alarm_window_s,
        )
        self.registry = NodeRegistry(config.missed_heartbeats, config.default_heartbeat_s)
        book = AlarmBook(config.site_name)
        book.restore(self.journal.retained(0), self.prefix)  # open alarms and masks survive restarts
        self.alarms = AlarmEngine(config.perimeter, book, config.rules)
        self.feed = LiveFeed()  # what the dashboard's open pages are told, after each commit
        self.feed.on_watching = self._watched
        self.zone_state: dict[str, str] = {}
        self.track_trails: dict[int, list[float]] = {}  # drone track -> its positions, for the map
        self._tracks_shown: tuple[tuple[int, float | None], ...] = ()
        self.desk = OperatorDesk(self)
        self.integrations: list[DeliverySink] = [MilestoneSink(m, self.journal) for m in config.milestone]
        for w in config.webhooks:
            token = Path(w.token_file).read_text().strip() if w.token_file else None
            self.integrations.append(WebhookSink(w, self.journal, token))
        for topic, payload in discovery(config, self.prefix):  # retained; rewritten only if changed
            self.journal.set_retained(topic, payload)
        self.publish_zones()
        self.journal.commit()
        now = clock.now()
        saved = self.journal.load_nodes()
        for node in config.nodes:
            self.registry.add(node.id, node.name, node.heartbeat_s, now)
            if node.id in saved:
                self.registry.restore(node.id, saved[node.id])
        self.transports: dict[str, Transport] = {}
        for s in config.serial:
            self.transports[s.name] = SerialTransport(s.name, self, s.port, s.baudrate)
        for b in config.lora_bridge:
            self.transports[b.name] = LoraBridgeTransport(b.name, self, b.port, b.baudrate)
        for t in config.tcp:
            self.transports[t.name] = TcpTransport(t.name, self, t.host, t.port)
        for u in config.semtech_udp:
            self.transports[u.name] = SemtechUdpTransport(u, self)
        self.sink = MqttSink(
            config.mqtt,
            self.journal,
            self.prefix,
            "perimeter-%s-%s" % (config.site_name, config.gateway_id),
            info=self.info,
            health=self.health,
            on_request=self.on_request,
        )
        self.counters = {
            "events": 0,
            "retransmits": 0,
            "acks_sent": 0,
            "acks_unsent": 0,
            "security_findings": 0,
            "state_changes": 0,
        }
        self._tasks: set[asyncio.Task[Any]] = set()
        self._node_published: dict[int, float] = {}
        self.walk_tests: dict[int, float] = {}  # node -> until when its detections are tests
        self._interference: dict[str, float] = {}  # transport -> when it last heard a bad CRC
        self._routes: dict[int, Reception] = {}  # node -> how it was last heard best: the way back
        self._after_commit: list[tuple[Reception, bytes]] = []  # downlinks waiting for their commit
        self._undo: list[Callable[[], None]] = []  # what a rollback puts back, newest last
        self._stop = asyncio.Event()
        self._deadline_moved = asyncio.Event()  # a fence window opened: supervision wakes for it
        self._supervision_wakes_at = 0.0  # when the supervision loop next runs on its own
        self.metrics_address: tuple[str, int] | None = None
        self.dashboard: DashboardServer | None = None
        if config.dashboard is not None:
            self.dashboard = DashboardServer(self, config.dashboard)

    # -- what transports deliver (Receiver) ------------------------------------------------------

    def on_stream(self, data: bytes, reception: Reception) -> None:
        self._handle(self.pipeline.feed_stream(data, reception))

    def on_packet(self, packet: bytes, reception: Reception) -> None:
        self._handle(self.pipeline.feed_packet(packet, reception))

    def on_transport_state(self, name: str, state: str, detail: str) -> None:
        if state != UP:
            self.pipeline.reset_stream(name)
        data = {"transport": name, "state": state, "detail": detail}

        def record() -> None:
            self.journal.append("transport", data)
            self.journal.set_retained(
                topics.bridge_transport(self.prefix, name), json.dumps(dict(data, ts=utc_now())).encode()
            )

        # A full disk must not take the transport's reconnect loop with it: durably() logs it.
        self.durably("transport=%s state=%s" % (name, state), record)

    def on_interference(self, name: str, at: float) -> None:
        """A radio receiver heard a packet its CRC rejected. Back-to-back ones (within a
        second) count as continuous interference; EN 50131-5-3 makes 30 s of it within 60 s
        a jamming alarm."""
        last = self._interference.get(name)
        self._interference[name] = at
        begin = max(last, at - 1.0) if last is not None and at - last <= 1.0 else at
        changes = self.alarms.on_interference(name, begin, at)
        if changes:
            self.durably("the jamming alarm of transport=%s" % name, lambda: self.alarm_changes(changes))

    # -- the sans-I/O outcomes, made durable -------------------------------------------------------

    def _handle(self, outcomes: list[Frame | Rejected | SecurityFinding]) -> None:
        if not outcomes:
            return
        acks: list[tuple[Reception, bytes]] = []

        def record() -> None:
            for outcome in outcomes:
                if isinstance(outcome, Frame):
                    ack = self._frame(outcome)
                    if ack is not None:
                        acks.append(ack)
                elif isinstance(outcome, SecurityFinding):
                    self._security(outcome)
                else:
                    log.debug(
                        "rejected transport=%s kind=%s node=%s %s",
                        outcome.transport,
                        outcome.kind,
                        outcome.node_id,
                        outcome.detail,
                    )

        # On failure nothing is acked: the nodes retransmit, and the journal stays consistent.
        if not self.durably("%d outcomes (nothing acked)" % len(outcomes), record):
            return
        deadline = self.alarms.next_deadline()
        if deadline is not None and deadline < self._supervision_wakes_at:
            self._deadline_moved.set()  # a window opened that closes before the next round
        for reception, packet in acks:
            self._send_ack(reception, packet)

    def _frame(self, frame: Frame) -> tuple[Reception, bytes] | None:
        packet = frame.packet
        node_id = packet.node_id
        message = BY_ID[packet.type_id]
        reception = frame.first
        now = reception.received_at
        self._routes[node_id] = max(frame.receptions, key=lambda r: r.rssi_dbm if r.rssi_dbm is not None else -1e9)
        self.journal.set_last_up(node_id, packet.ctr)
        receptions = [r.as_json() for r in frame.receptions]
        node, restored, changes = self.registry.heard(node_id, packet.type_id, packet.fields, receptions, now)
        for change in restored:
            self._supervision(change)
        if message.is_event:
            boot = node.boot_count if node.boot_count is not None else 0
            event_id = "%s:%d:%d:%d" % (self.config.site_name, node_id, boot, packet.fields["event_no"])
            payload = {
                "schema": EVENT_SCHEMA,
                "event_id": event_id,
                "site": self.config.site_name,
                "gateway": self.config.gateway_id,
                "node_id": node_id,
                "node": node.name,
                "type": message.name.lower(),
                "fields": packet.fields,
                "labels": field_labels(packet.type_id, packet.fields),
                "event_time": utc_iso(now - packet.fields["age_ds"] / 10),
                "received_at": utc_iso(now),
                "ctr": packet.ctr,
                "receptions": receptions,
            }
            testing = self.walk_tests.get(node_id, 0.0) > now
            if testing:
                payload["test"] = True  # a walk test: recorded and shown, never an alarm
            text = canonical_data(payload)  # serialized once: journal row, hash and MQTT payload
            new = self.journal.append("event", data_text=text, node_id=node_id, event_id=event_id, ts=utc_iso(now))
            if not new and not self._same_event(event_id, message.name, packet.fields):
                # Same event number, different event: the node restarted its numbering (a
                # reboot whose HELLO never arrived). Never drop it as a retransmission.
                log.warning(
                    "node=%d reused event_no %d for a different event: boot not seen",
                    node_id,
                    packet.fields["event_no"],
                )
                payload["event_id"] = event_id = "%s:c%d" % (event_id, packet.ctr)
                text = canonical_data(payload)
                new = self.journal.append("event", data_text=text, node_id=node_id, event_id=event_id, ts=utc_iso(now))
            if new:
                self.journal.enqueue(topics.node_event(self.prefix, node_id, message.name.lower()), text.encode())
                self.counters["events"] += 1
                if not testing:
                    happened = now - packet.fields["age_ds"] / 10
                    detection = Detection(event_id, node_id, message.name.lower(), packet.fields, happened)
                    self.alarm_changes(self.alarms.on_event(detection))
            else:
                self.counters["retransmits"] += 1  # already journalled and queued: ack again only
        if changes:
            self.counters["state_changes"] += 1
            self.journal.append(
                "state",
                {"node_id": node_id, "changed": changes, "state": {k: getattr(node, k) for k in changes}},
                node_id=node_id,
            )
        # Node state goes out when it changes, with every HELLO and heartbeat, and otherwise at
        # most every STATE_REFRESH_S: not once per event, which would double the MQTT traffic.
        self._publish_node(node_id, force=bool(changes or restored) or not message.is_event)
        if not packet.ack_req:
            return None
        _ctr, ack = self._seal_down(node_id, ACK, {"acked_ctr": packet.ctr})
        return self._routes[node_id], ack  # answer through the receiver that heard the node best

    def _seal_down(self, node_id: int, type_id: int, fields: dict[str, int]) -> tuple[int, bytes]:
        """A downlink packet for a node with its next downlink counter (taken in the
        caller's transaction)."""
        ctr = self.journal.take_down_ctr(node_id)
        body = encode_body(type_id, fields)
        key = self.keyring.key(node_id)
        return ctr, seal_packet(key, self.config.site_id, type_id, node_id, ctr, body, False, self.config.encrypted)

    def downlink(self, node_id: int, type_name: str, fields: dict[str, int]) -> int:
        """Seal a CONFIG or COMMAND for a node, inside the caller's transaction; it is sent
        the way the node was last heard once the transaction (and its counter) commits.
        Returns the downlink counter. ValueError if the node has never been heard."""
        route = self._routes.get(node_id)
        if route is None:
            raise ValueError("node %d has not been heard yet: no way to reach it" % node_id)
        ctr, packet = self._seal_down(node_id, BY_NAME[type_name].type_id, fields)
        self._after_commit.append((route, packet))
        return ctr

    def send_committed_downlinks(self) -> None:
        pending, self._after_commit = self._after_commit, []
        for reception, packet in pending:
            self._send_ack(reception, packet)

    def _same_event(self, event_id: str, type_name: str, fields: dict[str, int]) -> bool:
        """Whether a journalled event is the one these fields describe (a retransmission
        differs only in its age)."""
        stored = self.journal.event(event_id)
        if stored is None or stored.get("type") != type_name.lower():
            return False
        before = {k: v for k, v in stored.get("fields", {}).items() if k != "age_ds"}
        return before == {k: v for k, v in fields.items() if k != "age_ds"}

    def _publish_node(self, node_id: int, force: bool = True) -> None:
        node = self.registry.nodes[node_id]
        now = clock.now()
        if not force and now - self._node_published.get(node_id, 0.0) < STATE_REFRESH_S:
            return
        self._node_published[node_id] = now
        snapshot = node.snapshot()
        self.journal.save_node(node_id, snapshot)
        state = dict(
            snapshot,
            schema=STATE_SCHEMA,
            last_seen=utc_iso(node.last_seen) if node.last_seen else None,
            comm_fail_since=utc_iso(node.comm_fail_since) if node.comm_fail_since else None,
        )
        self.journal.set_retained(topics.node_state(self.prefix, node_id), json.dumps(state).encode())
        availability = b"offline" if node.supervision == COMM_FAIL else b"online"
        self.journal.set_retained(topics.node_availability(self.prefix, node_id), availability)
        if self.feed.subscribers:  # a view built only for an open page
            self.feed.stage("node", node_view(self, node_id))

    def _security(self, finding: SecurityFinding) -> None:
        self.counters["security_findings"] += 1
        now = clock.now()  # one time for the row, its id, its message and its alarm
        ts = utc_iso(now)
        data = {
            "schema": "perimeter.security/1",
            "kind": finding.kind,
            "node_id": finding.node_id,
            "transport": finding.transport,
            "count": finding.count,
            "detail": finding.detail,
            "alarm": finding.kind == "substitution",
            "ts": ts,
        }
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
        event_id = "%s:security:%s:%s:%s:%d" % (
            self.config.site_name,
            finding.kind,
            "-" if finding.node_id is None else finding.node_id,
            finding.transport,
            int(now * 1000),
        )
        data["event_id"] = event_id
        if not self.journal.append("security", data, node_id=finding.node_id, event_id=event_id, ts=ts):
            log.warning("security finding %s journalled already: not reported again", event_id)
            return
        self.journal.enqueue(topics.security_events(self.prefix), json.dumps(data).encode())
        # Forgery, replay, an unknown node and substitution are all someone at work on the
        # link: each is a security alarm (one per kind and node while open; findings are
        # already limited to one report a minute).
        self.alarm_changes(self.alarms.on_security(finding.kind, finding.node_id, event_id, now))

    def _supervision(self, change: SupervisionChange) -> None:
        node = self.registry.nodes[change.node_id]
        data = {
            "schema": "perimeter.supervision/1",
            "event_id": "%s:%d:supervision:%d" % (self.config.site_name, change.node_id, int(change.at * 1000)),
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
            self.alarm_changes(self.alarms.on_comm_fail(change.node_id, str(data["event_id"]), change.at))
        self._publish_node(change.node_id)

    def check_supervision(self, now: float | None = None) -> list[SupervisionChange]:
        now = clock.now() if now is None else now
        changes = self.registry.check(now)

        def record() -> None:
            for change in changes:
                self._supervision(change)
            # Fence windows that closed, masks that expired.
            self.alarm_changes(self.alarms.tick(now))

        self.durably("a supervision round", record)
        self._stage_tracks()
        self.feed.flush()
        return changes

    def _watched(self, watching: bool) -> None:
        """While a dashboard page is open, every journal row goes to its event log too."""
        self.journal.observer = (lambda entry: self.feed.stage("log", log_entry(entry))) if watching else None

    def durably(self, what: str, change: Callable[[], object]) -> bool:
        """Make a change durable: `change()` journals it (rows, counters, outbox, retained
        state) in one transaction, which is then committed; only then are the sink woken,
        the open pages told and the downlinks sealed in it sent. If anything fails, all of
        it is rolled back (pages told nothing, downlinks dropped), logged as `what`, and
        False returned: the daemon goes on. Every durable change goes through here."""
        try:
            change()
            self.journal.commit()
        except Exception:
            self._rollback()
            log.exception("could not journal %s", what)
            return False
        self._committed()
        return True

    def on_rollback(self, undo: Callable[[], None]) -> None:
        """Run `undo` if the open transaction is rolled back (a change to the gateway's own
        memory that must not outlive a failed commit)."""
        self._undo.append(undo)

    def _committed(self) -> None:
        self.alarms.book.commit()
        self._undo.clear()
        self.send_committed_downlinks()
        self.sink.wake()
        self.feed.flush()

    def _rollback(self) -> None:
        self.journal.rollback()
        # The alarm book and the gateway's own state go back to the last commit with the
        # journal: an alarm acknowledged, cleared or masked only in memory would be silence
        # nobody can account for. (The engine's look-back queues keep what they saw.)
        self.alarms.book.rollback()
        while self._undo:
            self._undo.pop()()
        self._after_commit.clear()
        self.feed.discard()

    def journal_dashboard(self, data: dict[str, Any]) -> bool:
        """Journal a dashboard happening (a login, a refused action); False if it could not be."""
        return self.durably("dashboard %s" % data.get("action"), lambda: self.journal.append("dashboard", data))

    def _stage_tracks(self) -> None:
        """Tell the pages where drones are, when that changed (tracks end without an alarm change)."""
        shown = tuple((t.track_id, t.position_m) for t in self.alarms.tracks if t.ended_at is None)
        if shown != self._tracks_shown:
            self._tracks_shown = shown
            live = {t for t, _ in shown}
            for track_id in [t for t in self.track_trails if t not in live]:
                del self.track_trails[track_id]
            self.feed.stage("tracks", {"tracks": tracks_view(self)})

    def alarm_changes(self, changes: list[Change]) -> None:
        """Journal each alarm change and publish the alarm retained (empty once cleared).
        Runs inside the caller's transaction."""
        for change in changes:
            alarm = change.alarm.as_json()
            row: dict[str, Any] = {"action": change.action, "operator": change.operator, "alarm": alarm}
            if change.evidence_added:
                row["evidence_added"] = change.evidence_added  # the message shows only the first and newest
            self.journal.append("alarm", row, event_id=None)
            topic = topics.alarm(self.prefix, change.alarm.alarm_id)
            self.journal.set_retained(topic, b"" if change.alarm.state == CLEARED else json.dumps(alarm).encode())
            for m in self.config.milestone:
                if change.action in m.actions:
                    self.journal.deliver(m.name, milestone_text(m, change))
            for w in self.config.webhooks:
                if change.action in w.actions:
                    self.journal.deliver(w.name, webhook_body(change))
            if change.alarm.category == DRONE and change.alarm.location_m is not None:
                trail = self.track_trails.setdefault(int(change.alarm.detail.get("track", 0)), [])
                if not trail or trail[-1] != change.alarm.location_m:
                    trail.append(change.alarm.location_m)
                    del trail[:-100]
            if self.feed.subscribers:
                self.feed.stage("alarm", dict(alarm_view(self, change.alarm), action=change.action))
            log.warning(
                "alarm %s %s category=%s zone=%s location_m=%s severity=%d",
                change.action,
                change.alarm.alarm_id,
                change.alarm.category,
                change.alarm.zone,
                alarm["location_m"],
                change.alarm.severity,
            )
        if changes:
            touched = {c.alarm.zone for c in changes} | {c.zone_before for c in changes}
            self.publish_zones(zones=touched)
            self._stage_tracks()

    def publish_zones(self, now: float | None = None, zones: set[str | None] | None = None) -> None:
        """Each zone's alarm state (or only these zones'), retained on `P/zone/<name>/state`
        (Home Assistant's zone sensors read it). Only a change is written."""
        now = clock.now() if now is None else now
        book = self.alarms.book
        for zone in self.config.perimeter.zones:
            if zones is not None and zone.name not in zones:
                continue
            open_here = book.open_in_zone(zone.name)
            if book.masked(zone.name, now):
                state = "masked"
            elif any(a.state == ACTIVE for a in open_here):
                state = "alarm"
            elif any(a.state == ACKNOWLEDGED for a in open_here):
                state = "acknowledged"
            else:
                state = "clear"
            if self.zone_state.get(zone.name) != state:
                self.zone_state[zone.name] = state
                self.feed.stage("zone", {"zone": zone.name, "state": state})
            mask = book.masks.get(zone.name)
            data = {
                "zone": zone.name,
                "state": state,
                "open_alarms": len(open_here),
                "masked_until": utc_iso(mask.until) if mask and state == "masked" else None,
            }
            self.journal.set_retained(topics.zone_state(self.prefix, zone.name), json.dumps(data).encode())

    def on_request(self, command: str, payload: bytes) -> dict[str, Any] | None:
        """An operator's request on `P/bridge/request/<command>`, or from the dashboard:
        carried out, journalled with the operator's name, and answered on
        `P/bridge/response/<command>`. The response; None if it could not be journalled."""
        answered: list[dict[str, Any]] = []

        def record() -> None:
            response = self.desk.handle(command, payload, clock.now())
            self.publish_zones()
            self.journal.enqueue(topics.response(self.prefix, command), json.dumps(response).encode())
            answered.append(response)

        return answered[0] if self.durably("operator request %s" % command, record) else None

    def _send_ack(self, reception: Reception, packet: bytes) -> None:
        transport = self.transports.get(reception.transport)
        sent = False
        if transport is not None:
            try:
                sent = transport.send(packet, reception)
            except Exception as exc:  # a link failing under a write: the node retransmits
                log.warning("ack transport=%s failed: %s", reception.transport, exc)
        self.counters["acks_sent" if sent else "acks_unsent"] += 1

    # -- reports ---------------------------------------------------------------------------------

    def info(self) -> dict[str, Any]:
        return {
            "version": VERSION,
            "site": self.config.site_name,
            "gateway": self.config.gateway_id,
            "transports": {name: t.kind for name, t in self.transports.items()},
            "nodes": len(self.registry.nodes),
            "encrypted": self.config.encrypted,
        }

    def health(self) -> dict[str, Any]:
        states: dict[str, int] = {}
        for node in self.registry.nodes.values():
            states[node.supervision] = states.get(node.supervision, 0) + 1
        return {
            "transports": {n: t.state for n, t in self.transports.items()},
            "frames": {n: dict(c) for n, c in self.pipeline.counters.items()},
            "outbox_depth": self.journal.outbox_depth(),
            "supervision": states,
            "mqtt_connected": self.sink.connected,
            "mqtt_reconnects": self.sink.reconnects,
            **self.counters,
        }

    def metrics_text(self) -> str:
        """Prometheus exposition of the counters."""
        lines = []

        def metric(name: str, kind: str, help_text: str, samples: list[tuple[str, float]]) -> None:
            lines.append("# HELP perimeter_%s %s" % (name, help_text))
            lines.append("# TYPE perimeter_%s %s" % (name, kind))
            for labels, value in samples:
                lines.append("perimeter_%s%s %s" % (name, labels, value))

        frames = [
            ('{transport="%s",result="%s"}' % (t, k), float(v))
            for t in sorted(self.pipeline.counters)
            for k, v in self.pipeline.counters[t].items()
        ]
        metric("frames_total", "counter", "Frames received, by transport and result.", frames)
        metric(
            "transport_up",
            "gauge",
            "1 while the transport is connected.",
            [
                ('{transport="%s",kind="%s"}' % (n, t.kind), 1.0 if t.state == UP else 0.0)
                for n, t in sorted(self.transports.items())
            ],
        )
        metric(
            "transport_reconnects_total",
            "counter",
            "Times a transport was lost after being up.",
            [('{transport="%s"}' % n, float(t.reconnects)) for n, t in sorted(self.transports.items())],
        )
        metric(
            "outbox_depth",
            "gauge",
            "MQTT messages awaiting the broker's PUBACK.",
            [("", float(self.journal.outbox_depth()))],
        )
        states = {"ok": 0, "comm_fail": 0}
        for node in self.registry.nodes.values():
            states[node.supervision] = states.get(node.supervision, 0) + 1
        metric(
            "nodes", "gauge", "Nodes by supervision state.", [('{state="%s"}' % s, float(n)) for s, n in states.items()]
        )
        metric(
            "mqtt_connected", "gauge", "1 while connected to the broker.", [("", 1.0 if self.sink.connected else 0.0)]
        )
        metric("mqtt_reconnects_total", "counter", "Broker connections lost.", [("", float(self.sink.reconnects))])
        for name, value in sorted(self.counters.items()):
            metric(name + "_total", "counter", "Gateway %s." % name.replace("_", " "), [("", float(value))])
        return "\n".join(lines) + "\n"

    # -- lifecycle -------------------------------------------------------------------------------

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _supervision_delay(self) -> float:
        """Half a second, or less when a fence window closes sooner: a climb's alarm should
        not wait for the next round."""
        deadline = self.alarms.next_deadline()
        return 0.5 if deadline is None else max(0.0, min(0.5, deadline - clock.now()))

    async def _supervise(self) -> None:
        while True:
            try:
                self.check_supervision()
            except Exception:  # keep supervising: the next check retries what failed to commit
                self._rollback()
                log.exception("supervision check failed")
            # Asleep until the next round, or until a fence window opens that closes sooner.
            self._deadline_moved.clear()
            delay = self._supervision_delay()
            self._supervision_wakes_at = clock.now() + delay
            nap = asyncio.ensure_future(clock.sleep(delay))
            moved = asyncio.ensure_future(self._deadline_moved.wait())
            try:
                await asyncio.wait({nap, moved}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                nap.cancel()
                moved.cancel()

    async def _release_held(self) -> None:
        while True:
            deadline = self.pipeline.next_deadline()
            delay = 0.05 if deadline is None else max(0.0, min(0.05, deadline - clock.now()))
            await clock.sleep(delay)
            self._handle(self.pipeline.poll(clock.now()))

    async def _serve_metrics(self) -> asyncio.Server | None:
        if not self.config.metrics_listen:
            return None
        host, _, port = self.config.metrics_listen.rpartition(":")

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                async with asyncio.timeout(5):
                    request = await reader.readline()
                    while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                        pass
                path = request.split(b" ")[1] if request.count(b" ") >= 2 else b""
                if path == b"/metrics":
                    body, status = self.metrics_text().encode(), b"200 OK"
                else:
                    body, status = b"see /metrics\n", b"404 Not Found"
                writer.write(
                    b"HTTP/1.1 " + status + b"\r\nContent-Type: text/plain; version=0.0.4\r\n"
                    b"Content-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body
                )
                await writer.drain()
            except (TimeoutError, ConnectionError):
                pass
            finally:
                writer.close()

        try:
            server = await asyncio.start_server(handle, host or "127.0.0.1", int(port))
        except OSError as exc:
            log.error("metrics listen=%s failed: %s (running without metrics)", self.config.metrics_listen, exc)
            return None
        self.metrics_address = server.sockets[0].getsockname()[:2]
        return server

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        """Run until `stop()` (or SIGTERM/SIGINT when run by `serve`)."""
        self.journal.append("gateway", {"action": "start", "version": VERSION, "transports": list(self.transports)})
        self.journal.commit()
        for transport in self.transports.values():
            self._spawn(transport.run())
        self._spawn(self.sink.run())
        for integration in self.integrations:
            self._spawn(integration.run())
        self._spawn(self._supervise())
        self._spawn(self._release_held())
        server = await self._serve_metrics()
        if self.dashboard is not None:
            dashboard = self._spawn(self.dashboard.run())
        notify("READY=1")
        watchdog = self._spawn(self._watchdog())
        log.info(
            "gateway=%s site=%s transports=%d nodes=%d started",
            self.config.gateway_id,
            self.config.site_name,
            len(self.transports),
            len(self.registry.nodes),
        )
        try:
            await self._stop.wait()
        finally:
            notify("STOPPING=1")
            watchdog.cancel()
            if self.dashboard is not None:
                self.dashboard.stop()
                with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                    await asyncio.wait_for(asyncio.shield(dashboard), 3)
            for transport in self.transports.values():
                transport.stop()
            self.sink.stop()
            # Cancel until everything has stopped: a cancellation that races a completing
            # wait_for (inside aiomqtt, on Python 3.11) can be swallowed once.
            while pending := [t for t in self._tasks if not t.done()]:
                for task in pending:
                    task.cancel()
                await asyncio.wait(pending, timeout=0.5)
            if server is not None:
                server.close()
            # A full disk must not turn a clean stop into a crash: durably() logs it.
            self.durably("the stop", lambda: self.journal.append("gateway", {"action": "stop"}))
            self.journal.close()

    async def _watchdog(self) -> None:
        usec = os.environ.get("WATCHDOG_USEC")
        interval = int(usec) / 2e6 if usec and usec.isdigit() else 10.0
        while True:
            notify("WATCHDOG=1")
            await asyncio.sleep(interval)


def notify(state: str) -> None:
    """Tell systemd (Type=notify) how we are; nothing happens outside systemd."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]
    with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.sendto(state.encode(), address)


async def serve(config: GatewayConfig) -> None:
    """Run a gateway until SIGTERM or SIGINT."""
    gateway = Gateway(config)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, gateway.stop)
    await gateway.run()


__all__ = ["Gateway", "serve"]
