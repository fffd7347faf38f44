"""Packets: header, AES-128-CTR body and the 6-byte HMAC-SHA256 tag.

    offset 0  1 byte   bits 7-6 version (01), bits 5-1 message type, bit 0 ack_req
    offset 1  2 bytes  node_id u16 LE
    offset 3  3 bytes  ctr u24 LE
    offset 6  n bytes  body (AES-128-CTR ciphertext when the site encrypts)
    offset 6+n 6 bytes tag = HMAC-SHA256(k_mac, site_id u32 || dir u8 || bytes 0..5+n)[:6]

An ENVELOPE (`protocol.envelope`) is opened into the packet it carries: the caller sees the
inner type, ack_req and fields, and the envelope's boot and clock in `boot` and `sent_ds`.

`open_packet` checks in this order, and touches nothing before the tag has verified:
length (truncated) -> tag -> version -> type -> replay -> decrypt -> body. The receiver
knows which direction it listens to, so the tag can be checked before anything in the
header is believed; a frame from another site, or for another node, fails its tag.
"""

import struct

from .body import decode_body, encode_body
from .crypto import equal, xor
from .envelope import ENVELOPE_TYPE, unwrap
from .errors import REPLAY, TAG, TRUNCATED, TYPE, VERSION, EncodeError, FrameRejected
from .keys import NodeKey, check_node_id
from .messages import BY_ID, DOWN, UP
from .messages import VERSION as PROTOCOL_VERSION

HEADER_SIZE = 6
TAG_SIZE = 6
OVERHEAD = HEADER_SIZE + TAG_SIZE
MAX_PACKET = 255  # a LoRa payload
MAX_BODY = MAX_PACKET - OVERHEAD
MAX_CTR = 0xFFFFFF
_BLOCK = 16


class Packet:
    """A verified, decrypted and decoded packet; an envelope's is the packet it carried,
    with `boot` and `sent_ds` set (None for a packet sent bare)."""

    boot: "int | None" = None
    sent_ds: "int | None" = None

    def __init__(
        self, type_id: int, ack_req: bool, node_id: int, ctr: int, body: bytes, fields: dict[str, int], direction: int
    ) -> None:
        self.type_id = type_id
        self.ack_req = ack_req
        self.node_id = node_id
        self.ctr = ctr
        self.body = body  # plaintext body bytes
        self.fields = fields  # decoded body, a dict of ints
        self.direction = direction

    @property
    def name(self) -> str:
        return BY_ID[self.type_id].name

    def __repr__(self) -> str:
        return "Packet(%s node=%d ctr=%d ack_req=%s %r)" % (
            self.name,
            self.node_id,
            self.ctr,
            self.ack_req,
            self.fields,
        )


def header_node_id(packet: bytes) -> int:
    """The node id in a packet's header, read before verification to pick the key.

    Nothing else about the packet is to be believed until `open_packet` has verified it.
    """
    if len(packet) < OVERHEAD:
        raise FrameRejected(TRUNCATED, "packet is %d bytes, the smallest is %d" % (len(packet), OVERHEAD))
    return packet[1] | packet[2] << 8


