"""The security office in a simulation: alarms taken from `P/alarm/+` as an operator would
see them, shown as they come and kept for the scorer, each answered (acknowledged, and
cleared unless it is a drone still in the air) a while later, as the office would: by the
`sim-operator` account, with `sim-supervisor` approving what needs a second pair of eyes
(clearing a severity-1 alarm).
"""

import asyncio
import dataclasses
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiomqtt

from gateway.alarming.request_guard import fresh
from gateway.outputs import topics
from protocol.envelope import ENVELOPE_TYPE
from protocol.errors import FrameRejected
from protocol.keys import NodeKey
from protocol.messages import BY_NAME, UP
from protocol.packet import header_node_id, open_packet
from simulators.scorer import SETTLE_S, ObservedAlarm

ANSWERED = ("intrusion", "throw_over", "drone", "drone_drop")
OPERATOR, SUPERVISOR = "sim-operator", "sim-supervisor"  # the runner writes both accounts
EVENT_TYPES = {BY_NAME[name].type_id for name in ("FENCE", "ACOUSTIC", "IMPACT", "THUD")}


class EvidenceClock:
    """When each firmware event's frame finished reaching the gateway's receiver, so an
    alarm's latency can also be told from the end of the airtime that carried it."""

    def __init__(self, site_keys: list[bytes], site_id: int, nodes: list[int], key_store: Path | None = None) -> None:
        self.site_id = site_id
        self.keys = {n: [NodeKey.for_node(k, n) for k in site_keys] for n in nodes}
        # During a key change a node's frames verify under its agreed key: the simulation may
        # look into the gateway's key store for it (an observer on a real site could not).
        self.key_store = key_store
        self.ends: dict[tuple[int, int], float] = {}  # (node, event_no) -> end of airtime

    def _stored_keys(self, node: int) -> list[NodeKey]:
        if self.key_store is None or not self.key_store.exists():
            return []
        data = json.loads(self.key_store.read_text())
        return [
            NodeKey(bytes.fromhex(data[part][str(node)]["key"]))
            for part in ("nodes", "agreed")
            if str(node) in data.get(part, {})
        ]

    def heard(self, packet: bytes, end_s: float) -> None:
        node = header_node_id(packet)
        if node not in self.keys or (packet[0] >> 1) & 0x1F not in EVENT_TYPES | {ENVELOPE_TYPE}:
            return
        opened = None
        for key in self._keys_of(node):
            try:
                opened = open_packet(key, self.site_id, packet, UP, None)
                break
            except FrameRejected:
                continue
        if opened is None:
            return
        if opened.type_id not in EVENT_TYPES:  # what an envelope carried
            return
        self.ends.setdefault((node, opened.fields["event_no"]), end_s)

    def _keys_of(self, node: int) -> Iterator[NodeKey]:
        yield from self.keys[node]
        yield from self._stored_keys(node)  # read only when the site keys opened nothing

    def ends_of(self, evidence: list[str]) -> tuple[float, ...]:
        """When the frames of an alarm's evidence (`site:node:boot:event_no`) finished arriving."""
        ends = []
        for event_id in evidence:
            parts = event_id.split(":")
            if len(parts) >= 4 and parts[1].isdigit() and parts[3].isdigit():
                end = self.ends.get((int(parts[1]), int(parts[3])))
                if end is not None:
                    ends.append(end)
        return tuple(sorted(ends))


class AlarmWatcher:
    def __init__(
        self,
        mqtt: tuple[str, int],
        prefix: str,
        origin: float,
        now: Callable[[], float],
        evidence: EvidenceClock,
        respond_s: float,
        show: Callable[[str], None],
    ) -> None:
        self.mqtt = mqtt
        self.prefix = prefix
        self.origin = origin  # the gateway's time at scenario time 0
        self.now = now  # scenario time
        self.evidence = evidence
        self.respond_s = respond_s
        self.show = show
        self.seen: dict[str, ObservedAlarm] = {}
        self.answered: list[tuple[float, str, str]] = []  # (when, alarm id, category) for the operator

    async def run(self) -> None:
        async with aiomqtt.Client(self.mqtt[0], self.mqtt[1], identifier="sim-scorer-%d" % os.getpid()) as client:
            await client.subscribe(topics.alarm(self.prefix, "+"), qos=1)
            cleared = topics.response(self.prefix, OPERATOR, "clear")
            await client.subscribe(cleared, qos=1)
            operator = asyncio.create_task(self.respond(client))
            try:
                async for message in client.messages:
                    if not isinstance(message.payload, bytes | str) or not message.payload:
                        continue
                    if message.topic.value == cleared:
                        await self.approve(client, json.loads(message.payload))
                    else:
                        self.observe(json.loads(message.payload))
            finally:
                operator.cancel()

    def observe(self, alarm: dict[str, Any]) -> None:
        seen = self.seen.get(alarm["alarm_id"])
        if seen is not None:  # moved by later reports: where it stands once they are in
            if self.now() - seen.at_s <= SETTLE_S and alarm.get("location_m") is not None:
                self.seen[seen.alarm_id] = dataclasses.replace(seen, settled_m=alarm["location_m"])
            return
        if alarm.get("raised_at", self.origin) < self.origin - 1:
            return  # retained on a shared broker from an earlier run
        at = self.now()
        self.seen[alarm["alarm_id"]] = ObservedAlarm(
            alarm["alarm_id"],
            alarm["category"],
            at,
            alarm.get("location_m"),
            alarm.get("zone"),
            self.evidence.ends_of(alarm.get("evidence", [])),
            str((alarm.get("detail") or {}).get("kind", "")),
        )
        if alarm["category"] in ANSWERED:
            self.answered.append((at + self.respond_s, alarm["alarm_id"], alarm["category"]))
        self.show(
            "%7.1f s  ALARM %-11s zone %-4s at %s m  %s"
            % (
                at,
                alarm["category"],
                alarm.get("zone"),
                alarm.get("location_m"),
                alarm.get("detail", {}).get("kind", ""),
            )
        )

    async def respond(self, client: aiomqtt.Client) -> None:
        """The security office answers: acknowledges each alarm after a while and clears the
        ones that are over, so a later attack at the same place raises a new alarm."""
        while True:
            await asyncio.sleep(0.05)
            due = [a for a in self.answered if a[0] <= self.now()]
            for item in due:
                self.answered.remove(item)
                _, alarm_id, category = item
                note = {"alarm_id": alarm_id, "note": "simulated response"}
                ack, clear = (
                    topics.request(self.prefix, OPERATOR, "ack"),
                    topics.request(self.prefix, OPERATOR, "clear"),
                )
                body = fresh(dict(note, transaction="a" + alarm_id), self.origin + self.now())
                await client.publish(ack, json.dumps(body), qos=1)
                if category != "drone":  # a drone alarm stays open while its track lives
                    # A simulated site: every alarm it clears was a test of the perimeter.
                    body = fresh(dict(note, reason="test", transaction="c" + alarm_id), self.origin + self.now())
                    await client.publish(clear, json.dumps(body), qos=1)

    async def approve(self, client: aiomqtt.Client, response: dict[str, Any]) -> None:
        """The supervisor approves a clear that waits for a second account."""
        if response.get("status") == "pending":
            approve = topics.request(self.prefix, SUPERVISOR, "approve")
            body = fresh({"request_id": response["data"]["request_id"]}, self.origin + self.now())
            await client.publish(approve, json.dumps(body), qos=1)
