"""The site as the daemon holds it, seen through the dashboard's `Site` interface: built from
the daemon's parts, never from the daemon itself."""

from collections.abc import Mapping, Sequence
from typing import Any

from gateway.alarming import outcomes
from gateway.alarming.alarm_engine import AlarmEngine
from gateway.alarming.alarms import Alarm
from gateway.alarming.fusion import DroneTrack
from gateway.alarming.operator_requests import OperatorRequests
from gateway.alarming.perimeter import Perimeter
from gateway.clock import Clock, parse_utc, utc_iso
from gateway.config import GatewayConfig
from gateway.evidence import journal_queries, shift_report
from gateway.evidence.hashchain import Entry
from gateway.ingest.registry import NodeRegistry, NodeState
from gateway.ingest.transports import Transport
from gateway.site_plan import SitePlan
from gateway.transaction import Transactions


class GatewaySite:
    def __init__(
        self,
        config: GatewayConfig,
        registry: NodeRegistry,
        alarms: AlarmEngine,
        transports: Mapping[str, Transport],
        transactions: Transactions,
        requests: OperatorRequests,
        clock: Clock,
    ) -> None:
        self.clock = clock
        self.config = config
        self.registry = registry
        self.alarms = alarms
        self.transports = transports
        self.transactions = transactions
        self.requests = requests  # the daemon's operator requests: decided, applied, journalled

    @property
    def site_name(self) -> str:
        return self.config.site_name

    @property
    def gateway_id(self) -> str:
        return self.config.gateway_id

    @property
    def perimeter(self) -> Perimeter:
        return self.config.perimeter

    @property
    def nodes(self) -> Mapping[int, NodeState]:
        return self.registry.nodes

    @property
    def plan(self) -> SitePlan:
        return self.config.plan

    @property
    def timezone(self) -> str:
        return self.config.timezone

    def alarm_rows(self, alarm_id: str) -> list[Entry]:
        return journal_queries.about_alarm(self.transactions.journal, alarm_id)

    def events(self, event_ids: Sequence[str]) -> list[Entry]:
        return journal_queries.events(self.transactions.journal, list(event_ids))

    def shift(self, start: float, end: float) -> dict[str, Any]:
        names = {n.id: n.name for n in self.config.nodes}
        return shift_report.handover(self.transactions.journal, start, end, names, self.timezone)

    def nuisance_per_zone(self) -> dict[str, int]:
        now = self.clock.now()
        cleared = journal_queries.cleared_since(self.transactions.journal, utc_iso(now - outcomes.WINDOW_S))
        return outcomes.nuisance_per_zone(((parse_utc(ts), z, r) for ts, z, r in cleared), now)

    def open_alarms(self) -> Sequence[Alarm]:
        return self.alarms.book.open_alarms()

    def drone_tracks(self) -> Sequence[DroneTrack]:
        return self.alarms.tracks

    def transport_states(self) -> dict[str, str]:
        return {n: t.state for n, t in self.transports.items()}

    def now(self) -> float:
        return self.clock.now()

    def recent(self, kinds: list[str], node_id: int | None, before: int | None, limit: int) -> list[Entry]:
        return self.transactions.journal.recent(kinds, node_id, before, limit)

    def request(self, account: str, command: str, payload: bytes) -> dict[str, Any] | None:
        return self.requests.handle(account, command, payload)

    def last_error(self) -> str:
        return self.transactions.last_error

    def pending(self) -> list[dict[str, Any]]:
        return self.requests.desk.approvals.listing()

    def walk_tests(self) -> dict[int, float]:
        now = self.clock.now()
        return {node: until for node, until in self.requests.walk_tests.items() if until > now}

    def masks(self) -> dict[str, dict[str, Any]]:
        now = self.clock.now()
        masks = self.alarms.book.masks.values()
        return {m.zone: dict(vars(m)) for m in masks if now < m.until}

    def record(self, data: dict[str, Any]) -> bool:
        journal = self.transactions.journal
        return self.transactions.durably("dashboard %s" % data.get("action"), lambda: journal.append("dashboard", data))
