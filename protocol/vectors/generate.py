"""Writes the golden vectors and the generated parts of PROTOCOL.md from the message table.

    python -m protocol.vectors.generate          # rewrite frames.json, frames_plain.json, PROTOCOL.md
    python -m protocol.vectors.generate --check  # exit 1 if any of them is out of date

Everything here is deterministic (fixed keys, counters and values), so the files only change
when the contract does, and a test fails if someone edits the table without regenerating.
"""

import argparse
import hashlib
import json
import struct
import sys
from pathlib import Path
from typing import Any

from protocol import x25519
from protocol.body import encode_body
from protocol.envelope import ENVELOPE_TYPE, wrap
from protocol.framing import crc32, encode_frame
from protocol.key_agreement import offer_check, public_fields
from protocol.keys import NodeKey, derive_node_key, key_fields
from protocol.messages import BY_NAME, ENVELOPE, KINDS, MESSAGES, PADDED_BODY, UP
from protocol.packet import MAX_CTR, TAG_SIZE, compute_tag, seal_packet

HERE = Path(__file__).resolve().parent
DOC = HERE.parent / "PROTOCOL.md"

SITE_ID = 0x5045_5249  # any u32; a site never sends it, it only enters the tag and CTR block
SITE_KEY = hashlib.sha256(b"perimeter golden vectors site key").digest()
OTHER_SITE_KEY = hashlib.sha256(b"perimeter golden vectors another site").digest()

