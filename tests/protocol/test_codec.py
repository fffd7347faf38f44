"""Specifications of the protocol codec, run unchanged on CPython and MicroPython."""

import struct

from protocol.body import decode_body, encode_body, field_labels
from protocol.crypto import AesEcb, equal, hmac_sha256
from protocol.errors import EncodeError
from protocol.framing import MAX_FRAME, Deframer, cobs_decode, cobs_encode, crc32, decode_frame, encode_frame
from protocol.keys import NodeKey, derive_node_key
from protocol.messages import BY_NAME, DOWN, MESSAGES, UP, message_type
from protocol.packet import MAX_CTR, apply_ctr, encode_packet, open_packet
from tests.protocol.support import raises, rejection

SITE_KEY = bytes(range(32))
SITE_ID = 77
FENCE = BY_NAME["FENCE"].type_id
CLIMB = {"event_no": 1, "age_ds": 0, "class": 1, "peak": 900, "noise_floor": 40, "pulses": 9, "duration_ds": 30}

# RFC 4231 section 4: (key, data, HMAC-SHA256, bytes compared).
RFC4231 = (
    (b"\x0b" * 20, b"Hi There", "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7", 32),
    (b"Jefe", b"what do ya want for nothing?", "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843", 32),
    (b"\xaa" * 20, b"\xdd" * 50, "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe", 32),
    (bytes(range(1, 26)), b"\xcd" * 50, "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b", 32),
    (b"\x0c" * 20, b"Test With Truncation", "a3b6167473100ee06e0c796c2955552b", 16),
    (
        b"\xaa" * 131,
        b"Test Using Larger Than Block-Size Key - Hash Key First",
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
        32,
    ),
    (
        b"\xaa" * 131,
        b"This is a test using a larger than block-size key and a larger than block-size data."
        b" The key needs to be hashed before being used by the HMAC algorithm.",
        "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
        32,
    ),
)


def _fence_packet(ctr=100, node_id=7, ack_req=True, encrypted=True, site_id=SITE_ID):
    key = NodeKey.for_node(SITE_KEY, node_id)
    return key, encode_packet(key, site_id, FENCE, node_id, ctr, CLIMB, ack_req, encrypted)


# --- primitives ------------------------------------------------------------------------


def test_hmac_sha256_passes_rfc4231_test_cases():
    for key, data, expected, size in RFC4231:
        assert hmac_sha256(key, data)[:size].hex() == expected


def test_hmac_of_parts_equals_hmac_of_their_concatenation():
    assert hmac_sha256(b"k", b"ab", b"cd") == hmac_sha256(b"k", b"abcd")


def test_aes_128_matches_fips_197_appendix_c1():
    aes = AesEcb(bytes(range(16)))
    assert aes.encrypt(bytes.fromhex("00112233445566778899aabbccddeeff")).hex() == "69c4e0d86a7b0430d8cdb78070b4c55a"


def test_constant_time_equal_compares_whole_tags():
    assert equal(b"\x01\x02\x03\x04\x05\x06", b"\x01\x02\x03\x04\x05\x06")
    assert not equal(b"\x01\x02\x03\x04\x05\x06", b"\x01\x02\x03\x04\x05\x07")
    assert not equal(b"\x01\x02\x03", b"\x01\x02\x03\x04")


def test_crc32_is_ieee_802_3():
    assert crc32(b"123456789") == 0xCBF43926


def test_cobs_matches_the_papers_examples():
    examples = (
        ("00", "0101"),
        ("0000", "010101"),
        ("11220033", "0311220233"),
        ("11223344", "0511223344"),
        ("11000000", "0211010101"),
    )
    for plain, encoded in examples:
        assert cobs_encode(bytes.fromhex(plain)).hex() == encoded
        assert cobs_decode(bytes.fromhex(encoded)).hex() == plain
    run = bytes(range(1, 255))
    assert cobs_encode(run) == b"\xff" + run
    assert cobs_encode(run + b"\xff") == b"\xff" + run + b"\x02\xff"
    assert cobs_decode(b"\xff" + run + b"\x02\xff") == run + b"\xff"


# --- keys, header, encryption, tag ----------------------------------------------------------


def test_node_key_is_hmac_of_label_and_little_endian_node_id():
    assert derive_node_key(SITE_KEY, 0x0102) == hmac_sha256(SITE_KEY, b"perimeter-node\x02\x01")
    key = NodeKey.for_node(SITE_KEY, 0x0102)
    assert key.k_enc + key.k_mac == derive_node_key(SITE_KEY, 0x0102)


def test_reserved_node_ids_and_short_site_keys_are_refused():
    assert raises(EncodeError, derive_node_key, SITE_KEY, 0)
    assert raises(EncodeError, derive_node_key, SITE_KEY, 0xFFFF)
    assert raises(EncodeError, derive_node_key, SITE_KEY[:16], 1)


