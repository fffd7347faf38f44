"""A key change with each node (`protocol/key_agreement.py`), the gateway's part: offer an
agreement to a node heard on its old key, keep the key agreed from its KEYX in the key store
(`gateway/identity/node_keys.py`) before the ACK that makes the node take it, and move the
node to it at its first frame under it. A KEYX the gateway did not ask for, or a second
different one, is someone else holding the node's key: a security finding, never an ACK.
Runs inside the recorder's transaction; it sends nothing itself."""

import logging
from collections.abc import Callable

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from gateway.clock import utc_iso
from gateway.evidence.journal import Journal
from gateway.ingest.downlinks import Downlinks
from gateway.ingest.pipeline import Frame, Reception, SecurityFinding
from gateway.ingest.registry import NodeRegistry
from protocol.key_agreement import agreed_key, offer_check, public_fields, public_from_fields
from protocol.messages import BY_NAME

log = logging.getLogger("perimeter.gateway")

KEYOFFER = BY_NAME["KEYOFFER"].type_id
# A node not yet on its next key is offered it again at most this often: at each heartbeat,
# so a lost offer or answer costs one interval.
OFFER_EVERY_S = 20.0
KEY_FINDINGS = ("key_exchange_unasked", "key_exchange_conflict")
FINDING_EVERY_S = 60.0


class KeyChanges:
    def __init__(
        self,
        journal: Journal,
        registry: NodeRegistry,
        downlinks: Downlinks,
        security: Callable[[SecurityFinding], None],
        undo_on_rollback: Callable[[Callable[[], None]], None],
    ) -> None:
        self.journal = journal
        self.clock = journal.clock
        self.registry = registry
        self.downlinks = downlinks
        self._security = security
        self.undo_on_rollback = undo_on_rollback
        self._offered: dict[int, float] = {}  # node -> when it was last offered a key agreement
        self._findings: dict[tuple[str, int], tuple[float, int]] = {}  # (kind, node) -> (reported at, since)

    def moved(self, frame: Frame) -> None:
        """The node's first frame under its agreed key: that is its key now, and the old one
        opens nothing from here on."""
        node_id = frame.packet.node_id
        keyring = self.downlinks.keyring
        store = keyring.store
        agreed = store.agreed(node_id) if store is not None else None
        if store is None or agreed is None:
            return  # a second frame under it, held in the same de-duplication window
        log.warning("node=%d moved to its agreed key of epoch %d", node_id, frame.epoch)
        data = {
            "node_id": node_id,
            "epoch": frame.epoch,
            "gateway_public": agreed["gateway_public"],
            "node_public": agreed["node_public"],
        }
        self.journal.append("rekey", data, node_id=node_id)
        store.promote(node_id, keyring.generation.get(node_id, 0), utc_iso(self.clock.now()))
        keyring.on_next.add(node_id)

    def answer(self, frame: Frame) -> bool:
        """A node's KEYX: the agreed key kept (durably, never in the journal) before the ACK
        that makes the node take it. Whether to acknowledge it. A KEYX the gateway did not ask
        for, or a second different one, is someone else holding the node's key."""
        packet = frame.packet
        node_id, fields = packet.node_id, packet.fields
        keyring = self.downlinks.keyring
        store = keyring.store
        transport = frame.first.transport
        node_public = public_from_fields("n", fields)
        offer = store.offer(node_id) if store is not None and keyring.site_keys.next_epoch is not None else None
        if store is None or offer is None or fields["epoch"] != offer[0] or fields["offer"] != offer_check(offer[2]):
            detail = (
                "node %d answered a key offer for epoch %d that this gateway did not make: someone holding "
                "its key is trying to agree the next one with it (not acknowledged)" % (node_id, fields["epoch"])
            )
            self._finding("key_exchange_unasked", node_id, transport, detail)
            return False
        epoch, secret, gateway_public = offer
        agreed = store.agreed(node_id)
        node = self.registry.nodes[node_id]
        if agreed is not None and agreed["epoch"] == epoch:
            if agreed["node_public"] == node_public.hex():
                return True  # the node sent it again (our ACK was lost): the same key, acked again
            if agreed.get("boot") == node.boot_count:
                detail = (
                    "node %d answered the key offer for epoch %d twice with different keys, without a restart "
                    "between: someone else holds its current key (the second is not acknowledged)" % (node_id, epoch)
                )
                self._finding("key_exchange_conflict", node_id, transport, detail)
                return False
            # The node restarted (a HELLO with a new boot) and lost its half: its new answer stands.
        try:
            shared = X25519PrivateKey.from_private_bytes(secret).exchange(
                X25519PublicKey.from_public_bytes(node_public)
            )
        except ValueError:  # a low-order point: no node sends one
            detail = "node %d answered the key offer with a low-order point (not acknowledged)" % node_id
            self._finding("key_exchange_unasked", node_id, transport, detail)
            return False
        key = agreed_key(shared, node_id, epoch, gateway_public, node_public)
        data = {"node_id": node_id, "epoch": epoch, "gateway_public": gateway_public.hex()}
        data["node_public"] = node_public.hex()
        self.journal.append("key_agreed", data, node_id=node_id)
        store.keep_agreed(node_id, epoch, key, gateway_public, node_public, utc_iso(self.clock.now()), node.boot_count)
        log.warning("node=%d agreed its key of epoch %d", node_id, epoch)
        return True

    def _finding(self, kind: str, node_id: int, transport: str, detail: str) -> None:
        """Reported once a minute per kind and node, with how many came since: whoever holds a
        node's key could otherwise write a journal row with every frame they send."""
        now = self.clock.now()
        reported_at, since = self._findings.get((kind, node_id), (-1e12, 0))
        if now - reported_at < FINDING_EVERY_S:
            self._findings[(kind, node_id)] = (reported_at, since + 1)
            return
        self._findings[(kind, node_id)] = (now, 0)
        self._security(SecurityFinding(kind, node_id, transport, since + 1, detail))

    def offer(self, frame: Frame, now: float) -> list[tuple[Reception, bytes]]:
        """During a key change: a node not yet on its next key is offered the agreement (at
        most every OFFER_EVERY_S), only in answer to a frame that wants no ACK (a heartbeat):
        a concentrator has one downlink slot per uplink, and an ACK and an offer would collide.
        One offer per node and epoch, kept in the store before it is sent: offered again
        unchanged, so a node that answered already just answers again."""
        node_id = frame.packet.node_id
        keyring = self.downlinks.keyring
        nxt = keyring.site_keys.next_epoch
        store = keyring.store
        if nxt is None or store is None or frame.epoch == nxt:
            return []
        if now - self._offered.get(node_id, -1e12) < OFFER_EVERY_S:
            return []
        offer = store.offer(node_id)
        if offer is None or offer[0] != nxt:
            secret = X25519PrivateKey.generate()
            public = secret.public_key().public_bytes_raw()
            store.keep_offer(node_id, nxt, secret.private_bytes_raw(), public)
            offer = (nxt, b"", public)
        fields = dict(public_fields("g", offer[2]), epoch=nxt)
        _ctr, sealed = self.downlinks.seal(node_id, KEYOFFER, fields)
        sent_before = self._offered.get(node_id, -1e12)
        self._offered[node_id] = now

        def undo() -> None:  # not sent after all: the next frame may send it again
            self._offered[node_id] = sent_before

        self.undo_on_rollback(undo)
        return [(self.downlinks.routes[node_id], sealed)]