# (name, type, node_id, ctr, ack_req, fields)
# fmt: off
VALID: list[tuple[str, str, int, int, bool, dict[str, int]]] = [
    ("hello_after_power_on", "HELLO", 7, 256, False, {
        "fw_major": 0, "fw_minor": 1, "fw_patch": 0, "boot_count": 3, "reset_cause": 1,
        "capabilities": 0b1111111, "heartbeat_s": 30, "config_id": 0}),
    ("hello_after_watchdog", "HELLO", 65534, 512, True, {
        "fw_major": 1, "fw_minor": 12, "fw_patch": 255, "boot_count": 0xFFFFFFFF,
        "reset_cause": 3, "capabilities": 0b0010101, "heartbeat_s": 65535, "config_id": 9}),
    ("heartbeat", "HEARTBEAT", 7, 257, False, {
        "battery_mv": 3712, "temperature_dc": 215, "status": 0b10, "downlink_rssi_dbm": -97,
        "fence_floor": 31, "acoustic_floor": 420, "impact_floor": 12, "queued": 0,
        "uptime_s": 86400}),
    ("heartbeat_frozen_tampered", "HEARTBEAT", 1, 0, False, {
        "battery_mv": 3100, "temperature_dc": -185, "status": 0b10100001,
        "downlink_rssi_dbm": -128, "fence_floor": 0, "acoustic_floor": 0,
        "impact_floor": 65535, "queued": 255, "uptime_s": 0xFFFFFFFF}),
    ("fence_climb", "FENCE", 7, 258, True, {
        "event_no": 41, "age_ds": 2, "class": 1, "peak": 1850, "noise_floor": 35,
        "pulses": 23, "duration_ds": 47}),
    ("fence_cut", "FENCE", 12, 0x010203, True, {
        "event_no": 65535, "age_ds": 65535, "class": 2, "peak": 65535, "noise_floor": 60,
        "pulses": 4, "duration_ds": 9}),
    ("fence_rattle", "FENCE", 12, 0x010204, False, {
        "event_no": 0, "age_ds": 0, "class": 3, "peak": 300, "noise_floor": 60,
        "pulses": 1, "duration_ds": 1}),
    ("acoustic_drone", "ACOUSTIC", 7, 259, True, {
        "event_no": 42, "age_ds": 5, "class": 1, "fundamental_hz": 203, "harmonics": 3,
        "snr_db": 14, "confidence": 87, "duration_ds": 20}),
    ("acoustic_drone_cleared", "ACOUSTIC", 7, 260, True, {
        "event_no": 43, "age_ds": 1, "class": 2, "fundamental_hz": 366, "harmonics": 2,
        "snr_db": 9, "confidence": 61, "duration_ds": 1240}),
    ("impact_package", "IMPACT", 300, 9000, True, {
        "event_no": 7, "age_ds": 3, "peak": 4095, "noise_floor": 18, "duration_ms": 35}),
    ("tamper_enclosure_opened", "TAMPER", 7, 261, True, {
        "event_no": 44, "age_ds": 0, "kind": 1, "state": 1}),
    ("tamper_restored", "TAMPER", 7, 262, True, {
        "event_no": 45, "age_ds": 12, "kind": 1, "state": 0}),
    ("fault_microphone", "FAULT", 7, MAX_CTR, True, {
        "event_no": 46, "age_ds": 600, "code": 2, "state": 1, "detail": 0x0102}),
    ("ack", "ACK", 7, 1, False, {"acked_ctr": 258}),
    ("fence_faint", "FENCE", 7, 263, True, {
        "event_no": 47, "age_ds": 1, "class": 4, "peak": 640, "noise_floor": 90,
        "pulses": 2, "duration_ds": 10}),
    ("thud_package", "THUD", 7, 264, True, {
        "event_no": 48, "age_ds": 2, "level_db": 57, "floor_db": 38, "duration_ms": 64}),
    ("ack_of_highest_ctr", "ACK", 7, 2, False, {"acked_ctr": MAX_CTR}),
    ("config_heartbeat_and_thresholds", "CONFIG", 7, 3, True, {
        "config_id": 10, "set": 0b111111, "heartbeat_s": 20, "fence_threshold": 120,
        "cut_threshold": 900, "acoustic_snr_db": 8, "impact_threshold": 2000, "armed": 1}),
    ("config_disarm_only", "CONFIG", 7, 4, True, {
        "config_id": 11, "set": 0b100000, "heartbeat_s": 0, "fence_threshold": 0,
        "cut_threshold": 0, "acoustic_snr_db": 0, "impact_threshold": 0, "armed": 0}),
    ("command_ping", "COMMAND", 7, 5, False, {"command": 1, "arg": 0}),
    ("command_reboot", "COMMAND", 65534, 6, True, {"command": 2, "arg": 0}),
    ("command_self_test", "COMMAND", 7, 7, True, {"command": 3, "arg": 0}),
    ("command_walk_test", "COMMAND", 7, 8, True, {"command": 4, "arg": 600}),
]
# fmt: on

# The node's key under the next site key (the vectors' "another site" key, epoch 1).
VALID.append(("rekey_to_epoch_1", "REKEY", 7, 9, True, dict(key_fields(derive_node_key(OTHER_SITE_KEY, 7)), epoch=1)))

# A key agreement's two halves (protocol/key_agreement.py), with fixed ephemeral secrets.
GATEWAY_PUBLIC = x25519.public_key(hashlib.sha256(b"perimeter golden vectors gateway secret").digest())
NODE_PUBLIC = x25519.public_key(hashlib.sha256(b"perimeter golden vectors node secret").digest())
VALID.append(("key_offer_epoch_1", "KEYOFFER", 7, 10, True, dict(public_fields("g", GATEWAY_PUBLIC), epoch=1)))
VALID.append(
    (
        "key_answer_epoch_1",
        "KEYX",
        7,
        268,
        True,
        dict(public_fields("n", NODE_PUBLIC), epoch=1, offer=offer_check(GATEWAY_PUBLIC)),
    )
)

