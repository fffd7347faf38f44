"""Struct codec for message bodies, derived from the message table.

This is the codec the node runs, so it uses only `struct.pack/unpack_from` with format
strings (no `struct.Struct`, which MicroPython lacks). MicroPython's `struct` silently
truncates out-of-range values, so every value is range-checked here before packing.
"""

import struct

from .errors import BODY, TYPE, EncodeError, FrameRejected
from .messages import BY_ID, KINDS, TAILED, MessageType

_CHAR = {"u8": "B", "i8": "b", "u16": "H", "i16": "h", "u24": "3s", "u32": "I"}


class _Layout:
    """A message type's body as a struct format, computed once per type."""

    def __init__(self, message: MessageType) -> None:
        self.message = message
        self.fields = message.fields
        self.format = "<" + "".join(_CHAR[f[1]] for f in message.fields)
        self.size = message.size
        self.names = tuple(f[0] for f in message.fields)
        self.u24 = tuple(f[0] for f in message.fields if f[1] == "u24")
        self.enums = tuple((f[0], f[2]) for f in message.fields if f[2] is not None)
        self.tailed = message.type_id in TAILED  # the fixed fields, then a tail of any length


# Built on first use: a node never decodes most types (a REKEY's ten fields, CONFIG's eight),
# and on a 64 KB heap every layout it does not hold is room for the detectors.
_LAYOUTS: "dict[int, _Layout]" = {}


def _layout(type_id: int) -> "_Layout | None":
    layout = _LAYOUTS.get(type_id)
    if layout is None:
        message = BY_ID.get(type_id)
        if message is None:
            return None
        layout = _LAYOUTS[type_id] = _Layout(message)
    return layout


def decode_body(type_id: int, body: bytes) -> dict[str, int]:
    """The fields of a body of type `type_id`, as a dict of ints.

    Raises `FrameRejected` ("type" for an unknown type, "body" for a wrong length or a value
    its enum does not allow). Of an ENVELOPE body only the fixed fields are decoded here;
    `protocol.envelope` reads its tail.
    """
    layout = _layout(type_id)
    if layout is None:
        raise FrameRejected(TYPE, "unknown message type %d" % type_id)
    if layout.tailed and len(body) >= layout.size:
        body = body[: layout.size]
    if len(body) != layout.size:
        raise FrameRejected(BODY, "%s body is %d bytes, not %d" % (layout.message.name, len(body), layout.size))
    fields = dict(zip(layout.names, struct.unpack_from(layout.format, body, 0)))  # noqa: B905 (no strict= on MicroPython)
    for name in layout.u24:
        fields[name] = int.from_bytes(fields[name], "little")
    for name, enum in layout.enums:
        if fields[name] not in enum:
            raise FrameRejected(BODY, "%s.%s = %d is not allowed" % (layout.message.name, name, fields[name]))
    return fields


def encode_body(type_id: int, fields: dict[str, int]) -> bytes:
    """The body bytes of a message of type `type_id` with these field values.

    Every field of the layout must be given, as an int in its kind's range (or, for enum
    fields, one of the enum's values). Raises `EncodeError` otherwise.
    """
    layout = _layout(type_id)
    if layout is None:
        raise EncodeError("unknown message type %r" % (type_id,))
    extra = [name for name in fields if name not in [f[0] for f in layout.fields]]
    if extra:
        raise EncodeError("%s has no field %s" % (layout.message.name, extra[0]))
    values = []
    for field in layout.fields:
        name, kind = field[0], field[1]
        if name not in fields:
            raise EncodeError("%s needs field %s" % (layout.message.name, name))
        value = fields[name]
        if not isinstance(value, int) or isinstance(value, bool):
            raise EncodeError("%s.%s must be an int, not %r" % (layout.message.name, name, value))
        low, high = KINDS[kind][1], KINDS[kind][2]
        if not low <= value <= high:
            raise EncodeError(
                "%s.%s = %d outside %s range %d..%d" % (layout.message.name, name, value, kind, low, high)
            )
        if field[2] is not None and value not in field[2]:
            raise EncodeError("%s.%s = %d is not one of %s" % (layout.message.name, name, value, sorted(field[2])))
        values.append(value.to_bytes(3, "little") if kind == "u24" else value)
    return bytes(struct.pack(layout.format, *values))


def field_labels(type_id: int, fields: dict[str, int]) -> dict[str, object]:
    """Names for the enum values and set flags among `fields`, for people to read."""
    labels: dict[str, object] = {}
    message = BY_ID[type_id]
    for name, _kind, enum, flags in message.fields:
        value = fields.get(name)
        if value is None:
            continue
        if enum is not None:
            labels[name] = enum.get(value, str(value))
        elif flags is not None:
            labels[name] = [flags.get(bit, "bit%d" % bit) for bit in range(32) if value >> bit & 1]
    return labels
