"""The message table: every message type's id, direction and body layout.

This table is the single source of body layouts. The struct codec (`protocol.body`), the
construct schema (`protocol.schema`) and the tables in PROTOCOL.md are all derived from it,
and the golden vectors in `protocol/vectors/` bind them together.

It runs on MicroPython, so it holds only tuples, dicts and ints. A field is
`(name, kind, enum, flags)`: `kind` is one of `KINDS`; `enum` maps each allowed value to its
name (any other value is a body error); `flags` maps bit numbers to names (unknown bits are
kept, not rejected, so a newer node can report a flag an older gateway does not know).
Units are in the field names: `_mv` millivolts, `_dc` tenths of a degree Celsius, `_ds`
tenths of a second, `_ms` milliseconds, `_s` seconds, `_hz` hertz, `_db` decibels, `_dbm`.
"""

VERSION = 1

UP = 0  # node -> gateway; the `dir` byte of the tag input and the CTR block
DOWN = 1  # gateway -> node

# kind -> (size in bytes, minimum, maximum). Little-endian throughout.
KINDS = {
    "u8": (1, 0, 0xFF),
    "i8": (1, -0x80, 0x7F),
    "u16": (2, 0, 0xFFFF),
    "i16": (2, -0x8000, 0x7FFF),
    "u24": (3, 0, 0xFFFFFF),
    "u32": (4, 0, 0xFFFFFFFF),
}

RESET_CAUSE = {
    0: "unknown",
    1: "power_on",
    2: "hard",
    3: "watchdog",
    4: "deep_sleep",
    5: "soft",
    6: "brownout",
}
CAPABILITIES = {
    0: "accelerometer",
    1: "microphone",
    2: "impact",
    3: "tamper_switch",
    4: "lora",
    5: "serial",
    6: "battery",
}
NODE_STATUS = {
    0: "tamper",
    1: "armed",
    2: "accelerometer_fault",
    3: "microphone_fault",
    4: "impact_fault",
    5: "battery_low",
    6: "storage_fault",
    7: "queue_full",
}
FENCE_CLASS = {1: "climb", 2: "cut", 3: "rattle", 4: "faint"}
# A drone detection is reported when the hysteresis raises it and again when it clears, so
# the gateway can open and close a track; both carry the same measurements.
ACOUSTIC_CLASS = {1: "drone", 2: "drone_cleared", 3: "aircraft", 4: "aircraft_gone"}
TAMPER_KIND = {1: "enclosure", 2: "tilt", 3: "sensor_cable", 4: "power"}
FAULT_CODE = {
    1: "accelerometer",
    2: "microphone",
    3: "impact",
    4: "battery_low",
    5: "storage",
    6: "radio",
    7: "clock",
    8: "watchdog",
}
ACTIVE = {0: "restored", 1: "active"}
ARMED = {0: "disarmed", 1: "armed"}
CONFIG_KEYS = {
    0: "heartbeat_s",
    1: "fence_threshold",
    2: "cut_threshold",
    3: "acoustic_snr_db",
    4: "impact_threshold",
    5: "armed",
}
COMMAND = {1: "ping", 2: "reboot", 3: "self_test", 4: "walk_test"}
ENVELOPE_FLAGS = {0: "ack_req"}

# Every event body starts with these two fields (added by the table, not repeated below):
# the node-local event number the gateway de-duplicates retransmissions by, and how long the
# event waited on the node before this transmission (saturates at 65535 = 109 min).
EVENT_PREFIX = (
    ("event_no", "u16", None, None),
    ("age_ds", "u16", None, None),
)