# Uplinks sealed in an ENVELOPE: (name, inner type, node_id, ctr, ack_req, boot, sent_ds,
# padded, fields of VALID's entry of that name).
ENVELOPED: list[tuple[str, str, int, int, bool, int, int, bool, str]] = [
    ("enveloped_heartbeat_padded", "HEARTBEAT", 7, 265, False, 3, 864000, True, "heartbeat"),
    ("enveloped_fence_climb_padded", "FENCE", 7, 266, True, 3, 864012, True, "fence_climb"),
    ("enveloped_tamper_unpadded", "TAMPER", 7, 267, True, 4, 0xFFFFFFFF, False, "tamper_enclosure_opened"),
    ("enveloped_hello", "HELLO", 65534, 513, True, 255, 7, False, "hello_after_watchdog"),
]


def _dir_name(direction: int) -> str:
    return "up" if direction == UP else "down"


def _reseal(key: NodeKey, direction: int, signed: bytes, site_id: int = SITE_ID) -> bytes:
    """A packet with a correct tag over arbitrary header and body bytes."""
    return signed + compute_tag(key, site_id, direction, signed)


def _with_crc_frame(packet: bytes) -> str:
    return encode_frame(packet).hex()


def _valid_entries(encrypted: bool) -> list[dict[str, Any]]:
    entries = []
    for name, type_name, node_id, ctr, ack_req, fields in VALID:
        message = BY_NAME[type_name]
        key = NodeKey.for_node(SITE_KEY, node_id)
        body = encode_body(message.type_id, fields)
        packet = seal_packet(key, SITE_ID, message.type_id, node_id, ctr, body, ack_req, encrypted)
        entries.append(
            {
                "name": name,
                "dir": _dir_name(message.direction),
                "node_id": node_id,
                "ctr": ctr,
                "type": message.type_id,
                "type_name": message.name,
                "ack_req": ack_req,
                "body_plain": body.hex(),
                "packet": packet.hex(),
                "serial": encode_frame(packet).hex(),
                "fields": fields,
            }
        )
    by_name = {v[0]: v for v in VALID}
    for name, type_name, node_id, ctr, ack_req, boot, sent_ds, padded, fields_of in ENVELOPED:
        message = BY_NAME[type_name]
        fields = by_name[fields_of][5]
        key = NodeKey.for_node(SITE_KEY, node_id)
        body = wrap(message.type_id, encode_body(message.type_id, fields), ack_req, boot, sent_ds, padded)
        packet = seal_packet(key, SITE_ID, ENVELOPE_TYPE, node_id, ctr, body, False, encrypted)
        entries.append(
            {
                "name": name,
                "dir": "up",
                "node_id": node_id,
                "ctr": ctr,
                "type": ENVELOPE_TYPE,
                "type_name": ENVELOPE.name,
                "ack_req": False,  # the outer header's: the inner one travels encrypted
                "body_plain": body.hex(),
                "packet": packet.hex(),
                "serial": encode_frame(packet).hex(),
                "inner": {
                    "type": message.type_id,
                    "type_name": message.name,
                    "ack_req": ack_req,
                    "boot": boot,
                    "sent_ds": sent_ds,
                    "padded": padded,
                },
                "fields": fields,
            }
        )
    return entries


