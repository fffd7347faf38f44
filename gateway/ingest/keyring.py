"""Which key opens a node's frames: derived from the site key for the nodes the site
expects, from the next epoch's site key too while a rotation is under way, and at the key
generation each node must now use (the ones below it revoked). No I/O: the daemon tells it
what changed (a node heard on the new key, a revocation read from its file)."""

from gateway.identity.site_key import SiteKeys
from protocol.keys import NodeKey, derive_node_key


class Keyring:
    """Node keys derived from the site key, for the nodes the site expects. During a key
    rotation also from the next epoch's site key, with what each node was last heard on;
    and each node's key generation, those below it revoked (`gateway/identity/revocations.py`)."""

    def __init__(self, site_key: bytes, node_ids: set[int] | None = None, site_keys: SiteKeys | None = None) -> None:
        self._site_key = site_key
        self._allowed = node_ids
        self.site_keys = site_keys or SiteKeys()
        self._keys: dict[tuple[int, int, int], NodeKey] = {}
        self.on_next: set[int] = set()  # nodes heard under the next epoch's key
        self.generation: dict[int, int] = {}  # node -> the key generation it must use (0 if absent)

    def knows(self, node_id: int) -> bool:
        if not 1 <= node_id <= 0xFFFE:
            return False
        return self._allowed is None or node_id in self._allowed

    def _key(self, node_id: int, epoch: int, generation: int | None = None) -> NodeKey:
        generation = self.generation.get(node_id, 0) if generation is None else generation
        key = self._keys.get((epoch, node_id, generation))
        if key is None:
            site_key = self._site_key if epoch == self.site_keys.epoch else self.site_keys.next_key
            assert site_key is not None
            key = self._keys[(epoch, node_id, generation)] = NodeKey.for_node(site_key, node_id, generation)
        return key

    def epoch_of(self, node_id: int) -> int:
        """The epoch whose key the node was last heard on (the current one until then)."""
        nxt = self.site_keys.next_epoch
        return nxt if nxt is not None and node_id in self.on_next else self.site_keys.epoch

    def key(self, node_id: int) -> NodeKey:
        """The key to seal downlinks to the node with: the one it was last heard on."""
        return self._key(node_id, self.epoch_of(node_id))

    def candidates(self, node_id: int) -> list[tuple[int, NodeKey]]:
        """(epoch, key) to verify the node's frames with: the current and the next epoch's
        during a rotation, but only the next once the node has been heard on it (a node
        never goes back, so a frame under its old key is someone holding the old site key)."""
        nxt = self.site_keys.next_epoch
        if nxt is None:
            return [(self.site_keys.epoch, self._key(node_id, self.site_keys.epoch))]
        if node_id in self.on_next:
            return [(nxt, self._key(node_id, nxt))]
        return [(self.site_keys.epoch, self._key(node_id, self.site_keys.epoch)), (nxt, self._key(node_id, nxt))]

    def revoked_keys(self, node_id: int) -> list[NodeKey]:
        """The node's revoked keys (every generation below its own, this epoch's)."""
        return [self._key(node_id, self.site_keys.epoch, g) for g in range(self.generation.get(node_id, 0))]

    def next_node_key(self, node_id: int) -> bytes:
        """The node's key under the next epoch's site key (what REKEY carries)."""
        assert self.site_keys.next_key is not None
        return derive_node_key(self.site_keys.next_key, node_id, self.generation.get(node_id, 0))
