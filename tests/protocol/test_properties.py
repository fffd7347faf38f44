"""Property tests (CPython, hypothesis): the two codecs agree, and corruption never passes."""

from cobs import cobs as cobs_c
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol import schema
from protocol.body import encode_body
from protocol.envelope import ENVELOPE_TYPE, wrap
from protocol.errors import FrameRejected
from protocol.framing import (
    MAX_FRAME,
    Deframer,
    _cobs_decode_py,
    _cobs_encode_py,
    decode_frame,
    encode_frame,
)
from protocol.keys import NodeKey
from protocol.messages import BY_ID, ENVELOPED, KINDS, MESSAGES
from protocol.packet import MAX_CTR, apply_ctr, compute_tag, open_packet, seal_packet

node_ids = st.integers(1, 0xFFFE)
ctrs = st.integers(0, MAX_CTR)
site_ids = st.integers(0, 0xFFFFFFFF)
site_keys = st.binary(min_size=32, max_size=32)


def _value(field: tuple) -> st.SearchStrategy[int]:
    name, kind, enum, _flags = field
    if enum is not None:
        return st.sampled_from(sorted(enum))
    _size, low, high = KINDS[kind]
    return st.integers(low, high)


BARE = [m for m in MESSAGES if m.type_id != ENVELOPE_TYPE]  # an envelope carries one of these


@st.composite
def messages(draw: st.DrawFn) -> tuple[int, int, dict[str, int]]:
    message = draw(st.sampled_from(BARE))
    fields = {f[0]: draw(_value(f)) for f in message.fields}
    return message.type_id, message.direction, fields


@st.composite
def sealed(draw: st.DrawFn) -> dict:
    type_id, direction, fields = draw(messages())
    site_key, site_id = draw(site_keys), draw(site_ids)
    node_id, ctr = draw(node_ids), draw(ctrs)
    ack_req, encrypted = draw(st.booleans()), draw(st.booleans())
    key = NodeKey.for_node(site_key, node_id)
    packet = seal_packet(key, site_id, type_id, node_id, ctr, encode_body(type_id, fields), ack_req, encrypted)
    return dict(
        key=key,
        site_id=site_id,
        type_id=type_id,
        direction=direction,
        fields=fields,
        node_id=node_id,
        ctr=ctr,
        ack_req=ack_req,
        encrypted=encrypted,
        packet=packet,
    )


@given(sealed())
def test_struct_encoded_packet_decodes_with_the_construct_schema(m: dict) -> None:
    parsed = schema.parse_packet(m["packet"])
    assert (parsed["type_id"], parsed["node_id"], parsed["ctr"], parsed["ack_req"]) == (
        m["type_id"],
        m["node_id"],
        m["ctr"],
        m["ack_req"],
    )
    body = parsed["body"]
    if m["encrypted"]:
        body = apply_ctr(m["key"], m["site_id"], m["direction"], m["node_id"], m["ctr"], body)
    assert schema.parse_body(m["type_id"], body) == m["fields"]


@given(messages(), site_keys, site_ids, node_ids, ctrs, st.booleans(), st.booleans())
def test_construct_built_packet_decodes_with_the_struct_codec(
    message: tuple, site_key: bytes, site_id: int, node_id: int, ctr: int, ack_req: bool, encrypted: bool
) -> None:
    type_id, direction, fields = message
    key = NodeKey.for_node(site_key, node_id)
    body = schema.build_body(type_id, fields)
    assert body == encode_body(type_id, fields)
    if encrypted:
        body = apply_ctr(key, site_id, direction, node_id, ctr, body)
    signed = schema.build_header(type_id, node_id, ctr, ack_req) + body
    packet = signed + compute_tag(key, site_id, direction, signed)
    opened = open_packet(key, site_id, packet, direction, None, encrypted)
    assert (opened.type_id, opened.node_id, opened.ctr, opened.ack_req, opened.fields) == (
        type_id,
        node_id,
        ctr,
        ack_req,
        fields,
    )


