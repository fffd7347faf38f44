"""The way back to the nodes: ACKs, CONFIGs and COMMANDs, sealed with the node's next
downlink counter (taken in the open transaction) and sent through the receiver that heard
the node best. A CONFIG or COMMAND waits for its transaction to commit, so a node is never
told what the journal does not hold."""

import logging
from collections.abc import Mapping
from typing import Protocol

from gateway.evidence.journal import Journal
from gateway.ingest.keyring import Keyring
from gateway.ingest.pipeline import Frame, Reception
from protocol.body import encode_body
from protocol.messages import BY_NAME
from protocol.packet import seal_packet

log = logging.getLogger("perimeter.gateway")
ACK = BY_NAME["ACK"].type_id


class Sender(Protocol):
    def send(self, packet: bytes, reception: Reception) -> bool: ...


class Downlinks:
    def __init__(
        self,
        journal: Journal,
        keyring: Keyring,
        site_id: int,
        encrypted: bool,
        transports: Mapping[str, Sender],
        counters: dict[str, int],
    ) -> None:
        self.journal = journal
        self.keyring = keyring
        self.site_id = site_id
        self.encrypted = encrypted
        self.transports = transports
        self.counters = counters  # acks_sent, acks_unsent
        self.routes: dict[int, Reception] = {}  # node -> how it was last heard best
        self.pending: list[tuple[Reception, bytes]] = []  # waiting for their transaction to commit

    def heard(self, frame: Frame) -> None:
        best = max(frame.receptions, key=lambda r: r.rssi_dbm if r.rssi_dbm is not None else -1e9)
        self.routes[frame.packet.node_id] = best

    def reachable(self, node_id: int) -> bool:
        return node_id in self.routes

    def seal(self, node_id: int, type_id: int, fields: dict[str, int]) -> tuple[int, bytes]:
        """A downlink packet with the node's next downlink counter (the caller's transaction)."""
        ctr = self.journal.take_down_ctr(node_id)
        body = encode_body(type_id, fields)
        key = self.keyring.key(node_id)
        return ctr, seal_packet(key, self.site_id, type_id, node_id, ctr, body, False, self.encrypted)

    def ack(self, node_id: int, acked_ctr: int) -> tuple[Reception, bytes]:
        """An ACK and the receiver to answer through; sent by the caller once committed."""
        _ctr, packet = self.seal(node_id, ACK, {"acked_ctr": acked_ctr})
        return self.routes[node_id], packet

    def after_commit(self, node_id: int, type_name: str, fields: dict[str, int]) -> int:
        """Seal a CONFIG or COMMAND inside the caller's transaction; it goes out once that
        commits. Returns its counter. ValueError if the node has never been heard."""
        route = self.routes.get(node_id)
        if route is None:
            raise ValueError("node %d has not been heard yet: no way to reach it" % node_id)
        ctr, packet = self.seal(node_id, BY_NAME[type_name].type_id, fields)
        self.pending.append((route, packet))
        return ctr

    def send_pending(self) -> None:
        pending, self.pending = self.pending, []
        for reception, packet in pending:
            self.send(reception, packet)

    def drop_pending(self) -> None:
        self.pending.clear()

    def send(self, reception: Reception, packet: bytes) -> None:
        transport = self.transports.get(reception.transport)
        sent = False
        if transport is not None:
            try:
                sent = transport.send(packet, reception)
            except Exception as exc:  # a link failing under a write: the node retransmits
                log.warning("downlink transport=%s failed: %s", reception.transport, exc)
        self.counters["acks_sent" if sent else "acks_unsent"] += 1
