"""Only the site's own packet forwarders are heard: datagrams from another gateway EUI or
another source address are ignored and counted, so nobody on the network can redirect a
node's ACKs, report forged interference (a false jamming alarm) or grow the gateway's tables;
the downlink table stays bounded even with no allow-list at all. Datagrams are handed to the
transport as its socket would hand them."""

from gateway.config import SemtechUdpConfig
from gateway.ingest.pipeline import Reception
from gateway.ingest.semtech_udp import MAX_FORWARDERS, SemtechUdpTransport
from protocol import gwmp

OURS = bytes.fromhex("aa555a0000000001")
THEIRS = bytes.fromhex("0badc0de00000001")
SITE_NETWORK = ("10.8.0.5", 1700)
ELSEWHERE = ("10.9.9.9", 1700)


class Heard:
    """What the transport delivers to the daemon."""

    def __init__(self) -> None:
        self.packets: list[bytes] = []
        self.interference = 0

    def on_stream(self, data: bytes, reception: Reception) -> None: ...

    def on_packet(self, packet: bytes, reception: Reception) -> None:
        self.packets.append(packet)

    def on_transport_state(self, name: str, state: str, detail: str) -> None: ...

    def on_interference(self, name: str, at: float) -> None:
        self.interference += 1


def transport(**allow: tuple[str, ...]) -> tuple[SemtechUdpTransport, Heard]:
    heard = Heard()
    return SemtechUdpTransport(SemtechUdpConfig(name="conc", **allow), heard), heard


def uplink(eui: bytes, stat: int = 1) -> bytes:
    return gwmp.push_data(b"\x00\x01", eui, [gwmp.rxpk(b"\x47" * 24, freq=868.1, datr="SF7BW125", stat=stat)])


def test_only_the_listed_gateways_at_the_listed_addresses_are_heard() -> None:
    udp, heard = transport(allowed_gateways=(OURS.hex(),), allowed_sources=("10.8.0.0/24",))
    udp.datagram(uplink(OURS), SITE_NETWORK)
    udp.datagram(uplink(THEIRS), SITE_NETWORK)  # another EUI
    udp.datagram(uplink(OURS), ELSEWHERE)  # ours, spoofed from elsewhere
    udp.datagram(uplink(THEIRS, stat=-1), SITE_NETWORK)  # forged "interference"
    udp.datagram(gwmp.encode(gwmp.PULL_DATA, b"\x00\x02", OURS), ELSEWHERE)  # redirect our ACKs
    assert len(heard.packets) == 1 and heard.interference == 0
    assert udp.refused_datagrams == 4 and udp._pull_addr == {}
    udp.datagram(gwmp.encode(gwmp.PULL_DATA, b"\x00\x03", OURS), SITE_NETWORK)
    assert udp._pull_addr == {OURS: SITE_NETWORK}


def test_without_allow_lists_every_forwarder_is_heard_but_the_downlink_table_is_bounded() -> None:
    udp, heard = transport()
    udp.datagram(uplink(THEIRS), ELSEWHERE)
    assert len(heard.packets) == 1 and udp.refused_datagrams == 0
    for n in range(300_000 // 100):  # invented gateway EUIs, as the attack used 300,000 of them
        udp.datagram(gwmp.encode(gwmp.PULL_DATA, b"\x00\x04", n.to_bytes(8, "big")), ELSEWHERE)
    assert len(udp._pull_addr) == MAX_FORWARDERS
    assert udp.bad_datagrams == 3000 - MAX_FORWARDERS  # refused and counted, never stored


class Turned:
    def __init__(self) -> None:
        self.t = 1_800_000_000.0

    def now(self) -> float:
        return self.t


def test_the_forwarders_address_from_another_port_does_not_take_its_acks() -> None:
    # Before, the allow-list matched the address alone: a spoofer sending PULL_DATA with our
    # EUI from the forwarder's address and another port took the node's ACKs (issue 31, point 6).
    clock = Turned()
    heard = Heard()
    udp = SemtechUdpTransport(
        SemtechUdpConfig(name="conc", allowed_gateways=(OURS.hex(),), allowed_sources=("10.8.0.5:1700",)),
        heard,
        clock=clock,  # type: ignore[arg-type]
    )
    udp.datagram(gwmp.encode(gwmp.PULL_DATA, b"\x00\x01", OURS), ("10.8.0.5", 40000))  # not its port
    assert udp.refused_datagrams == 1 and udp._pull_addr == {}
    udp.datagram(gwmp.encode(gwmp.PULL_DATA, b"\x00\x02", OURS), SITE_NETWORK)
    assert udp._pull_addr == {OURS: SITE_NETWORK}


def test_a_second_address_claiming_a_live_forwarder_is_refused_until_the_first_goes_quiet() -> None:
    clock = Turned()
    udp = SemtechUdpTransport(SemtechUdpConfig(name="conc", allowed_sources=("10.8.0.0/24",)), Heard(), clock=clock)  # type: ignore[arg-type]
    udp.datagram(gwmp.encode(gwmp.PULL_DATA, b"\x00\x01", OURS), SITE_NETWORK)
    clock.t += 10
    udp.datagram(gwmp.encode(gwmp.PULL_DATA, b"\x00\x02", OURS), ("10.8.0.66", 1700))  # a spoofer on the LAN
    assert udp._pull_addr == {OURS: SITE_NETWORK} and udp.conflicting_pulls == 1
    clock.t += 60  # the forwarder restarted on a new port, its old address quiet since
    udp.datagram(gwmp.encode(gwmp.PULL_DATA, b"\x00\x03", OURS), ("10.8.0.5", 1701))
    assert udp._pull_addr == {OURS: ("10.8.0.5", 1701)}


def test_json_nested_thousands_deep_is_a_bad_datagram_not_a_traceback() -> None:
    udp, heard = transport()
    deep = b'{"rxpk":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    udp.datagram(gwmp.encode(gwmp.PUSH_DATA, b"\x00\x01", OURS) + deep, SITE_NETWORK)
    assert udp.bad_datagrams == 1 and heard.packets == []