def _invalid_entries(encrypted: bool) -> list[dict[str, Any]]:
    key7 = NodeKey.for_node(SITE_KEY, 7)
    fence = BY_NAME["FENCE"].type_id
    fence_fields = VALID[4][5]
    body = encode_body(fence, fence_fields)
    good = seal_packet(key7, SITE_ID, fence, 7, 258, body, True, encrypted)
    good_serial = encode_frame(good)
    head = bytearray(good[:6])
    sealed_body = good[6:-TAG_SIZE]

    def flipped(data: bytes, index: int, bit: int) -> bytes:
        out = bytearray(data)
        out[index] ^= 1 << bit
        return bytes(out)

    def header(first: int) -> bytes:
        h = bytearray(head)
        h[0] = first
        return bytes(h)

    crc_wrong = good + struct.pack("<I", crc32(good) ^ 1)
    from protocol.framing import cobs_encode

    other_site = NodeKey.for_node(OTHER_SITE_KEY, 7)
    ack = BY_NAME["ACK"].type_id

    def envelope(envelope_body: bytes) -> bytes:
        return seal_packet(key7, SITE_ID, ENVELOPE_TYPE, 7, 258, envelope_body, False, encrypted)

    e: list[dict[str, Any]] = [
        {"name": "serial_bit_flipped_in_body", "serial": flipped(good_serial, 12, 3).hex(), "error": "crc"},
        {"name": "serial_crc_wrong", "serial": (cobs_encode(crc_wrong) + b"\x00").hex(), "error": "crc"},
        {
            "name": "serial_zero_inside_frame",
            "serial": (good_serial[:9] + b"\x00" + good_serial[10:]).hex(),
            "error": "crc",
        },
        {"name": "serial_bad_cobs_code", "serial": (b"\x09\x01\x02" + b"\x00").hex(), "error": "crc"},
        {"name": "serial_only_crc_no_packet", "serial": _with_crc_frame(b"\x47\x07\x00"), "error": "truncated"},
        {"name": "serial_two_bytes", "serial": "03aabb00", "error": "truncated"},
        {"name": "packet_shorter_than_header_and_tag", "packet": good[:11].hex(), "error": "truncated"},
        {"name": "packet_empty", "packet": "", "error": "truncated"},
        {"name": "packet_bit_flipped_in_body", "packet": flipped(good, 8, 0).hex(), "error": "tag"},
        {"name": "packet_bit_flipped_in_tag", "packet": flipped(good, len(good) - 1, 7).hex(), "error": "tag"},
        {"name": "packet_node_id_changed", "packet": (good[:1] + b"\x08\x00" + good[3:]).hex(), "error": "tag"},
        {"name": "packet_counter_changed", "packet": (good[:3] + b"\x03\x01\x00" + good[6:]).hex(), "error": "tag"},
        {"name": "packet_ack_req_cleared", "packet": flipped(good, 0, 0).hex(), "error": "tag"},
        {
            "name": "packet_from_another_site_key",
            "packet": seal_packet(other_site, SITE_ID, fence, 7, 258, body, True, encrypted).hex(),
            "error": "tag",
        },
        {
            "name": "packet_from_another_site_id",
            "packet": seal_packet(key7, SITE_ID + 1, fence, 7, 258, body, True, encrypted).hex(),
            "error": "tag",
        },
        {"name": "packet_uplink_tag_on_downlink", "packet": good.hex(), "dir": "down", "error": "tag"},
        {
            "name": "serial_good_crc_forged_tag",
            "serial": encode_frame(good[:-TAG_SIZE] + bytes(TAG_SIZE)).hex(),
            "error": "tag",
        },
        {
            "name": "packet_version_0",
            "packet": _reseal(key7, UP, header(0x00 | fence << 1 | 1) + sealed_body).hex(),
            "error": "version",
        },
        {
            "name": "packet_version_2",
            "packet": _reseal(key7, UP, header(0x80 | fence << 1 | 1) + sealed_body).hex(),
            "error": "version",
        },
        {
            "name": "packet_unknown_type_15",
            "packet": _reseal(key7, UP, header(0x40 | 15 << 1) + sealed_body).hex(),
            "error": "type",
        },
        {
            "name": "packet_downlink_type_sent_up",
            "packet": _reseal(key7, UP, header(0x40 | ack << 1) + b"\x01\x02\x03").hex(),
            "error": "type",
        },
        {"name": "packet_replayed_same_ctr", "packet": good.hex(), "last_ctr": 258, "error": "replay"},
        {"name": "packet_replayed_older_ctr", "packet": good.hex(), "last_ctr": 1000, "error": "replay"},
        {"name": "serial_replayed", "serial": good_serial.hex(), "last_ctr": 258, "error": "replay"},
        {
            "name": "packet_body_one_byte_short",
            "packet": seal_packet(key7, SITE_ID, fence, 7, 258, body[:-1], True, encrypted).hex(),
            "error": "body",
        },
        {
            "name": "packet_body_one_byte_long",
            "packet": seal_packet(key7, SITE_ID, fence, 7, 258, body + b"\x00", True, encrypted).hex(),
            "error": "body",
        },
        {
            "name": "packet_fence_class_unknown",
            "packet": seal_packet(key7, SITE_ID, fence, 7, 258, body[:4] + b"\x09" + body[5:], True, encrypted).hex(),
            "error": "body",
        },
        {
            "name": "envelope_padding_not_zeros",
            "packet": envelope(wrap(fence, body, True, 3, 10, True)[:-1] + b"\x01").hex(),
            "error": "body",
        },
        {
            "name": "envelope_inside_envelope",
            "packet": envelope(wrap(ENVELOPE_TYPE, wrap(fence, body, True, 3, 10), False, 3, 10)).hex(),
            "error": "body",
        },
        {
            "name": "envelope_carrying_a_downlink",
            "packet": envelope(wrap(ack, b"\x01\x02\x03", False, 3, 10)).hex(),
            "error": "body",
        },
        {
            "name": "envelope_inner_body_short",
            "packet": envelope(wrap(fence, body, True, 3, 10)[:-1]).hex(),
            "error": "body",
        },
    ]
    for entry in e:
        entry.setdefault("dir", "up")
        entry["node_id"] = 7
    return e


