"""The simulated LoRa channel: range follows path loss, the SF's SNR floor decides what is
heard, overlapping packets collide unless one is 6 dB stronger or only the preamble's start
is hit, a jammer blinds the receiver, and airtime is accounted per node."""

import pytest

from simulators.radio import Jammer, RadioChannel

PACKET = bytes(24)  # a FENCE event: 370.7 ms at SF10


def channel(**positions: tuple[float, float]) -> RadioChannel:
    return RadioChannel(positions, shadowing_db=0.0)


def test_a_node_near_the_gateway_is_heard_with_sensible_rssi_and_snr() -> None:
    ch = channel(gw=(0, 0), n1=(300, 0))
    ch.transmit("n1", PACKET, 0.0)
    [rx] = ch.deliver(["gw"], 1.0)
    # 40 + 27 log10(300) = 106.9 dB: 14 dBm - 106.9 = -92.9 dBm; noise -117 dBm
    assert rx.rssi_dbm == pytest.approx(-92.9, abs=0.1) and rx.snr_db == pytest.approx(24.1, abs=0.1)
    assert rx.at_s == pytest.approx(0.3707, abs=1e-3)


def test_range_ends_at_the_spreading_factors_snr_floor() -> None:
    # At SF7 the floor is -7.5 dB: about 40 + 27 log10(d) = 14 + 117 + 7.5 -> d = 4.2 km
    ch = channel(gw=(0, 0), near=(3500, 0), far=(5500, 0))
    ch.transmit("near", PACKET, 0.0, sf=7)
    ch.transmit("far", PACKET, 1.0, sf=7)
    heard = [rx.sender for rx in ch.deliver(["gw"], 5.0)]
    assert heard == ["near"] and ch.stats.below_floor == 1
    ch.transmit("far", PACKET, 6.0, sf=12)  # SF12 reaches it (-20 dB floor)
    assert [rx.sender for rx in ch.deliver(["gw"], 10.0)] == ["far"]


def test_overlapping_packets_of_equal_strength_are_both_lost() -> None:
    ch = channel(gw=(0, 0), a=(200, 0), b=(0, 200))
    ch.transmit("a", PACKET, 0.0)
    ch.transmit("b", PACKET, 0.1)
    assert ch.deliver(["gw"], 2.0) == [] and ch.stats.collided == 2


def test_the_stronger_packet_survives_a_collision_by_six_db_capture() -> None:
    ch = channel(gw=(0, 0), near=(50, 0), far=(600, 0))
    ch.transmit("far", PACKET, 0.0)
    ch.transmit("near", PACKET, 0.1)
    assert [rx.sender for rx in ch.deliver(["gw"], 2.0)] == ["near"]


def test_different_spreading_factors_or_channels_do_not_collide() -> None:
    ch = channel(gw=(0, 0), a=(200, 0), b=(0, 200), c=(100, 100))
    ch.transmit("a", PACKET, 0.0, sf=10)
    ch.transmit("b", PACKET, 0.1, sf=9)
    ch.transmit("c", PACKET, 0.1, sf=10, channel_hz=868_300_000)
    assert sorted(rx.sender for rx in ch.deliver(["gw"], 2.0)) == ["a", "b", "c"]


def test_an_overlap_within_the_first_preamble_symbols_is_survived() -> None:
    ch = channel(gw=(0, 0), a=(200, 0), b=(0, 200))
    first = ch.transmit("a", PACKET, 0.0)
    symbol = first.symbol_s()
    ch.transmit("b", PACKET, first.end_s - 2 * symbol)  # b's preamble start overlaps a's end
    heard = [rx.sender for rx in ch.deliver(["gw"], 5.0)]
    assert heard == ["b"]  # a lost its tail; b lost only 2 of its 3 grace symbols


def test_a_jammer_blinds_the_receiver_for_its_duration_only() -> None:
    ch = channel(gw=(0, 0), n1=(300, 0))
    ch.jammers.append(Jammer(10.0, 70.0, None, 45.0))
    ch.transmit("n1", PACKET, 20.0)
    ch.transmit("n1", PACKET, 80.0)
    heard = [rx.at_s for rx in ch.deliver(["gw"], 100.0)]
    assert len(heard) == 1 and heard[0] > 80


def test_airtime_is_accounted_per_node_for_the_duty_cycle() -> None:
    ch = channel(gw=(0, 0), n1=(300, 0))
    for i in range(97):
        ch.transmit("n1", PACKET, i * 10.0)
    ch.deliver(["gw"], 2000.0)
    assert ch.duty_cycle("n1", 1.0) == pytest.approx(97 * 0.3707 / 3600, rel=1e-3)  # just under 1 %


def test_shadowing_is_drawn_once_per_link_and_reproducible() -> None:
    a = RadioChannel({"gw": (0, 0), "n1": (300, 0)}, seed=5)
    b = RadioChannel({"gw": (0, 0), "n1": (300, 0)}, seed=5)
    assert a.path_loss_db("n1", "gw") == a.path_loss_db("gw", "n1") == b.path_loss_db("gw", "n1")
