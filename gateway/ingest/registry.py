"""Node registry and supervision: what the gateway knows of each node, and who has gone quiet.

Sans-I/O: the daemon tells it what was heard (`heard`) and asks, with the time, who has
missed too many heartbeats (`check`). A node is in comm-fail after `missed_heartbeats`
heartbeat intervals without any frame (its own interval from HELLO or the config, or the
default), and restored with the next authentic frame.
"""

from dataclasses import asdict, dataclass, field
from typing import Any

from protocol.body import field_labels
from protocol.messages import BY_ID

OK = "ok"
COMM_FAIL = "comm_fail"


@dataclass
class NodeState:
    node_id: int
    name: str
    heartbeat_s: int
    last_seen: float | None = None
    via: dict[str, dict[str, Any]] = field(default_factory=dict)  # transport -> last reception
    battery_mv: int | None = None
    temperature_dc: int | None = None
    status: list[str] = field(default_factory=list)
    firmware: str | None = None
    boot_count: int | None = None
    reset_cause: str | None = None
    config_id: int | None = None
    tamper: bool = False
    supervision: str = OK
    comm_fail_since: float | None = None

    def snapshot(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SupervisionChange:
    node_id: int
    state: str  # COMM_FAIL or OK
    silent_s: float
    at: float


class NodeRegistry:
    """Every node of the site, with its last reported state and its supervision timer."""

    def __init__(self, missed_heartbeats: int = 3, default_heartbeat_s: int = 30, max_heartbeat_s: int = 65535) -> None:
        self.missed_heartbeats = missed_heartbeats
        self.default_heartbeat_s = default_heartbeat_s
        self.max_heartbeat_s = max_heartbeat_s  # the site's limit: a node saying more is supervised at this
        self.nodes: dict[int, NodeState] = {}
        self._configured_heartbeat: dict[int, int] = {}
        self._started: dict[int, float] = {}

    def add(self, node_id: int, name: str, heartbeat_s: int | None, now: float) -> NodeState:
        """A node the site expects. Its timer starts now: a node that never speaks fails too."""
        if heartbeat_s is not None:
            self._configured_heartbeat[node_id] = heartbeat_s
        node = NodeState(node_id, name, heartbeat_s or self.default_heartbeat_s)
        self.nodes[node_id] = node
        self._started[node_id] = now
        return node

    def restore(self, node_id: int, saved: dict[str, Any]) -> None:
        """Take back what the journal remembered of a node across a restart."""
        node = self.nodes.get(node_id)
        if node is None:
            return
        for key in (
            "battery_mv",
            "temperature_dc",
            "status",
            "firmware",
            "boot_count",
            "reset_cause",
            "config_id",
            "tamper",
            "via",
        ):
            if key in saved:
                setattr(node, key, saved[key])
        if saved.get("heartbeat_s") and node_id not in self._configured_heartbeat:
            # Capped: the saved state sits outside the journal's chain, where a hand could
            # make a node unsupervised for days.
            node.heartbeat_s = min(int(saved["heartbeat_s"]), self.max_heartbeat_s)

    def heard(
        self, node_id: int, type_id: int, fields: dict[str, int], receptions: list[dict[str, Any]], now: float
    ) -> tuple[NodeState, list[SupervisionChange], list[str]]:
        """An authentic frame from a node: update it. Returns the node, a restore if it was
        in comm-fail, and the names of fields whose change is a state change worth journalling."""
        node = self.nodes[node_id]
        previous = node.last_seen if node.last_seen is not None else self._started[node_id]
        node.last_seen = now
        for reception in receptions:
            node.via[reception["transport"]] = dict(reception, at=now)
        changes: list[str] = []
        name = BY_ID[type_id].name
        if name == "HELLO":
            firmware = "%d.%d.%d" % (fields["fw_major"], fields["fw_minor"], fields["fw_patch"])
            labels = field_labels(type_id, fields)
            changes += [
                k for k, v in (("firmware", firmware), ("boot_count", fields["boot_count"])) if getattr(node, k) != v
            ]
            node.firmware, node.boot_count = firmware, fields["boot_count"]
            node.reset_cause = str(labels.get("reset_cause"))
            node.config_id = fields["config_id"]
            if node_id not in self._configured_heartbeat and fields["heartbeat_s"]:
                node.heartbeat_s = min(fields["heartbeat_s"], self.max_heartbeat_s)
        elif name == "HEARTBEAT":
            status = field_labels(type_id, fields).get("status", [])
            assert isinstance(status, list)
            tamper = "tamper" in status
            if tamper != node.tamper:
                changes.append("tamper")
            if status != node.status:
                changes.append("status")
            node.tamper, node.status = tamper, status
            node.battery_mv, node.temperature_dc = fields["battery_mv"], fields["temperature_dc"]
        elif name == "TAMPER":
            active = fields["state"] == 1
            if active != node.tamper:
                changes.append("tamper")
            node.tamper = active
        restored: list[SupervisionChange] = []
        if node.supervision == COMM_FAIL:
            node.supervision, node.comm_fail_since = OK, None
            restored.append(SupervisionChange(node_id, OK, now - previous, now))
        return node, restored, changes

    def deadline(self, node: NodeState) -> float:
        """When the node falls into comm-fail if nothing more is heard."""
        since = node.last_seen if node.last_seen is not None else self._started[node.node_id]
        return since + node.heartbeat_s * self.missed_heartbeats

    def check(self, now: float) -> list[SupervisionChange]:
        """Nodes that have just gone silent for too long."""
        changes = []
        for node in self.nodes.values():
            if node.supervision == OK and now >= self.deadline(node):
                node.supervision = COMM_FAIL
                node.comm_fail_since = now
                since = node.last_seen if node.last_seen is not None else self._started[node.node_id]
                changes.append(SupervisionChange(node.node_id, COMM_FAIL, now - since, now))
        return changes

    def next_deadline(self) -> float | None:
        pending = [self.deadline(n) for n in self.nodes.values() if n.supervision == OK]
        return min(pending) if pending else None

    def supervision_counts(self) -> dict[str, int]:
        """How many nodes are in each supervision state."""
        counts: dict[str, int] = {}
        for node in self.nodes.values():
            counts[node.supervision] = counts.get(node.supervision, 0) + 1
        return counts