def vectors(encrypted: bool) -> dict[str, Any]:
    """The whole golden-vector document for an encrypting or a plaintext site."""
    return {
        "comment": "Generated by protocol/vectors/generate.py from protocol/messages.py; do not edit.",
        "site_id": SITE_ID,
        "site_key": SITE_KEY.hex(),
        "encrypted": encrypted,
        "valid": _valid_entries(encrypted),
        "invalid": _invalid_entries(encrypted),
    }


def _dump(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=1) + "\n"


def _spaced(hex_string: str) -> str:
    return " ".join(hex_string[i : i + 2] for i in range(0, len(hex_string), 2))


def body_tables() -> str:
    """Markdown byte tables of every body, from the message table."""
    out = []
    for m in MESSAGES:
        direction = "node → gateway" if m.direction == UP else "gateway → node"
        kind = "event, " if m.is_event else ""
        size = "%d bytes" % m.size
        if m is ENVELOPE:
            size += ", then the inner body and, padded, zeros to %d" % PADDED_BODY
        out.append("### %d %s (%s%s, %s)\n" % (m.type_id, m.name, kind, direction, size))
        out.append("| offset | size | field | type | values |")
        out.append("|---|---|---|---|---|")
        offset = 0
        for name, kind_name, enum, flags in m.fields:
            size = KINDS[kind_name][0]
            if enum is not None:
                values = ", ".join("%d %s" % (v, n) for v, n in sorted(enum.items()))
            elif flags is not None:
                values = "bits: " + ", ".join("%d %s" % (b, n) for b, n in sorted(flags.items()))
            else:
                values = ""
            out.append("| %d | %d | `%s` | %s | %s |" % (offset, size, name, kind_name, values))
            offset += size
        out.append("")
    return "\n".join(out)


def frame_sizes() -> str:
    """Markdown table of the on-air size of every message type."""
    out = [
        "| type | body | packet (= LoRa payload) | serial frame | in an ENVELOPE | padded ENVELOPE |",
        "|---|---|---|---|---|---|",
    ]
    for m in MESSAGES:
        if m is ENVELOPE:
            continue
        packet = 12 + m.size
        serial = packet + 4 + 1 + 1  # CRC, COBS code byte, delimiter (packets < 254 bytes)
        if m.direction == UP:
            enveloped, padded = "%d" % (packet + ENVELOPE.size), "%d" % (12 + PADDED_BODY)
        else:
            enveloped = padded = "(uplinks only)"
        out.append("| %s | %d | %d | %d | %s | %s |" % (m.name, m.size, packet, serial, enveloped, padded))
    return "\n".join(out) + "\n"


