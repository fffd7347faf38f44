"""Which key opens a node's frames: the node's own key from the key store
(`gateway/identity/node_keys.py`), or for a node provisioned before keys stood alone the key
the site key derives; during a key change also the key agreed with the node, until the node
is first heard on it; and at the key generation each node must now use (the ones below it
revoked). No I/O but the store's: the daemon tells it what changed."""

from gateway.identity.node_keys import NodeKeyStore
from gateway.identity.site_key import SiteKeys
from protocol.keys import NodeKey, derive_node_key


class Keyring:
    """Node keys for the nodes the site expects: each node's current key and, while a key
    change is under way, the one agreed with it; and each node's key generation, those below
    it revoked (`gateway/identity/revocations.py`)."""

    def __init__(
        self,
        site_key: bytes,
        node_ids: set[int] | None = None,
        site_keys: SiteKeys | None = None,
        store: NodeKeyStore | None = None,
    ) -> None:
        self._site_key = site_key
        self._allowed = node_ids
        self.site_keys = site_keys or SiteKeys()
        self.store = store
        self._keys: dict[bytes, NodeKey] = {}  # stored keys, set up once each
        self._site_derived: dict[tuple[int, int], NodeKey] = {}
        self.on_next: set[int] = set()  # nodes heard on their agreed key since this start
        self.generation: dict[int, int] = {}  # node -> the key generation it must use (0 if absent)

    def knows(self, node_id: int) -> bool:
        if not 1 <= node_id <= 0xFFFE:
            return False
        return self._allowed is None or node_id in self._allowed

    def _node_key(self, raw: bytes) -> NodeKey:
        key = self._keys.get(raw)
        if key is None:
            key = self._keys[raw] = NodeKey(raw)
        return key

    def current(self, node_id: int) -> tuple[int, NodeKey]:
        """(epoch, key) the node is on: its own, or the site-derived one at its generation."""
        stored = self.store.key(node_id) if self.store is not None else None
        if stored is not None and stored[1] >= self.generation.get(node_id, 0):
            return stored[0], self._node_key(stored[2])
        return self.site_keys.epoch, self._derived(node_id, self.generation.get(node_id, 0))

    def _derived(self, node_id: int, generation: int) -> NodeKey:
        """The site-derived key, derived once (an HMAC per frame otherwise)."""
        key = self._site_derived.get((node_id, generation))
        if key is None:
            key = self._site_derived[(node_id, generation)] = NodeKey(
                derive_node_key(self._site_key, node_id, generation)
            )
        return key

    def agreed(self, node_id: int) -> tuple[int, NodeKey] | None:
        """(epoch, key) agreed with the node and not yet heard on, or None."""
        entry = self.store.agreed(node_id) if self.store is not None else None
        if entry is None:
            return None
        return int(entry["epoch"]), self._node_key(entry["key"])

    def key(self, node_id: int) -> NodeKey:
        """The key to seal downlinks to the node with: the one it was last heard on (the
        agreed key only once the node is heard on it, when it becomes the current one)."""
        return self.current(node_id)[1]

    def candidates(self, node_id: int) -> list[tuple[int, NodeKey]]:
        """(epoch, key) to verify the node's frames with: its current key and, during an
        agreement, the agreed one. Once heard on that the agreed key is the current one and the
        old key opens nothing (a node never goes back: a frame under the old key is someone
        who holds it)."""
        out = [self.current(node_id)]
        agreed = self.agreed(node_id)
        if agreed is not None:
            out.append(agreed)
        return out

    def revoked_keys(self, node_id: int) -> list[NodeKey]:
        """The node's revoked keys: every site-derived generation below its own, and its own
        stored key if that is of a revoked generation (re-provisioned with `node deploy`)."""
        generation = self.generation.get(node_id, 0)
        keys = [self._derived(node_id, g) for g in range(generation)]
        stored = self.store.key(node_id) if self.store is not None else None
        if stored is not None and stored[1] < generation:
            keys.append(self._node_key(stored[2]))
        return keys
