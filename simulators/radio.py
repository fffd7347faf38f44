"""The simulated LoRa channel: who hears whom, at what RSSI and SNR, and who is lost.

- Path loss, log-distance with log-normal shadowing: PL(d) = PL(d0) + 10 n log10(d / d0)
  + X, X ~ N(0, sigma) drawn once per link (a fence post does not move), d0 = 1 m.
- Noise floor -174 dBm/Hz + 10 log10(BW) + the receiver's noise figure (-117 dBm at 125 kHz
  with NF 6 dB); SNR = RSSI - noise. A jammer raises the noise for its duration.
- A packet is demodulated only above the SF's SNR floor (FIELD.md: -7.5 dB at SF7 to -20 dB
  at SF12).
- Collisions: two packets overlapping in time on the same channel and SF. At the receiver the
  stronger survives if it is at least 6 dB above the other (the capture effect), or if the
  overlap touches only the first 3 of its 8 preamble symbols; otherwise both are lost.
  Different SFs are treated as orthogonal.
- Every node's transmissions are charged to an EU868 duty-cycle account (1 % of the hour);
  the node model decides what to do when it is spent (the firmware holds back).

Sans-I/O: `transmit` records a packet on the air; `deliver(until)` returns what each receiver
decoded among transmissions that ended by then.
"""

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from simulators.airtime import time_on_air_ms

SNR_FLOOR_DB = {7: -7.5, 8: -10.0, 9: -12.5, 10: -15.0, 11: -17.5, 12: -20.0}
CAPTURE_DB = 6.0
PREAMBLE_SYMBOLS = 8
PREAMBLE_GRACE = 3  # an overlap within the first 3 preamble symbols does not spoil a packet


@dataclass
class Transmission:
    sender: str
    packet: bytes
    start_s: float
    sf: int
    channel_hz: int
    power_dbm: float
    airtime_s: float
    delivered: bool = False

    @property
    def end_s(self) -> float:
        return self.start_s + self.airtime_s

    def symbol_s(self, bw_hz: int = 125_000) -> float:
        return (1 << self.sf) / bw_hz


@dataclass
class Reception:
    receiver: str
    sender: str
    packet: bytes
    at_s: float  # end of the packet
    rssi_dbm: float
    snr_db: float
    sf: int
    channel_hz: int


@dataclass
class Jammer:
    start_s: float
    end_s: float
    channel_hz: int | None  # None: every channel
    noise_rise_db: float


@dataclass
class RadioStats:
    sent: int = 0
    received: int = 0
    below_floor: int = 0
    collided: int = 0
    airtime_s: dict[str, float] = field(default_factory=dict)


class RadioChannel:
    def __init__(
        self,
        positions: dict[str, tuple[float, float]],
        seed: int = 1,
        path_loss_exponent: float = 2.7,
        pl_d0_db: float = 40.0,
        shadowing_db: float = 4.0,
        noise_figure_db: float = 6.0,
        bw_hz: int = 125_000,
    ) -> None:
        self.positions = dict(positions)
        self.rng = random.Random(seed)
        self.n = path_loss_exponent
        self.pl_d0_db = pl_d0_db
        self.shadowing_db = shadowing_db
        self.bw_hz = bw_hz
        self.noise_dbm = -174.0 + 10 * math.log10(bw_hz) + noise_figure_db
        self._shadow: dict[tuple[str, str], float] = {}
        self.on_air: list[Transmission] = []
        self.jammers: list[Jammer] = []
        self.stats = RadioStats()

    def path_loss_db(self, a: str, b: str) -> float:
        (x0, y0), (x1, y1) = self.positions[a], self.positions[b]
        d = max(1.0, math.hypot(x1 - x0, y1 - y0))
        key = (a, b) if a < b else (b, a)
        if key not in self._shadow:  # one draw per link: links are reciprocal and stable
            self._shadow[key] = self.rng.gauss(0.0, self.shadowing_db)
        return self.pl_d0_db + 10 * self.n * math.log10(d) + self._shadow[key]

    def noise_at(self, t: float, channel_hz: int) -> float:
        """Noise floor in dBm at time t on a channel, jammers included (powers add)."""
        power_mw = 10 ** (self.noise_dbm / 10)
        for j in self.jammers:
            if j.start_s <= t < j.end_s and (j.channel_hz is None or j.channel_hz == channel_hz):
                power_mw += 10 ** ((self.noise_dbm + j.noise_rise_db) / 10)
        return 10 * math.log10(power_mw)

    def transmit(
        self,
        sender: str,
        packet: bytes,
        start_s: float,
        sf: int = 10,
        channel_hz: int = 868_100_000,
        power_dbm: float = 14.0,
    ) -> Transmission:
        airtime = time_on_air_ms(len(packet), sf, self.bw_hz) / 1000
        tx = Transmission(sender, packet, start_s, sf, channel_hz, power_dbm, airtime)
        self.on_air.append(tx)
        self.stats.sent += 1
        self.stats.airtime_s[sender] = self.stats.airtime_s.get(sender, 0.0) + airtime
        return tx

    def duty_cycle(self, sender: str, hours: float) -> float:
        """Fraction of `hours` the sender spent transmitting."""
        return self.stats.airtime_s.get(sender, 0.0) / (hours * 3600)

    def _survives(self, tx: Transmission, rssi: float, receiver: str) -> bool:
        for other in self.on_air:
            if other is tx or other.sf != tx.sf or other.channel_hz != tx.channel_hz or other.sender == receiver:
                continue
            if other.start_s >= tx.end_s or other.end_s <= tx.start_s:
                continue  # no overlap
            other_rssi = other.power_dbm - self.path_loss_db(other.sender, receiver)
            if rssi - other_rssi >= CAPTURE_DB:
                continue  # captured: the stronger one is demodulated
            grace_end = tx.start_s + PREAMBLE_GRACE * tx.symbol_s(self.bw_hz)
            if other.end_s <= grace_end:
                continue  # only the start of our preamble was hit
            return False
        return True

    def deliver(self, receivers: list[str] | Callable[[Transmission], list[str]], until_s: float) -> list[Reception]:
        """Receptions of every transmission that ended by `until_s`, then forgets those
        transmissions once nothing still on the air can overlap them. `receivers` lists who
        listens, or says for each transmission who listens for it (a downlink is for its node)."""
        out = []
        finished = [tx for tx in self.on_air if not tx.delivered and tx.end_s <= until_s]
        for tx in finished:
            for receiver in receivers(tx) if callable(receivers) else receivers:
                if receiver == tx.sender:
                    continue
                rssi = tx.power_dbm - self.path_loss_db(tx.sender, receiver)
                snr = rssi - self.noise_at(tx.start_s + tx.airtime_s / 2, tx.channel_hz)
                if snr < SNR_FLOOR_DB[tx.sf]:
                    self.stats.below_floor += 1
                    continue
                if not self._survives(tx, rssi, receiver):
                    self.stats.collided += 1
                    continue
                self.stats.received += 1
                out.append(
                    Reception(
                        receiver, tx.sender, tx.packet, tx.end_s, round(rssi, 1), round(snr, 1), tx.sf, tx.channel_hz
                    )
                )
        for tx in finished:
            tx.delivered = True
        # Keep what could still overlap a packet that has not ended yet.
        longest = max((tx.airtime_s for tx in self.on_air), default=0.0)
        self.on_air = [tx for tx in self.on_air if not tx.delivered or tx.end_s > until_s - longest]
        return out
