"""The golden vectors hold on this interpreter (CPython and MicroPython run this same file)."""

from protocol.body import encode_body
from protocol.envelope import wrap
from protocol.errors import KINDS
from protocol.framing import decode_frame, encode_frame
from protocol.keys import NodeKey
from protocol.messages import BY_ID, MESSAGES
from protocol.packet import seal_packet
from tests.protocol.support import load_vectors, receive, rejection

FILES = ("frames.json", "frames_plain.json")


def _docs():
    for name in FILES:
        yield load_vectors(name)


def test_both_files_exist_one_encrypted_one_plain():
    assert [doc["encrypted"] for doc in _docs()] == [True, False]


def test_every_message_type_has_a_valid_vector_in_each_file():
    for doc in _docs():
        assert sorted(set(e["type"] for e in doc["valid"])) == sorted(m.type_id for m in MESSAGES)
        assert set(e["dir"] for e in doc["valid"]) == {"up", "down"}


def test_every_error_kind_has_an_invalid_vector_in_each_file():
    expected = set(k for k in KINDS if k != "oversize")  # oversize is the deframer's own
    for doc in _docs():
        assert set(e["error"] for e in doc["invalid"]) == expected


def test_valid_serial_frames_decode_to_their_fields():
    for doc in _docs():
        for entry in doc["valid"]:
            packet = receive(doc, entry)
            inner = entry.get("inner")
            assert packet.fields == entry["fields"], entry["name"]
            assert packet.node_id == entry["node_id"], entry["name"]
            assert packet.ctr == entry["ctr"], entry["name"]
            if inner is None:
                assert packet.type_id == entry["type"], entry["name"]
                assert packet.ack_req == entry["ack_req"], entry["name"]
                assert packet.body == bytes.fromhex(entry["body_plain"]), entry["name"]
                assert packet.sent_ds is None and packet.boot is None, entry["name"]
            else:  # an envelope opens into the packet it carries, with the node's boot and clock
                assert packet.type_id == inner["type"], entry["name"]
                assert packet.ack_req == inner["ack_req"], entry["name"]
                assert (packet.boot, packet.sent_ds) == (inner["boot"], inner["sent_ds"]), entry["name"]
                assert packet.body == encode_body(inner["type"], entry["fields"]), entry["name"]


def test_padded_envelopes_have_one_length_whatever_they_carry():
    for doc in _docs():
        lengths = set()
        for entry in doc["valid"]:
            if entry.get("inner", {}).get("padded"):
                lengths.add(len(bytes.fromhex(entry["packet"])))
        assert len(lengths) == 1, lengths


def test_valid_packets_decode_without_serial_framing():
    for doc in _docs():
        for entry in doc["valid"]:
            raw = {"packet": entry["packet"], "dir": entry["dir"]}
            assert receive(doc, raw).fields == entry["fields"], entry["name"]
            assert decode_frame(bytes.fromhex(entry["serial"])) == bytes.fromhex(entry["packet"])


def test_valid_vectors_encode_to_exactly_their_bytes():
    for doc in _docs():
        site_key = bytes.fromhex(doc["site_key"])
        for entry in doc["valid"]:
            inner = entry.get("inner")
            if inner is None:
                body = encode_body(entry["type"], entry["fields"])
            else:
                carried = encode_body(inner["type"], entry["fields"])
                body = wrap(inner["type"], carried, inner["ack_req"], inner["boot"], inner["sent_ds"], inner["padded"])
            assert body == bytes.fromhex(entry["body_plain"]), entry["name"]
            key = NodeKey.for_node(site_key, entry["node_id"])
            packet = seal_packet(
                key,
                doc["site_id"],
                entry["type"],
                entry["node_id"],
                entry["ctr"],
                body,
                entry["ack_req"],
                doc["encrypted"],
            )
            assert packet.hex() == entry["packet"], entry["name"]
            assert encode_frame(packet).hex() == entry["serial"], entry["name"]


def test_plain_site_sends_the_body_in_clear_and_encrypted_site_does_not():
    for doc in _docs():
        for entry in doc["valid"]:
            sent_body = bytes.fromhex(entry["packet"])[6:-6]
            plain = sent_body == bytes.fromhex(entry["body_plain"])
            assert plain != doc["encrypted"] or len(sent_body) == 0, entry["name"]


def test_invalid_vectors_are_rejected_with_their_error_kind():
    for doc in _docs():
        for entry in doc["invalid"]:
            assert rejection(receive, doc, entry) == entry["error"], entry["name"]


def test_replay_vectors_are_accepted_by_a_receiver_that_has_not_seen_them():
    for doc in _docs():
        for entry in doc["invalid"]:
            if entry["error"] == "replay":
                fresh = {k: v for k, v in entry.items() if k != "last_ctr"}
                assert receive(doc, fresh).ctr <= entry["last_ctr"], entry["name"]


def test_every_event_frame_fits_lora_sf12_in_eu868():
    for doc in _docs():
        for entry in doc["valid"]:
            if BY_ID[entry.get("inner", entry)["type"]].is_event:
                assert len(bytes.fromhex(entry["packet"])) <= 51, entry["name"]