@given(sealed(), st.data())
def test_a_single_flipped_bit_anywhere_in_a_serial_frame_is_rejected_as_crc(m: dict, data: st.DataObject) -> None:
    frame = bytearray(encode_frame(m["packet"]))
    bit = data.draw(st.integers(0, len(frame) * 8 - 1))
    frame[bit // 8] ^= 1 << (bit % 8)
    try:
        decode_frame(bytes(frame))
    except FrameRejected as exc:
        assert exc.kind == "crc"
    else:
        raise AssertionError("flipped bit %d passed the CRC" % bit)


@given(sealed(), st.data())
def test_a_single_flipped_bit_in_a_packet_with_its_crc_recomputed_is_rejected_as_tag(
    m: dict, data: st.DataObject
) -> None:
    packet = bytearray(m["packet"])
    bit = data.draw(st.integers(0, len(packet) * 8 - 1))
    packet[bit // 8] ^= 1 << (bit % 8)
    received = decode_frame(encode_frame(bytes(packet)))  # the CRC is good again
    try:
        open_packet(m["key"], m["site_id"], received, m["direction"], None, m["encrypted"])
    except FrameRejected as exc:
        assert exc.kind == "tag"
    else:
        raise AssertionError("flipped bit %d passed the tag" % bit)


@given(st.binary(max_size=700))
def test_pure_python_cobs_gives_the_same_bytes_as_the_c_package(data: bytes) -> None:
    encoded = _cobs_encode_py(data)
    assert encoded == cobs_c.encode(data)
    assert _cobs_decode_py(encoded) == data


_garbage = st.binary(min_size=1, max_size=2 * MAX_FRAME)


@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=300)
@given(
    st.lists(st.one_of(st.tuples(st.just("frame"), sealed()), st.tuples(st.just("garbage"), _garbage)), max_size=12),
    st.lists(st.integers(1, 64), min_size=1, max_size=20),
)
def test_deframer_returns_every_frame_not_overlapped_by_garbage_and_never_raises(
    segments: list, chunk_sizes: list[int]
) -> None:
    stream = bytearray()
    expected = []
    for kind, item in segments:
        if kind == "frame":
            # Recoverable exactly when the frame starts right after a delimiter (or at the
            # start): garbage that runs into it without a 0x00 corrupts it.
            if not stream or stream[-1] == 0:
                expected.append(item["packet"])
            stream += encode_frame(item["packet"])
        else:
            stream += item
    deframer = Deframer()
    got = []
    position = 0
    i = 0
    while position < len(stream):
        size = chunk_sizes[i % len(chunk_sizes)]
        deframer.feed(bytes(stream[position : position + size]))
        position += size
        i += 1
        while (packet := deframer.next_packet()) is not None:
            got.append(packet)
        assert len(deframer._buf) <= MAX_FRAME
    assert got == expected


@given(st.binary(max_size=300), site_keys, st.integers(0, 1))
def test_arbitrary_bytes_are_rejected_cleanly_or_accepted_never_crash(
    data: bytes, site_key: bytes, direction: int
) -> None:
    key = NodeKey.for_node(site_key, 1)
    for attempt in (lambda: decode_frame(data), lambda: open_packet(key, 0, data, direction)):
        try:
            attempt()
        except FrameRejected:
            pass


@given(st.sampled_from(ENVELOPED), st.data(), site_keys, node_ids, ctrs, st.booleans(), st.booleans())
def test_any_uplink_in_an_envelope_opens_into_itself_with_the_boot_and_clock(
    type_id: int, data: st.DataObject, site_key: bytes, node_id: int, ctr: int, ack_req: bool, padded: bool
) -> None:
    fields = {f[0]: data.draw(_value(f)) for f in BY_ID[type_id].fields}
    boot, sent_ds = data.draw(st.integers(0, 0xFF)), data.draw(st.integers(0, 0xFFFFFFFF))
    key = NodeKey.for_node(site_key, node_id)
    body = wrap(type_id, encode_body(type_id, fields), ack_req, boot, sent_ds, padded)
    packet = seal_packet(key, 1, ENVELOPE_TYPE, node_id, ctr, body)
    assert packet[0] & 1 == 0  # the outer ack_req says nothing
    opened = open_packet(key, 1, packet)
    assert (opened.type_id, opened.ack_req, opened.fields) == (type_id, ack_req, fields)
    assert (opened.boot, opened.sent_ds) == (boot, sent_ds)
