"""LoRa airtime and the EU868 duty-cycle budget, in integers, for the node.

EU868's 868.0-868.6 MHz sub-band allows 1 % duty cycle: 36 s of airtime in any hour. The node
keeps its own account and holds back a transmission that would overspend. Alarms are never
sent when the budget is gone; they wait in the delivery queue until there is budget again.
The account is kept in 60 one-minute buckets. That uses fixed memory and allocates nothing,
and it errs on the strict side: airtime is forgotten only when its whole minute has left
the hour.

`now_ms` must be a monotonic millisecond count that does not wrap. MicroPython's `ticks_ms`
wraps after 2^30 ms, about 12.4 days, so the HAL must extend it. On a 32-bit board a count
above 2^30 is a heap-allocated integer, so the HAL should pass time in a way that keeps
this allocation-free over years of uptime, for example minutes since boot plus the
millisecond within the minute.
"""

from array import array

WINDOW_MS = 3600000
BUCKETS = 60
BUCKET_MS = WINDOW_MS // BUCKETS


def time_on_air_us(payload_bytes, sf, bw_hz=125000, coding_rate=1, preamble=8, explicit_header=True, crc=True):
    """Microseconds on air of one LoRa packet (Semtech SX1276 datasheet 4.1.1.7), integers only.

    Low-data-rate optimisation is on for symbols of 16 ms or more (SF11/SF12 at 125 kHz).
    """
    symbol_us = (1 << sf) * 1000000 // bw_hz
    de = 1 if symbol_us >= 16000 else 0
    ih = 0 if explicit_header else 1
    numerator = 8 * payload_bytes - 4 * sf + 28 + (16 if crc else 0) - 20 * ih
    denominator = 4 * (sf - 2 * de)
    blocks = -(-numerator // denominator) if numerator > 0 else 0  # ceiling division
    payload_symbols = 8 + blocks * (coding_rate + 4)
    # Preamble is (preamble + 4.25) symbols: keep it in quarter symbols to stay in integers.
    return ((4 * preamble + 17) * symbol_us) // 4 + payload_symbols * symbol_us


class DutyCycleBudget:
    """Airtime spent in the last hour against a limit (per mille of the hour)."""

    def __init__(self, per_mille=10):
        self.limit_ms = WINDOW_MS * per_mille // 1000
        self._spent = array("I", [0] * BUCKETS)  # milliseconds per minute of the hour
        self._minute = None  # absolute minute number of the newest bucket

    def _advance(self, now_ms):
        """Clear the buckets of minutes that left the hour; returns the current minute."""
        minute = now_ms // BUCKET_MS
        last = self._minute
        if last is None or minute <= last:
            if last is None:
                self._minute = minute
            return self._minute
        for step in range(1, min(minute - last, BUCKETS) + 1):
            self._spent[(last + step) % BUCKETS] = 0
        self._minute = minute
        return minute

    def spent_ms(self, now_ms):
        self._advance(now_ms)
        total = 0
        for value in self._spent:
            total += value
        return total

    def allows(self, airtime_ms, now_ms, keep_ms=0):
        """Whether a transmission of `airtime_ms` now stays within the budget, with `keep_ms`
        of it still left over afterwards (what low-priority traffic leaves for alarms)."""
        return self.spent_ms(now_ms) + airtime_ms + keep_ms <= self.limit_ms

    def record(self, airtime_ms, now_ms):
        """A transmission of `airtime_ms` went out now."""
        minute = self._advance(now_ms)
        self._spent[minute % BUCKETS] += airtime_ms
