"""The gateway daemon: the asyncio shell that wires the sans-I/O parts together and owns their tasks.

    async with Gateway(config) as gateway:   # journal opened, state restored, tasks started
        await gateway.stopped()              # until stop() (or SIGTERM/SIGINT under `serve`)

What arrives on a transport goes through the `FramePipeline`; the `Recorder` journals each accepted
frame, its counter and its MQTT message, and every change goes through one transaction helper
(`Transactions.durably`): only after the commit does the node get its ACK, the sink its wake-up and
the dashboard its news. The MQTT sink drains the journal's outbox on its own schedule, so a broker
outage delays messages and loses none.
"""

import asyncio
import contextlib
import json
import logging
import signal
from collections.abc import Callable
from typing import Any

from gateway import systemd
from gateway.alarming.alarm_engine import AlarmEngine
from gateway.alarming.alarms import AlarmBook
from gateway.alarming.desk import OperatorDesk
from gateway.alarming.operator_requests import OperatorRequests
from gateway.alarming.records import AlarmRecords
from gateway.clock import WALL, Clock
from gateway.config import ConfigError, GatewayConfig
from gateway.dashboard.gateway_site import GatewaySite
from gateway.dashboard.server import DashboardServer
from gateway.dashboard.state import DashboardState
from gateway.evidence import chain_state, witness
from gateway.evidence.journal import Journal
from gateway.evidence.witness import Witnesses
from gateway.identity.accounts import AccountFile, accounts_for
from gateway.identity.node_keys import NodeKeyStore, NodeKeyStoreError
from gateway.ingest.downlinks import Downlinks
from gateway.ingest.links import pipeline_for, transports_for
from gateway.ingest.pipeline import Frame, FramePipeline, Keyring, Reception, Rejected, SecurityFinding
from gateway.ingest.recorder import Recorder
from gateway.ingest.registry import NodeRegistry, SupervisionChange
from gateway.ingest.transports import UP, Transport
from gateway.outputs import incidents, status, topics
from gateway.outputs.homeassistant import discovery
from gateway.outputs.integrations import DeliverySink, integrations_for
from gateway.outputs.metrics import Metrics
from gateway.outputs.mqtt_sink import MqttSink
from gateway.outputs.status import VERSION
from gateway.transaction import Transactions

log = logging.getLogger("perimeter.gateway")

COUNTERS = ("events", "retransmits", "acks_sent", "acks_unsent", "security_findings", "state_changes")


