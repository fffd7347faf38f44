"""Key derivation: one site key, one key per node.

`k_node = HMAC-SHA256(site_key, b"perimeter-node" || node_id u16 LE [|| generation u8])`
(the generation only after a revocation); the first 16 bytes
encrypt (AES-128-CTR), the last 16 authenticate (HMAC-SHA256 tag). A node stores only its
own `k_node`, so a node pulled off the fence gives up one node, not the site.
"""

import struct

from .crypto import AesEcb, HmacSha256, hmac_sha256
from .errors import EncodeError

SITE_KEY_SIZE = 32
NODE_KEY_SIZE = 32
_LABEL = b"perimeter-node"


def check_node_id(node_id: int) -> None:
    """Raise `EncodeError` unless `node_id` is an assignable id (1..65534)."""
    if not 1 <= node_id <= 0xFFFE:
        raise EncodeError("node_id %d outside 1..65534 (0 and 65535 are reserved)" % node_id)


def derive_node_key(site_key: bytes, node_id: int, generation: int = 0) -> bytes:
    """The 32-byte `k_node` of `node_id` under `site_key`. A node whose key was revoked (taken
    from its flash) is re-provisioned with the next `generation` (1..255), whose key the old
    one says nothing about; generation 0 is the key every node starts with."""
    if len(site_key) != SITE_KEY_SIZE:
        raise EncodeError("site key must be %d bytes, not %d" % (SITE_KEY_SIZE, len(site_key)))
    check_node_id(node_id)
    if not 0 <= generation <= 0xFF:
        raise EncodeError("key generation %d outside 0..255" % generation)
    if generation:
        return hmac_sha256(site_key, _LABEL, struct.pack("<HB", node_id, generation))
    return hmac_sha256(site_key, _LABEL, struct.pack("<H", node_id))


def key_fields(raw: bytes, prefix: str = "k") -> "dict[str, int]":
    """32 bytes (a REKEY's node key, a key agreement's public key) as a body's eight u32
    fields `<prefix>0`..`<prefix>7`, little-endian."""
    words = struct.unpack("<8I", raw)
    return {prefix + str(i): words[i] for i in range(8)}


def key_from_fields(fields: "dict[str, int]", prefix: str = "k") -> bytes:
    """The 32 bytes a body's `<prefix>0`..`<prefix>7` carry."""
    return struct.pack("<8I", *[fields[prefix + str(i)] for i in range(8)])


class NodeKey:
    """A node's key, split into its encryption and MAC halves, with the keyed primitives
    set up once so each packet costs only the per-packet work."""

    def __init__(self, k_node: bytes) -> None:
        if len(k_node) != NODE_KEY_SIZE:
            raise EncodeError("node key must be %d bytes, not %d" % (NODE_KEY_SIZE, len(k_node)))
        self.k_enc = k_node[:16]
        self.k_mac = k_node[16:]
        self.mac = HmacSha256(self.k_mac)
        self.aes = AesEcb(self.k_enc)

    @classmethod
    def for_node(cls, site_key: bytes, node_id: int, generation: int = 0) -> "NodeKey":
        """Derive and set up the key of `node_id` under `site_key`."""
        return cls(derive_node_key(site_key, node_id, generation))
