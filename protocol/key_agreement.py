"""A node's next key, agreed by X25519 under its current key rather than handed over.

The gateway offers its ephemeral public key (KEYOFFER), the node answers with its own (KEYX,
naming the offer it answers by `offer_check`), both sealed under the node's current key.
Each side multiplies its own secret by the other's public key and both derive

    k_next = HMAC-SHA256(shared, b"perimeter-keyx" || node_id u16 || epoch u8 ||
                         gateway_public || node_public)

so the key is bound to this node, this epoch and these two public keys. Recorded traffic and
the current key give nothing of it: the secrets never leave either side. What the current
key does give is the power to pose as either side during the agreement (README, "What a
key change protects"); the gateway sees it as a KEYX it did not ask for or two of them.
"""

import hashlib
import struct

from .crypto import hmac_sha256
from .keys import key_fields, key_from_fields

LABEL = b"perimeter-keyx"
PUBLIC_SIZE = 32


def public_fields(prefix: str, public: bytes) -> "dict[str, int]":
    """A 32-byte public key as a body's eight u32 fields `<prefix>0`..`<prefix>7`."""
    return key_fields(public, prefix)


def public_from_fields(prefix: str, fields: "dict[str, int]") -> bytes:
    """The public key a KEYOFFER (`g`) or a KEYX (`n`) carries."""
    return key_from_fields(fields, prefix)


def offer_check(gateway_public: bytes) -> int:
    """What a KEYX names its offer by: the first four bytes of SHA-256 of the gateway's public
    key (a u32). A KEYX answering an offer the gateway never made is someone else's offer."""
    check: int = struct.unpack("<I", hashlib.sha256(gateway_public).digest()[:4])[0]
    return check


def agreed_key(shared: bytes, node_id: int, epoch: int, gateway_public: bytes, node_public: bytes) -> bytes:
    """The node's 32-byte key of `epoch`, from the X25519 shared secret and both public keys."""
    return hmac_sha256(shared, LABEL, struct.pack("<HB", node_id, epoch), gateway_public, node_public)