def worked_example(doc: dict[str, Any]) -> str:
    """The first fence vector taken apart byte by byte."""
    v = next(e for e in doc["valid"] if e["name"] == "fence_climb")
    key = NodeKey.for_node(SITE_KEY, v["node_id"])
    packet = bytes.fromhex(v["packet"])
    lines = [
        "Site key `%s` (the vectors' key), site_id %d (0x%08x), encrypted." % (SITE_KEY.hex(), SITE_ID, SITE_ID),
        "",
        "| step | bytes (hex) |",
        "|---|---|",
        "| fields | `%s` |" % json.dumps(v["fields"], separators=(",", ":")),
        '| k_node = HMAC-SHA256(site_key, "perimeter-node" ‖ 07 00) | `%s` |' % (key.k_enc + key.k_mac).hex(),
        "| k_enc | `%s` |" % key.k_enc.hex(),
        "| k_mac | `%s` |" % key.k_mac.hex(),
        "| header: 0x47 = version 01, type 3, ack_req 1; node 7; ctr 258 | `%s` |" % _spaced(packet[:6].hex()),
        "| body (plaintext) | `%s` |" % _spaced(v["body_plain"]),
        "| CTR block 0 = site_id ‖ dir ‖ node_id ‖ ctr ‖ 00×5 ‖ 00 | `%s` |"
        % _spaced(struct.pack("<IBHHB", SITE_ID, UP, 7, 258 & 0xFFFF, 258 >> 16).hex() + "0000000000" + "00"),
        "| body (ciphertext) | `%s` |" % _spaced(packet[6:-6].hex()),
        "| tag input = site_id ‖ dir ‖ header ‖ ciphertext | `%s` |"
        % _spaced(struct.pack("<IB", SITE_ID, UP).hex() + packet[:-6].hex()),
        "| tag = HMAC-SHA256(k_mac, tag input)[0:6] | `%s` |" % _spaced(packet[-6:].hex()),
        "| packet (%d bytes) | `%s` |" % (len(packet), _spaced(v["packet"])),
        "| CRC32(packet), u32 LE | `%s` |" % _spaced(struct.pack("<I", crc32(packet)).hex()),
        "| serial frame = COBS(packet ‖ CRC) ‖ 00 | `%s` |" % _spaced(v["serial"]),
        "",
        "Decode it: `perimeter frame decode --site-key-file site.key --site-id %d %s`" % (SITE_ID, v["serial"]),
    ]
    return "\n".join(lines) + "\n"


def _replace_block(text: str, name: str, content: str) -> str:
    begin = "<!-- BEGIN GENERATED %s -->\n" % name
    end = "<!-- END GENERATED %s -->" % name
    start = text.index(begin) + len(begin)
    stop = text.index(end)
    return text[:start] + content + text[stop:]


def outputs() -> dict[Path, str]:
    """Every generated file and its content."""
    encrypted = vectors(True)
    doc = DOC.read_text()
    doc = _replace_block(doc, "bodies", body_tables())
    doc = _replace_block(doc, "sizes", frame_sizes())
    doc = _replace_block(doc, "example", worked_example(encrypted))
    return {
        HERE / "frames.json": _dump(encrypted),
        HERE / "frames_plain.json": _dump(vectors(False)),
        DOC: doc,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a generated file is stale")
    args = parser.parse_args(argv)
    stale = []
    for path, content in outputs().items():
        current = path.read_text() if path.exists() else None
        if current != content:
            stale.append(path)
            if not args.check:
                path.write_text(content)
    if args.check and stale:
        for path in stale:
            print("stale: %s (run python -m protocol.vectors.generate)" % path, file=sys.stderr)
        return 1
    for path in outputs() if not args.check else []:
        print("%s %s" % ("wrote" if path in stale else "unchanged", path.relative_to(HERE.parent.parent)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
