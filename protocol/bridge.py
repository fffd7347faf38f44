"""The LoRa bridge envelope: a serial-attached radio and the gateway, over COBS frames.

A bridge is a board with a LoRa radio on a USB/UART line to the gateway. It wraps every
packet it hears with how it heard it, and transmits what the gateway asks. The envelope is
the content of an ordinary serial frame (`COBS(envelope || CRC32) || 00`); its first byte
has bits 7-6 = `10`, which no v1 packet has (`01`), so a bridge line and a node line can
never be confused.

    received (bridge -> gateway), 0xB1, 11 bytes then the packet:
      0  u8   0xB1
      1  i16  rssi_dbm        packet RSSI, dBm
      3  i8   snr_qdb         SNR in quarter dB (as SX127x/SX126x report it)
      4  u32  frequency_hz
      8  u8   sf              spreading factor 6..12
      9  u16  bw_khz          125, 250 or 500
      11 ...  the LoRa payload (a packet)

    transmit (gateway -> bridge), 0xB2, 9 bytes then the packet:
      0  u8   0xB2
      1  u32  frequency_hz
      5  u8   sf
      6  u16  bw_khz
      8  i8   power_dbm
      9  ...  the packet to send
"""

import struct

from .errors import BODY, TRUNCATED, TYPE, FrameRejected

RECEIVED = 0xB1
TRANSMIT = 0xB2
RECEIVED_SIZE = 11
TRANSMIT_SIZE = 9


def encode_received(packet: bytes, rssi_dbm: int, snr_qdb: int, frequency_hz: int, sf: int, bw_khz: int = 125) -> bytes:
    """What a bridge sends up for a packet it heard."""
    return struct.pack("<BhbIBH", RECEIVED, rssi_dbm, snr_qdb, frequency_hz, sf, bw_khz) + packet


def decode_received(envelope: bytes) -> tuple[bytes, dict[str, float | int]]:
    """The packet in a received-envelope, and how it was heard (rssi_dbm, snr_db, frequency_hz, sf, bw_khz)."""
    if len(envelope) < RECEIVED_SIZE:
        raise FrameRejected(TRUNCATED, "bridge envelope of %d bytes" % len(envelope))
    if envelope[0] != RECEIVED:
        raise FrameRejected(TYPE, "bridge envelope type 0x%02x, expected 0x%02x" % (envelope[0], RECEIVED))
    _, rssi, snr_qdb, frequency, sf, bw = struct.unpack_from("<BhbIBH", envelope, 0)
    if not 6 <= sf <= 12 or bw not in (125, 250, 500):
        raise FrameRejected(BODY, "bridge envelope with SF%d BW%d" % (sf, bw))
    meta = {"rssi_dbm": rssi, "snr_db": snr_qdb / 4, "frequency_hz": frequency, "sf": sf, "bw_khz": bw}
    return bytes(envelope[RECEIVED_SIZE:]), meta


def encode_transmit(packet: bytes, frequency_hz: int, sf: int, bw_khz: int = 125, power_dbm: int = 14) -> bytes:
    """What the gateway sends down for the bridge to transmit."""
    return struct.pack("<BIBHb", TRANSMIT, frequency_hz, sf, bw_khz, power_dbm) + packet


def decode_transmit(envelope: bytes) -> tuple[bytes, dict[str, int]]:
    """The packet in a transmit-envelope and its radio settings (the bridge firmware uses this)."""
    if len(envelope) < TRANSMIT_SIZE or envelope[0] != TRANSMIT:
        raise FrameRejected(TYPE, "not a transmit envelope")
    _, frequency, sf, bw, power = struct.unpack_from("<BIBHb", envelope, 0)
    return bytes(envelope[TRANSMIT_SIZE:]), {"frequency_hz": frequency, "sf": sf, "bw_khz": bw, "power_dbm": power}