# (type id, name, direction, is_event, fields)
# fmt: off
_TABLE = (
    (1, "HELLO", UP, False, (
        ("fw_major", "u8", None, None),
        ("fw_minor", "u8", None, None),
        ("fw_patch", "u8", None, None),
        ("boot_count", "u32", None, None),
        ("reset_cause", "u8", RESET_CAUSE, None),
        ("capabilities", "u8", None, CAPABILITIES),
        ("heartbeat_s", "u16", None, None),
        ("config_id", "u16", None, None),
    )),
    (2, "HEARTBEAT", UP, False, (
        ("battery_mv", "u16", None, None),
        ("temperature_dc", "i16", None, None),
        ("status", "u8", None, NODE_STATUS),
        ("downlink_rssi_dbm", "i8", None, None),
        ("fence_floor", "u16", None, None),
        ("acoustic_floor", "u16", None, None),
        ("impact_floor", "u16", None, None),
        ("queued", "u8", None, None),
        ("uptime_s", "u32", None, None),
    )),
    (3, "FENCE", UP, True, (
        ("class", "u8", FENCE_CLASS, None),
        ("peak", "u16", None, None),
        ("noise_floor", "u16", None, None),
        ("pulses", "u8", None, None),
        ("duration_ds", "u16", None, None),
    )),
    (4, "ACOUSTIC", UP, True, (
        ("class", "u8", ACOUSTIC_CLASS, None),
        ("fundamental_hz", "u16", None, None),
        ("harmonics", "u8", None, None),
        ("snr_db", "u8", None, None),
        ("confidence", "u8", None, None),
        ("duration_ds", "u16", None, None),
    )),
    (5, "IMPACT", UP, True, (
        ("peak", "u16", None, None),
        ("noise_floor", "u16", None, None),
        ("duration_ms", "u16", None, None),
    )),
    (6, "TAMPER", UP, True, (
        ("kind", "u8", TAMPER_KIND, None),
        ("state", "u8", ACTIVE, None),
    )),
    (7, "FAULT", UP, True, (
        ("code", "u8", FAULT_CODE, None),
        ("state", "u8", ACTIVE, None),
        ("detail", "u16", None, None),
    )),
    (8, "THUD", UP, True, (
        ("level_db", "u8", None, None),
        ("floor_db", "u8", None, None),
        ("duration_ms", "u16", None, None),
    )),
    # Any other uplink, sealed inside: its type and ack_req hidden in the ciphertext (the
    # outer header says ENVELOPE, ack_req 0), with the node's boot and clock at transmission
    # so that the gateway can tell a frame played late from one sent late. The body goes on
    # with the inner message's body and, on a site with constant-length uplinks, zero bytes
    # up to PADDED_BODY, so that every uplink has the same length on air.
    (9, "ENVELOPE", UP, False, (
        ("type", "u8", None, None),
        ("flags", "u8", None, ENVELOPE_FLAGS),
        ("boot", "u8", None, None),
        ("sent_ds", "u32", None, None),
    )),
    # A node's half of a key agreement (`protocol/key_agreement.py`): its ephemeral X25519
    # public key, answering the KEYOFFER whose check it names, sealed under its current key.
    # Sent bare, never in an envelope: it is longer than any other uplink and would pad every
    # one of them to its length (it goes once a key change, so its type on air tells little).
    (10, "KEYX", UP, False, (
        ("epoch", "u8", None, None),
        ("offer", "u32", None, None),
        ("n0", "u32", None, None),
        ("n1", "u32", None, None),
        ("n2", "u32", None, None),
        ("n3", "u32", None, None),
        ("n4", "u32", None, None),
        ("n5", "u32", None, None),
        ("n6", "u32", None, None),
        ("n7", "u32", None, None),
    )),
    (16, "ACK", DOWN, False, (
        ("acked_ctr", "u24", None, None),
    )),
    (17, "CONFIG", DOWN, False, (
        ("config_id", "u16", None, None),
        ("set", "u8", None, CONFIG_KEYS),
        ("heartbeat_s", "u16", None, None),
        ("fence_threshold", "u16", None, None),
        ("cut_threshold", "u16", None, None),
        ("acoustic_snr_db", "u8", None, None),
        ("impact_threshold", "u16", None, None),
        ("armed", "u8", ARMED, None),
    )),
    (18, "COMMAND", DOWN, False, (
        ("command", "u8", COMMAND, None),
        ("arg", "u16", None, None),
    )),
    # The node's next key itself, sent under its current key: gateways before 0.2 sent it,
    # and nodes from firmware 0.7 ignore it (whoever holds the current key reads the next one
    # in it). Kept so the id is never reused.
    (19, "REKEY", DOWN, False, (
        ("epoch", "u8", None, None),
        ("k0", "u32", None, None),
        ("k1", "u32", None, None),
        ("k2", "u32", None, None),
        ("k3", "u32", None, None),
        ("k4", "u32", None, None),
        ("k5", "u32", None, None),
        ("k6", "u32", None, None),
        ("k7", "u32", None, None),
    )),
    # The gateway's half of a key agreement: its ephemeral X25519 public key for the node's
    # key of `epoch`, sealed under the node's current key.
    (20, "KEYOFFER", DOWN, False, (
        ("epoch", "u8", None, None),
        ("g0", "u32", None, None),
        ("g1", "u32", None, None),
        ("g2", "u32", None, None),
        ("g3", "u32", None, None),
        ("g4", "u32", None, None),
        ("g5", "u32", None, None),
        ("g6", "u32", None, None),
        ("g7", "u32", None, None),
    )),
)
# fmt: on


class MessageType:
    """One row of the table: id, name, direction and the full body layout."""

    def __init__(
        self,
        type_id: int,
        name: str,
        direction: int,
        is_event: bool,
        fields: "tuple[tuple[str, str, dict[int, str] | None, dict[int, str] | None], ...]",
    ) -> None:
        self.type_id = type_id
        self.name = name
        self.direction = direction
        self.is_event = is_event
        self.fields = (EVENT_PREFIX + fields) if is_event else fields
        size = 0
        for field in self.fields:
            size += KINDS[field[1]][0]
        self.size = size

    def __repr__(self) -> str:
        return "MessageType(%d, %s)" % (self.type_id, self.name)


MESSAGES = tuple(MessageType(*row) for row in _TABLE)
BY_ID = {m.type_id: m for m in MESSAGES}
BY_NAME = {m.name: m for m in MESSAGES}


ENVELOPE = BY_NAME["ENVELOPE"]
# Envelope bodies are longer than their fixed fields: what follows them is the tail.
TAILED = (ENVELOPE.type_id,)
# The inner message types an envelope may carry: every other uplink but KEYX (see its row).
ENVELOPED = tuple(m.type_id for m in MESSAGES if m.direction == UP and m.name not in ("ENVELOPE", "KEYX"))
# An envelope's body padded to the largest inner body: every uplink then has one length.
PADDED_BODY = ENVELOPE.size + max(BY_ID[t].size for t in ENVELOPED)


def message_type(ref: "int | str") -> "MessageType | None":
    """The `MessageType` for an id (int) or a name ("FENCE", case-insensitive), or None."""
    if isinstance(ref, int):
        return BY_ID.get(ref)
    return BY_NAME.get(ref.upper())