def _keystream_blocks(site_id: int, direction: int, node_id: int, ctr: int, length: int) -> bytes:
    # Block i = site_id u32 || dir u8 || node_id u16 || ctr u24 || 5 zero bytes || i u8.
    # The body is at most 243 bytes (16 blocks), so the counter byte never wraps.
    blocks = bytearray(_BLOCK * ((length + _BLOCK - 1) // _BLOCK))
    for i in range(len(blocks) // _BLOCK):
        o = i * _BLOCK
        struct.pack_into("<IBHHB", blocks, o, site_id, direction, node_id, ctr & 0xFFFF, ctr >> 16)
        blocks[o + 15] = i
    return bytes(blocks)


def apply_ctr(key: NodeKey, site_id: int, direction: int, node_id: int, ctr: int, data: bytes) -> bytes:
    """AES-128-CTR encryption (or decryption: it is the same XOR) of a body."""
    if not data:
        return b""
    keystream = key.aes.encrypt(_keystream_blocks(site_id, direction, node_id, ctr, len(data)))
    return xor(data, keystream)


def compute_tag(key: NodeKey, site_id: int, direction: int, signed: bytes) -> bytes:
    """The 6-byte tag over the header and (encrypted) body, bound to site and direction."""
    tag: bytes = key.mac.digest(struct.pack("<IB", site_id, direction), signed)[:TAG_SIZE]
    return tag


def seal_packet(
    key: NodeKey,
    site_id: int,
    type_id: int,
    node_id: int,
    ctr: int,
    body: bytes,
    ack_req: bool = False,
    encrypted: bool = True,
) -> bytes:
    """A complete packet carrying an already encoded plaintext `body`."""
    message = BY_ID.get(type_id)
    if message is None:
        raise EncodeError("unknown message type %r" % (type_id,))
    check_node_id(node_id)
    if not 0 <= ctr <= MAX_CTR:
        raise EncodeError("ctr %d outside 0..%d" % (ctr, MAX_CTR))
    if len(body) > MAX_BODY:
        raise EncodeError("body of %d bytes exceeds %d" % (len(body), MAX_BODY))
    direction = message.direction
    head = bytearray(HEADER_SIZE)
    head[0] = PROTOCOL_VERSION << 6 | type_id << 1 | (1 if ack_req else 0)
    struct.pack_into("<HHB", head, 1, node_id, ctr & 0xFFFF, ctr >> 16)
    if encrypted:
        body = apply_ctr(key, site_id, direction, node_id, ctr, body)
    signed = bytes(head) + body
    return signed + compute_tag(key, site_id, direction, signed)


def encode_packet(
    key: NodeKey,
    site_id: int,
    type_id: int,
    node_id: int,
    ctr: int,
    fields: dict[str, int],
    ack_req: bool = False,
    encrypted: bool = True,
) -> bytes:
    """A complete packet for a message given as a dict of field values."""
    return seal_packet(key, site_id, type_id, node_id, ctr, encode_body(type_id, fields), ack_req, encrypted)


class Header:
    """The header of a packet whose tag has verified: now it can be believed."""

    def __init__(self, type_id: int, ack_req: bool, node_id: int, ctr: int, direction: int) -> None:
        self.type_id = type_id
        self.ack_req = ack_req
        self.node_id = node_id
        self.ctr = ctr
        self.direction = direction


def verify_packet(key: NodeKey, site_id: int, packet: bytes, direction: int = UP) -> Header:
    """Check length, tag, version and type; the header, believable from here on.

    Raises `FrameRejected` ("truncated", "tag", "version" or "type").
    """
    n = len(packet)
    if n < OVERHEAD:
        raise FrameRejected(TRUNCATED, "packet is %d bytes, the smallest is %d" % (n, OVERHEAD))
    if not equal(compute_tag(key, site_id, direction, packet[: n - TAG_SIZE]), packet[n - TAG_SIZE :]):
        raise FrameRejected(TAG, "tag does not verify")
    first = packet[0]
    if first >> 6 != PROTOCOL_VERSION:
        raise FrameRejected(VERSION, "protocol version %d, expected %d" % (first >> 6, PROTOCOL_VERSION))
    type_id = (first >> 1) & 0x1F
    message = BY_ID.get(type_id)
    if message is None:
        raise FrameRejected(TYPE, "unknown message type %d" % type_id)
    if message.direction != direction:
        raise FrameRejected(TYPE, "%s is not sent %s" % (message.name, "up" if direction == UP else "down"))
    node_id = packet[1] | packet[2] << 8
    ctr = packet[3] | packet[4] << 8 | packet[5] << 16
    return Header(type_id, bool(first & 1), node_id, ctr, direction)


def decode_verified(key: NodeKey, site_id: int, header: Header, packet: bytes, encrypted: bool = True) -> Packet:
    """Decrypt and decode a packet `verify_packet` has passed. Raises `FrameRejected` ("body")."""
    body = bytes(packet[HEADER_SIZE : len(packet) - TAG_SIZE])
    if encrypted:
        body = apply_ctr(key, site_id, header.direction, header.node_id, header.ctr, body)
    if header.type_id == ENVELOPE_TYPE:
        inner, ack_req, boot, sent_ds, body, fields = unwrap(body)
        opened = Packet(inner, ack_req, header.node_id, header.ctr, body, fields, header.direction)
        opened.boot, opened.sent_ds = boot, sent_ds
        return opened
    fields = decode_body(header.type_id, body)
    return Packet(header.type_id, header.ack_req, header.node_id, header.ctr, body, fields, header.direction)


def open_packet(
    key: NodeKey,
    site_id: int,
    packet: bytes,
    direction: int = UP,
    last_ctr: int | None = None,
    encrypted: bool = True,
) -> Packet:
    """Verify, replay-check, decrypt and decode a packet received in `direction`.

    `last_ctr` is the highest counter already accepted from this node in this direction
    (None if none yet); the packet's must be strictly greater. This function keeps no
    state: the caller stores the new counter once it has accepted the packet.
    Raises `FrameRejected` with the kind of the first check that fails.
    """
    header = verify_packet(key, site_id, packet, direction)
    if last_ctr is not None and header.ctr <= last_ctr:
        raise FrameRejected(REPLAY, "ctr %d is not above %d" % (header.ctr, last_ctr))
    return decode_verified(key, site_id, header, packet, encrypted)


__all__ = [
    "DOWN",
    "UP",
    "Header",
    "Packet",
    "verify_packet",
    "decode_verified",
    "open_packet",
    "seal_packet",
    "encode_packet",
    "header_node_id",
]
