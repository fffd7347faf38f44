"""LoRa time on air, by the Semtech formula (SX1276 datasheet 4.1.1.7, AN1200.13).

The simulators' radio channel and the benchmarks use it to turn a packet size into
airtime, and airtime into an EU868 duty-cycle budget (1 % = 36 s per hour).
"""

import math


def time_on_air_ms(
    payload_bytes: int,
    sf: int,
    bw_hz: int = 125_000,
    coding_rate: int = 1,
    preamble_symbols: int = 8,
    explicit_header: bool = True,
    crc: bool = True,
    low_data_rate: bool | None = None,
) -> float:
    """Milliseconds on air of one LoRa packet.

    `coding_rate` is 1..4 for 4/5..4/8. Low-data-rate optimisation defaults to on when a
    symbol lasts 16 ms or more (SF11 and SF12 at 125 kHz), as the radios require.
    """
    if not 6 <= sf <= 12:
        raise ValueError("spreading factor %d outside 6..12" % sf)
    symbol_ms = (1 << sf) / bw_hz * 1000.0
    if low_data_rate is None:
        low_data_rate = symbol_ms >= 16.0
    de = 1 if low_data_rate else 0
    ih = 0 if explicit_header else 1
    numerator = 8 * payload_bytes - 4 * sf + 28 + 16 * (1 if crc else 0) - 20 * ih
    payload_symbols = 8 + max(math.ceil(numerator / (4 * (sf - 2 * de))) * (coding_rate + 4), 0)
    return (preamble_symbols + 4.25) * symbol_ms + payload_symbols * symbol_ms


def duty_cycle_packets_per_hour(payload_bytes: int, sf: int, duty: float = 0.01) -> int:
    """How many such packets one transmitter may send per hour within `duty` (EU868 1 %)."""
    return int(3_600_000 * duty // time_on_air_ms(payload_bytes, sf))
