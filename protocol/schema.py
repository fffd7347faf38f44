"""The wire contract as `construct` declarations, built from the message table (CPython only).

The gateway uses these to describe and inspect packets declaratively; the struct codec in
`protocol.body` is the one the node runs. Both come from `protocol.messages`, and property
tests check that each decodes what the other encodes. Never `.compile()` these for
untrusted input (compiled parsers skip some checks).
"""

from typing import Any

from construct import (
    BitsInteger,
    BitStruct,
    Const,
    Construct,
    Flag,
    GreedyBytes,
    Int8sl,
    Int8ul,
    Int16sl,
    Int16ul,
    Int24ul,
    Int32ul,
    Struct,
    Terminated,
)

from .messages import BY_ID, MESSAGES, TAILED, VERSION
from .packet import TAG_SIZE

_KIND: dict[str, Construct] = {
    "u8": Int8ul,
    "i8": Int8sl,
    "u16": Int16ul,
    "i16": Int16sl,
    "u24": Int24ul,
    "u32": Int32ul,
}


def body_schema(type_id: int) -> Construct:
    """The body of one message type; parsing rejects trailing bytes, except after an
    ENVELOPE's fixed fields, where the inner body follows (`protocol.envelope`)."""
    fields = [field[0] / _KIND[field[1]] for field in BY_ID[type_id].fields]
    if type_id in TAILED:
        return Struct(*fields)
    return Struct(*fields, Terminated)


BODIES: dict[int, Construct] = {m.type_id: body_schema(m.type_id) for m in MESSAGES}

# Byte 0 of every packet, most significant bit first.
HEADER_BYTE = BitStruct(
    "version" / Const(VERSION, BitsInteger(2)),
    "type_id" / BitsInteger(5),
    "ack_req" / Flag,
)

HEADER = Struct(
    "first" / HEADER_BYTE,
    "node_id" / Int16ul,
    "ctr" / Int24ul,
)

# A whole packet: header, body (ciphertext or plaintext, as the site is set), tag. The body
# length is what is left between header and tag.
PACKET = Struct(
    "header" / HEADER,
    "payload" / GreedyBytes,
)


def parse_packet(packet: bytes) -> dict[str, Any]:
    """Split a packet into header fields, body bytes and tag (nothing verified)."""
    parsed = PACKET.parse(packet[:-TAG_SIZE])
    return {
        "type_id": parsed.header.first.type_id,
        "ack_req": parsed.header.first.ack_req,
        "node_id": parsed.header.node_id,
        "ctr": parsed.header.ctr,
        "body": bytes(parsed.payload),
        "tag": bytes(packet[-TAG_SIZE:]),
    }


def build_header(type_id: int, node_id: int, ctr: int, ack_req: bool) -> bytes:
    """The 6 header bytes."""
    first = {"version": VERSION, "type_id": type_id, "ack_req": ack_req}
    return bytes(HEADER.build({"first": first, "node_id": node_id, "ctr": ctr}))


def parse_body(type_id: int, body: bytes) -> dict[str, int]:
    """A plaintext body's fields, as plain ints."""
    parsed = BODIES[type_id].parse(body)
    return {field[0]: int(parsed[field[0]]) for field in BY_ID[type_id].fields}


def build_body(type_id: int, fields: dict[str, int]) -> bytes:
    """A plaintext body from its fields."""
    return bytes(BODIES[type_id].build(fields))


__all__ = ["BODIES", "HEADER", "PACKET", "parse_packet", "build_header", "parse_body", "build_body"]
