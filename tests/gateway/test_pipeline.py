"""The sans-I/O receive pipeline, fed plain bytes and a clock (no sockets, no awaits)."""

from gateway.ingest.pipeline import Frame, FramePipeline, Keyring, Reception, Rejected, SecurityFinding
from protocol.framing import encode_frame
from tests.gateway.harness import SITE_ID, SITE_KEY, SimNode


def pipeline(**kwargs: object) -> FramePipeline:
    return FramePipeline(Keyring(SITE_KEY, {1, 2, 3}), SITE_ID, **kwargs)  # type: ignore[arg-type]


def heard(transport: str, at: float, rssi: float | None = None) -> Reception:
    return Reception(transport, at, rssi_dbm=rssi)


def finding_kinds(p: FramePipeline, packet: bytes, at: float) -> list[str]:
    return [o.kind for o in p.feed_packet(packet, heard("tty", at)) if isinstance(o, SecurityFinding)]


def test_stream_bytes_in_any_chunks_give_verified_frames() -> None:
    p = pipeline()
    node = SimNode(1)
    stream = node.fence() + node.heartbeat() + b"\x13\x37garbage\x00" + node.fence()
    outcomes = []
    for i in range(0, len(stream), 7):
        outcomes += p.feed_stream(stream[i : i + 7], heard("tty", 100.0))
    frames = [o for o in outcomes if isinstance(o, Frame)]
    assert [f.packet.name for f in frames] == ["FENCE", "HEARTBEAT", "FENCE"]
    assert p.counters["tty"]["frames_ok"] == 3 and p.counters["tty"]["bad_crc"] == 1


def test_replay_is_rejected_only_after_the_tag_verifies_and_last_is_stored_only_then() -> None:
    p = pipeline(last_ctr={1: 10})
    node = SimNode(1, ctr=5)
    old = node.fence_packet()
    out = p.feed_packet(old, heard("tty", 1.0))
    assert isinstance(out[0], Rejected) and out[0].kind == "replay"
    forged = SimNode(1, site_key=bytes(32), ctr=500).fence_packet()
    p.feed_packet(forged, heard("tty", 2.0))
    assert p.last_ctr[1] == 10  # a forged frame with a high counter must not lock the node out
    node.ctr = 11
    assert isinstance(p.feed_packet(node.fence_packet(), heard("tty", 3.0))[0], Frame)
    assert p.last_ctr[1] == 11


def test_same_frame_from_two_receivers_within_the_window_is_one_frame_with_both_receptions() -> None:
    p = pipeline(dedup_window_s=0.2, hold_transports=frozenset({"gw-a", "gw-b"}))
    packet = SimNode(2).fence_packet()
    assert p.feed_packet(packet, heard("gw-a", 10.00, -100)) == []
    assert p.feed_packet(packet, heard("gw-b", 10.15, -80)) == []
    assert p.poll(10.19) == []
    (frame,) = p.poll(10.21)
    assert isinstance(frame, Frame)
    assert [(r.transport, r.rssi_dbm) for r in frame.receptions] == [("gw-a", -100), ("gw-b", -80)]


def test_same_frame_after_the_window_or_on_the_same_transport_is_a_replay() -> None:
    p = pipeline(dedup_window_s=0.2)
    packet = SimNode(2).fence_packet()
    assert isinstance(p.feed_packet(packet, heard("a", 10.0))[0], Frame)
    assert p.feed_packet(packet, heard("a", 10.05))[0].kind == "replay"  # type: ignore[union-attr]
    assert p.feed_packet(packet, heard("b", 10.5))[0].kind == "replay"  # type: ignore[union-attr]
    assert p.counters["b"]["replay"] == 1


def test_unknown_node_is_rejected_before_any_crypto_and_reported_once_per_interval() -> None:
    p = pipeline(report_interval_s=60)
    findings = []
    for i in range(50):
        out = p.feed_packet(SimNode(1000 + i).fence_packet(), heard("radio", 5.0 + i * 0.1))
        findings += [o for o in out if isinstance(o, SecurityFinding)]
    assert p.counters["radio"]["unknown_node"] == 50
    assert len(findings) == 1 and findings[0].kind == "unknown_node"
    later = p.feed_packet(SimNode(4000).fence_packet(), heard("radio", 70.0))
    (finding,) = [o for o in later if isinstance(o, SecurityFinding)]
    assert finding.count == 50  # the 49 not reported yet, and this one


def test_bad_tags_for_one_node_raise_substitution_after_the_configured_count() -> None:
    p = pipeline(bad_tag_alarm_count=3, bad_tag_alarm_window_s=60)
    forger = SimNode(3, site_key=bytes(32))
    kinds = []
    for i in range(3):
        kinds += finding_kinds(p, forger.fence_packet(), float(i))
    assert kinds == ["bad_tag", "substitution"]


def test_bad_tags_spread_over_more_than_the_window_do_not_alarm() -> None:
    p = pipeline(bad_tag_alarm_count=3, bad_tag_alarm_window_s=10)
    forger = SimNode(3, site_key=bytes(32))
    kinds = []
    for i in range(6):
        kinds += finding_kinds(p, forger.fence_packet(), i * 6.0)
    assert "substitution" not in kinds


def test_authentic_frame_with_a_bad_body_is_rejected_but_spends_its_counter() -> None:
    p = pipeline()
    node = SimNode(1)
    from protocol.packet import seal_packet

    bad = seal_packet(node.key, SITE_ID, 3, 1, 77, b"\x00" * 5)  # FENCE needs 12 bytes
    (out,) = p.feed_packet(bad, heard("tty", 1.0))
    assert isinstance(out, Rejected) and out.kind == "body" and p.last_ctr[1] == 77
    assert p.counters["tty"]["decode_error"] == 1


def test_frames_from_another_site_fail_their_tag() -> None:
    p = pipeline()
    other_site = SimNode(1, site_id=SITE_ID + 1)
    out = p.feed_stream(encode_frame(other_site.fence_packet()), heard("tty", 1.0))
    assert [o.kind for o in out if isinstance(o, Rejected)] == ["bad_tag"]


def test_a_frame_cut_by_a_lost_link_is_not_joined_to_what_comes_after_reconnecting() -> None:
    p = pipeline()
    frame = SimNode(1).fence()
    p.feed_stream(frame[:10], heard("tty", 1.0))
    p.reset_stream("tty")  # the port went away and came back
    out = p.feed_stream(SimNode(2).fence(), heard("tty", 2.0))
    assert [o.packet.node_id for o in out if isinstance(o, Frame)] == [2]
    assert p.counters["tty"]["bad_crc"] == 0
