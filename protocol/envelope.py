"""The ENVELOPE (type 9): an uplink sealed inside another, so that the air says less.

A reactive jammer reads the clear header's type (and the LoRa PHY header's length) as a frame
starts, and can let heartbeats through while it destroys every alarm. Inside an envelope the
inner type and its ack_req travel encrypted; padded to `PADDED_BODY`, every uplink has one
length too. The envelope also carries the node's boot (low byte of its boot count) and its
clock at the moment of transmission (`sent_ds`, tenths of a second since boot), so the
gateway can tell a frame played late by someone who recorded it from one the node sent late.

    offset 0  type u8      the inner message's type id (an uplink, never ENVELOPE)
    offset 1  flags u8     bit 0: the inner message asks for an ACK
    offset 2  boot u8      boot_count & 0xFF
    offset 3  sent_ds u32  the node's clock at transmission
    offset 7  the inner body, then zero bytes up to PADDED_BODY when the site pads

Runs on MicroPython (the node wraps) and CPython (the gateway unwraps).
"""

from .body import decode_body, encode_body
from .errors import BODY, FrameRejected
from .messages import BY_ID, ENVELOPE, ENVELOPED, PADDED_BODY

ENVELOPE_TYPE = ENVELOPE.type_id
_HEAD = ENVELOPE.size
_MAX_SENT_DS = 0xFFFFFFFF


def wrap(type_id: int, body: bytes, ack_req: bool, boot: int, sent_ds: int, padded: bool = False) -> bytes:
    """The ENVELOPE body carrying an uplink `type_id` whose encoded body is `body`."""
    head = encode_body(
        ENVELOPE_TYPE,
        {"type": type_id, "flags": 1 if ack_req else 0, "boot": boot & 0xFF, "sent_ds": sent_ds & _MAX_SENT_DS},
    )
    out = head + body
    if padded and len(out) < PADDED_BODY:
        out += bytes(PADDED_BODY - len(out))
    return out


def unwrap(body: bytes) -> "tuple[int, bool, int, int, bytes, dict[str, int]]":
    """(inner type, ack_req, boot, sent_ds, inner body, inner fields) of a plaintext ENVELOPE
    body. Raises `FrameRejected` ("body") for a nested or unknown inner type, a short tail or
    padding that is not zeros."""
    head = decode_body(ENVELOPE_TYPE, body)
    inner = head["type"]
    if inner not in ENVELOPED:
        raise FrameRejected(BODY, "ENVELOPE carries type %d, not an uplink message" % inner)
    size = BY_ID[inner].size
    end = _HEAD + size
    if len(body) < end:
        raise FrameRejected(BODY, "ENVELOPE of %s is %d bytes, not at least %d" % (BY_ID[inner].name, len(body), end))
    for byte in body[end:]:
        if byte:
            raise FrameRejected(BODY, "ENVELOPE padding is not zeros")
    inner_body = bytes(body[_HEAD:end])
    return inner, bool(head["flags"] & 1), head["boot"], head["sent_ds"], inner_body, decode_body(inner, inner_body)