class Gateway:
    """One gateway: its transports, pipeline, journal, node registry, alarms and outputs.
    Building one touches nothing; `open()` (which `async with` calls) opens the journal and
    restores what the last run left: counters, node state, open alarms and masks."""

    journal: Journal
    pipeline: FramePipeline
    registry: NodeRegistry
    alarms: AlarmEngine
    records: AlarmRecords
    downlinks: Downlinks
    recorder: Recorder
    desk: OperatorDesk
    requests: OperatorRequests
    witnesses: Witnesses
    live: DashboardState
    transactions: Transactions
    sink: MqttSink

    def __init__(self, config: GatewayConfig, clock: Clock = WALL) -> None:
        self.config = config
        self.clock = clock  # the one clock every part reads and every journal row is stamped with
        self.prefix = topics.prefix(config.mqtt.prefix, config.site_name, config.gateway_id)
        self.counters = dict.fromkeys(COUNTERS, 0)
        self.transports: dict[str, Transport] = {}
        self.integrations: list[DeliverySink] = []
        self.metrics = Metrics(self, config.metrics_listen)
        self.dashboard: DashboardServer | None = None
        self._dashboard_task: asyncio.Task[None] | None = None
        self._opened = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stop = asyncio.Event()
        self._deadline_moved = asyncio.Event()  # a fence window opened: supervision wakes for it
        self._supervision_wakes_at = 0.0  # when the supervision loop next runs on its own
        self._interference: dict[str, float] = {}  # transport -> when it last heard a bad CRC
        self._accounts: AccountFile | None = None  # who may send requests, in which role

    def info(self) -> dict[str, Any]:
        return status.info(self)

    def health(self) -> dict[str, Any]:
        return status.health(self)

    def open(self) -> "Gateway":
        """Open the journal and build the parts around what it remembers (what `async with`
        does first; specs that drive the parts without their tasks call it alone)."""
        config = self.config
        try:  # before the journal is opened: nothing to close if the store cannot be used
            store = NodeKeyStore(config.site_keys.node_keys) if config.site_keys.node_keys is not None else None
        except NodeKeyStoreError as exc:
            raise ConfigError(str(exc)) from None
        self.journal = journal = Journal(config.journal, clock=self.clock)
        keyring = Keyring(config.site_key, {n.id for n in config.nodes}, config.site_keys, store)
        self.pipeline = pipeline_for(config, keyring, chain_state.last_counters(journal))
        self.transactions = Transactions(journal)
        self.registry = NodeRegistry(
            config.missed_heartbeats, config.default_heartbeat_s, config.policy.max_heartbeat_s
        )
        book = AlarmBook(config.site_name)
        book.restore(journal.retained(0), self.prefix, chain_state.journalled_alarms(journal))  # open alarms, masks
        self.alarms = AlarmEngine(config.perimeter, book, config.rules)
        self.records = AlarmRecords(
            journal, self.prefix, book, config.perimeter.zones, config.milestone, config.webhooks
        )
        self.downlinks = Downlinks(journal, keyring, config.site_id, config.encrypted, self.transports, self.counters)
        self.recorder = Recorder(
            config.site_name,
            config.gateway_id,
            self.prefix,
            journal,
            self.registry,
            self.alarms,
            self.records,
            self.downlinks,
            self.counters,
            self.transactions.undo_on_rollback,
            config.delivery_blocked_heartbeats,
            self.pipeline,
        )
        self._accounts = accounts_for(config.accounts_file)
        self.witnesses = Witnesses(config.witness, tuple(w.name for w in config.webhooks if w.witness))
        zones = {z.name for z in config.perimeter.zones}
        self.desk = OperatorDesk(book, zones, self.registry.nodes, self.downlinks.reachable, self._role, config.policy)
        self.requests = requests = OperatorRequests(
            self.desk,
            journal,
            self.records,
            self.downlinks,
            self.recorder.walk_tests,
            self.transactions,
            self.prefix,
            self.clock,
        )
        self.live = DashboardState(
            site := GatewaySite(
                config, self.registry, self.alarms, self.transports, self.transactions, self.requests, self.clock
            )
        )
        self.live.feed.on_watching = self._watched
        self.records.on_change.append(self.live.alarm_changed)
        self.incidents = incidents.attach(self.records, self.prefix, config)  # for the region, if it has one
        self.records.on_zone.append(self.live.zone)
        self.recorder.on_node.append(self.live.node)
        self.requests.on_change.append(self.live.desk_changed)
        self.sink = MqttSink(
            config.mqtt,
            journal,
            self.prefix,
            "perimeter-%s-%s" % (config.site_name, config.gateway_id),
            info=self.info,
            health=self.health,
            on_request=self.requests.handle,
        )
        requests.answer = self.sink.answer  # reads and refusals: no journal row
        self.transactions.on_commit += [book.commit, self.downlinks.send_pending, self.sink.wake, self.live.feed.flush]
        self.transactions.on_rollback += [book.rollback, self.downlinks.drop_pending, self.live.feed.discard]
        self.integrations = integrations_for(config.milestone, config.webhooks, journal)
        for topic, payload in discovery(config, self.prefix):  # retained; rewritten only if changed
            journal.set_retained(topic, payload)
        requests.distrust_masks()  # only masks the chain holds are obeyed
        self.records.publish_all(self.clock.now())
        self.recorder.revocations.poll()  # revoked node keys, from the first frame on
        journal.commit()
        now = self.clock.now()
        saved = journal.load_nodes()
        for node in config.nodes:
            self.registry.add(node.id, node.name, node.heartbeat_s, now)
            if node.id in saved:
                self.registry.restore(node.id, saved[node.id])
        self.transports.update(transports_for(config, self, self.clock))
        if config.dashboard is not None:
            self.dashboard = DashboardServer(site, self.live, config.dashboard)
        self._opened = True
        return self

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
            payload = json.dumps(dict(data, ts=self.clock.utc_now())).encode()
            self.journal.set_retained(topics.bridge_transport(self.prefix, name), payload)

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
            self.durably("the jamming alarm of transport=%s" % name, lambda: self.records.write(changes))

    # -- the sans-I/O outcomes, made durable -------------------------------------------------------

    def durably(self, what: str, change: Callable[[], object]) -> bool:
        """Every durable change goes through here (see `Transactions.durably`)."""
        return self.transactions.durably(what, change)

    def _handle(self, outcomes: list[Frame | Rejected | SecurityFinding]) -> None:
        if not outcomes:
            return
        acks: list[tuple[Reception, bytes]] = []

        def record() -> None:
            for outcome in outcomes:
                if isinstance(outcome, Frame):
                    acks.extend(self.recorder.frame(outcome))
                elif isinstance(outcome, SecurityFinding):
                    self.recorder.security(outcome)
                else:
                    log.debug("%s", outcome)  # counted by the pipeline; a finding reports it

        # On failure nothing is acked: the nodes retransmit, and the journal stays consistent.
        if not self.durably("%d outcomes (nothing acked)" % len(outcomes), record):
            return
        deadline = self.alarms.next_deadline()
        if deadline is not None and deadline < self._supervision_wakes_at:
            self._deadline_moved.set()  # a window opened that closes before the next round
        for reception, packet in acks:
            self.downlinks.send(reception, packet)

    def check_supervision(self, now: float | None = None) -> list[SupervisionChange]:
        now = self.clock.now() if now is None else now
        changes = self.registry.check(now)

        def record() -> None:
            for change in changes:
                self.recorder.supervision(change)
            self.records.write(self.alarms.tick(now))  # fence windows that closed, masks that expired
            self.recorder.revocations.poll()  # `perimeter node revoke` wrote the file since the last round
            if self.pipeline.keyring.store is not None:  # `perimeter node deploy` provisioned a node since
                self.pipeline.keyring.store.poll()
            self.requests.lapse(now)  # silencing requests nobody approved in time (or nobody may still ask for)
            self.requests.tally(now)  # each account's reads and throttled requests, a row per window

        self.durably("a supervision round", record)
        if self.witnesses.due(self.journal.head_seq, now):  # of what is committed, never of a half
            self._checkpoint(now)
        self.live.tracks(self.alarms.tracks)
        self.live.feed.flush()
        return changes

    def _checkpoint(self, now: float) -> None:
        """A signed checkpoint of the journal's head, to the witnesses and (retained) the broker."""
        journal, config = self.journal, self.config
        checkpoint = self.witnesses.checkpoint(
            journal.head_seq, journal.head, self.clock.utc_now(), config.site_name, config.gateway_id, now
        )
        topic = topics.witness(self.prefix)
        self.durably("a witness checkpoint", lambda: witness.publish(self.witnesses, journal, topic, checkpoint))

    def _role(self, account: str) -> str | None:
        """The account's role, from the accounts file (re-read when it changes)."""
        found = self._accounts.get(account) if self._accounts is not None else None
        return found.role if found is not None else None

    def _watched(self, watching: bool) -> None:
        """While a dashboard page is open, every journal row goes to its event log too."""
        self.journal.observer = self.live.journalled if watching else None

    # -- lifecycle -------------------------------------------------------------------------------
    async def __aenter__(self) -> "Gateway":
        if not self._opened:
            self.open()
        started = dict(self.witnesses.start_note(self.config.witness.off_host), action="start", version=VERSION)
        self.durably("the start", lambda: self.journal.append("gateway", started))
        for transport in self.transports.values():
            self._spawn(transport.run())
        self._spawn(self.sink.run())
        for integration in self.integrations:
            self._spawn(integration.run())
        self._spawn(self._supervise())
        self._spawn(self._release_held())
        self._spawn(self.metrics.run())
        if self.dashboard is not None:
            self._dashboard_task = self._spawn(self.dashboard.run())
        self._spawn(systemd.keep_watchdog_fed())
        systemd.notify(systemd.READY)
        log.info(
            "gateway=%s site=%s transports=%d nodes=%d started",
            self.config.gateway_id,
            self.config.site_name,
            len(self.transports),
            len(self.registry.nodes),
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        systemd.notify(systemd.STOPPING)
        if self.dashboard is not None and self._dashboard_task is not None:
            self.dashboard.stop()  # closes the pages' streams, lets uvicorn finish its requests
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(self._dashboard_task), 3)
        for transport in self.transports.values():
            transport.stop()
        self.sink.stop()
        self.metrics.stop()
        # Cancel until everything has stopped: a cancellation that races a completing
        # wait_for (inside aiomqtt, on Python 3.11) can be swallowed once.
        while pending := [t for t in self._tasks if not t.done()]:
            for task in pending:
                task.cancel()
            await asyncio.wait(pending, timeout=0.5)

        # A full disk must not turn a clean stop into a crash: durably() logs it.
        def stopping() -> None:
            self.requests.tally(self.clock.now(), everything=True)  # what the last windows counted
            self.journal.append("gateway", {"action": "stop"})

        self.durably("the stop", stopping)
        if self.witnesses.key is not None and self.journal.head_seq > self.witnesses.last_seq:
            self._checkpoint(self.clock.now())  # the witness sees the stop: nothing after it unwitnessed
        self.journal.close()

    def stop(self) -> None:
        self._stop.set()

    async def stopped(self) -> None:
        await self._stop.wait()

    async def run(self) -> None:
        """Run until `stop()`."""
        async with self:
            await self.stopped()

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _supervise(self) -> None:
        while True:
            try:
                self.check_supervision()
            except Exception:  # keep supervising: the next check retries what failed to commit
                self.transactions.rollback()
                log.exception("supervision check failed")
            # Asleep for half a second, or less when a fence window closes sooner (a climb's
            # alarm should not wait for the next round), or until one opens that closes sooner.
            self._deadline_moved.clear()
            deadline = self.alarms.next_deadline()
            delay = 0.5 if deadline is None else max(0.0, min(0.5, deadline - self.clock.now()))
            self._supervision_wakes_at = self.clock.now() + delay
            nap = asyncio.ensure_future(self.clock.sleep(delay))
            moved = asyncio.ensure_future(self._deadline_moved.wait())
            try:
                await asyncio.wait({nap, moved}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                nap.cancel()
                moved.cancel()

    async def _release_held(self) -> None:
        while True:
            deadline = self.pipeline.next_deadline()
            delay = 0.05 if deadline is None else max(0.0, min(0.05, deadline - self.clock.now()))
            await self.clock.sleep(delay)
            self._handle(self.pipeline.poll(self.clock.now()))


async def serve(config: GatewayConfig) -> None:
    """Run a gateway until SIGTERM or SIGINT."""
    async with Gateway(config) as gateway:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, gateway.stop)
        await gateway.stopped()


__all__ = ["Gateway", "serve"]