def test_header_packs_version_type_and_ack_req_into_the_first_byte():
    _, packet = _fence_packet(ctr=0x030201, node_id=0x0605)
    assert packet[0] == 0b01_00011_1
    assert packet[1:6] == b"\x05\x06\x01\x02\x03"
    _, packet = _fence_packet(ack_req=False)
    assert packet[0] == 0b01_00011_0


def test_ctr_keystream_is_aes_of_the_documented_block():
    key = NodeKey.for_node(SITE_KEY, 7)
    stream = apply_ctr(key, SITE_ID, UP, 7, 0x0A0B0C, bytes(20))
    block0 = struct.pack("<IBH", SITE_ID, UP, 7) + b"\x0c\x0b\x0a" + bytes(5) + b"\x00"
    block1 = block0[:15] + b"\x01"
    assert stream == (key.aes.encrypt(block0) + key.aes.encrypt(block1))[:20]


def test_keystream_differs_by_direction_counter_and_node():
    key = NodeKey.for_node(SITE_KEY, 7)
    base = apply_ctr(key, SITE_ID, UP, 7, 5, bytes(16))
    assert base != apply_ctr(key, SITE_ID, DOWN, 7, 5, bytes(16))
    assert base != apply_ctr(key, SITE_ID, UP, 7, 6, bytes(16))
    assert base != apply_ctr(key, SITE_ID, UP, 8, 5, bytes(16))
    assert base != apply_ctr(key, SITE_ID + 1, UP, 7, 5, bytes(16))


def test_tag_is_first_six_bytes_of_hmac_over_site_dir_header_and_ciphertext():
    key, packet = _fence_packet()
    expected = hmac_sha256(key.k_mac, struct.pack("<IB", SITE_ID, UP), packet[:-6])[:6]
    assert packet[-6:] == expected


def test_packet_round_trips_encrypted_and_plain():
    for encrypted in (True, False):
        key, packet = _fence_packet(encrypted=encrypted)
        opened = open_packet(key, SITE_ID, packet, UP, None, encrypted)
        assert opened.fields == CLIMB and opened.ctr == 100 and opened.ack_req
        assert opened.name == "FENCE"


def test_counter_must_be_strictly_above_the_last_accepted():
    key, packet = _fence_packet(ctr=100)
    assert rejection(open_packet, key, SITE_ID, packet, UP, 100) == "replay"
    assert rejection(open_packet, key, SITE_ID, packet, UP, 5000) == "replay"
    assert open_packet(key, SITE_ID, packet, UP, 99).ctr == 100


def test_highest_counter_round_trips():
    key, packet = _fence_packet(ctr=MAX_CTR)
    assert open_packet(key, SITE_ID, packet, UP, MAX_CTR - 1).ctr == MAX_CTR


def test_frame_for_another_site_or_the_other_direction_fails_its_tag():
    key, packet = _fence_packet()
    assert rejection(open_packet, key, SITE_ID + 1, packet, UP) == "tag"
    assert rejection(open_packet, key, SITE_ID, packet, DOWN) == "tag"
    other = NodeKey.for_node(bytes(32), 7)
    assert rejection(open_packet, other, SITE_ID, packet, UP) == "tag"


def test_encrypted_frame_read_as_plain_fails_or_decodes_differently():
    key, packet = _fence_packet(encrypted=True)
    try:
        fields = open_packet(key, SITE_ID, packet, UP, None, False).fields
    except Exception as exc:
        assert getattr(exc, "kind", None) == "body"
    else:
        assert fields != CLIMB


# --- bodies -------------------------------------------------------------------------------


def test_every_event_body_starts_with_event_no_and_age():
    for message in MESSAGES:
        if message.is_event:
            assert [f[0] for f in message.fields[:2]] == ["event_no", "age_ds"]
            assert 12 + message.size <= 51, message.name


def test_message_ids_are_those_the_design_fixes_and_additions_only():
    # DESIGN.md fixes 1-7 and 16-18; 8 THUD (a landing heard by the microphone) and 9
    # ENVELOPE (any uplink sealed inside another) were added after it, in the uplink range,
    # 10 KEYX (a node's half of a key agreement) too; 19 REKEY (a node's next key handed
    # over, no longer sent) and 20 KEYOFFER (the gateway's half) in the downlink range,
    # without moving any of them.
    added = {"THUD": 8, "ENVELOPE": 9, "KEYX": 10, "REKEY": 19, "KEYOFFER": 20}
    ids = {m.name: m.type_id for m in MESSAGES if m.name not in added}
    assert {name: message_type(name).type_id for name in added} == added
    assert ids == {
        "HELLO": 1,
        "HEARTBEAT": 2,
        "FENCE": 3,
        "ACOUSTIC": 4,
        "IMPACT": 5,
        "TAMPER": 6,
        "FAULT": 7,
        "ACK": 16,
        "CONFIG": 17,
        "COMMAND": 18,
    }
    assert all((m.direction == UP) == (m.type_id < 16) for m in MESSAGES)
    assert message_type("fence") is message_type(3)


def test_body_values_outside_their_range_are_refused_not_truncated():
    assert raises(EncodeError, encode_body, FENCE, dict(CLIMB, peak=65536))
    assert raises(EncodeError, encode_body, FENCE, dict(CLIMB, pulses=-1))
    assert raises(EncodeError, encode_body, BY_NAME["ACK"].type_id, {"acked_ctr": MAX_CTR + 1})


def test_body_needs_every_field_and_no_other():
    partial = dict(CLIMB)
    del partial["peak"]
    assert raises(EncodeError, encode_body, FENCE, partial)
    assert raises(EncodeError, encode_body, FENCE, dict(CLIMB, colour=1))
    assert raises(EncodeError, encode_body, 9, {})


def test_enum_values_outside_the_table_are_refused_both_ways():
    assert raises(EncodeError, encode_body, FENCE, dict(CLIMB, **{"class": 5}))
    body = bytearray(encode_body(FENCE, CLIMB))
    body[4] = 5
    assert rejection(decode_body, FENCE, bytes(body)) == "body"


def test_signed_fields_round_trip_negative_values():
    hb = BY_NAME["HEARTBEAT"].type_id
    fields = {
        "battery_mv": 3000,
        "temperature_dc": -400,
        "status": 3,
        "downlink_rssi_dbm": -128,
        "fence_floor": 1,
        "acoustic_floor": 2,
        "impact_floor": 3,
        "queued": 4,
        "uptime_s": 5,
    }
    assert decode_body(hb, encode_body(hb, fields)) == fields


def test_labels_name_enum_values_and_set_flags():
    hb = BY_NAME["HEARTBEAT"].type_id
    labels = field_labels(hb, {"status": 0b11})
    assert labels == {"status": ["tamper", "armed"]}
    assert field_labels(FENCE, CLIMB)["class"] == "climb"


# --- serial framing and the deframer ------------------------------------------------------


def _frames(count):
    out = []
    for ctr in range(1, count + 1):
        out.append(_fence_packet(ctr=ctr)[1])
    return out


def test_serial_frame_ends_in_its_only_zero_byte():
    frame = encode_frame(_fence_packet()[1])
    assert frame[-1] == 0 and 0 not in frame[:-1]


def test_frame_with_missing_or_wrong_crc_is_line_noise():
    packet = _fence_packet()[1]
    frame = encode_frame(packet)
    assert rejection(decode_frame, frame[:-3] + b"\x00") == "crc"
    assert rejection(decode_frame, cobs_encode(packet + b"\x00\x00\x00\x00") + b"\x00") == "crc"


def test_deframer_reassembles_a_frame_fed_one_byte_at_a_time():
    packet = _fence_packet()[1]
    deframer = Deframer()
    for byte in encode_frame(packet):
        assert deframer.next_packet() is None
        deframer.feed(bytes([byte]))
    assert deframer.next_packet() == packet
    assert deframer.next_packet() is None


def test_deframer_returns_several_frames_from_one_chunk_in_order():
    packets = _frames(5)
    deframer = Deframer()
    deframer.feed(b"".join(encode_frame(p) for p in packets))
    assert [deframer.next_packet() for _ in range(6)] == packets + [None]
    assert deframer.packets == 5


def test_receiver_joining_mid_stream_is_in_sync_after_the_next_zero():
    first, second = _frames(2)
    deframer = Deframer()
    deframer.feed(encode_frame(first)[7:] + encode_frame(second))
    assert deframer.next_packet() == second
    assert deframer.next_packet() is None
    assert deframer.bad_crc + deframer.truncated == 1


def test_deframer_counts_noise_truncated_and_oversize_runs_and_recovers():
    packet = _fence_packet()[1]
    deframer = Deframer()
    deframer.feed(b"\x05\x01\x02\x03\x04\x00")  # COBS-valid, CRC wrong
    deframer.feed(encode_frame(b"\x47\x07\x00"))  # CRC right, too short for a packet
    deframer.feed(b"\x01" * (MAX_FRAME + 50))  # no delimiter for too long
    deframer.feed(b"\x00" + encode_frame(packet))
    assert deframer.next_packet() == packet
    assert deframer.stats() == {"packets": 1, "bad_crc": 1, "truncated": 1, "oversize": 1}


def test_deframer_never_buffers_more_than_one_frame():
    deframer = Deframer()
    for _ in range(100):
        deframer.feed(b"\x7f" * 97)
        assert len(deframer._buf) <= MAX_FRAME
    assert deframer.oversize == 1


def test_empty_frames_are_ignored():
    packet = _fence_packet()[1]
    deframer = Deframer()
    deframer.feed(b"\x00\x00\x00" + encode_frame(packet) + b"\x00\x00")
    assert deframer.next_packet() == packet
    assert deframer.stats() == {"packets": 1, "bad_crc": 0, "truncated": 0, "oversize": 0}


def test_crypto_comes_from_the_interpreters_own_library():
    import sys

    from protocol import crypto

    if sys.implementation.name == "micropython":
        assert crypto.cryptolib.__name__ == "cryptolib"
    else:
        assert crypto.Cipher.__module__.startswith("cryptography.")
        assert crypto._hmac.__name__ == "hmac"
