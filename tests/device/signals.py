"""Synthesized sensor signals for the detector specs, on CPython and MicroPython alike.

Deterministic (own xorshift generator, integer arithmetic), streamed block by block into the
caller's buffer, so a ten-minute signal never sits in a 64 KB heap. The models are simple
but physical in shape:

- fence (800 Hz, 3 axes, ADXL345 LSB of 3.9 mg): sensor noise; wind as low-passed noise whose
  strength grows with the square of the speed and swells in gusts; rain as many small drop
  impulses ringing the fabric; a climb as a few seconds of irregular hand and foot impulses
  ringing the fence at ~90 Hz; a cut as a handful of sharp snaps ringing at ~320 Hz; a knock
  as one impulse.
- audio (8 kHz, 16-bit): white or low-passed ambient noise plus sinusoids: a drone's
  blade-pass harmonic series, a generator's single hum, mains hum with its harmonics.
- impact (1 kHz, unsigned 16-bit ADC around mid-rail): noise plus a geophone thud per
  package, a series of thuds for someone climbing or walking.
"""

import math
from array import array

_M32 = 0xFFFFFFFF
_TABLE_BITS = 10
_SINE = array("h")
for _i in range(1 << _TABLE_BITS):  # appended one by one: a list of them would not fit in 64 KB
    _SINE.append(int(16384 * math.sin(2 * math.pi * _i / (1 << _TABLE_BITS))))


class Rng:
    def __init__(self, seed):
        self.state = ((seed + 1) * 2654435761) & _M32 or 1

    def bits(self):
        s = self.state
        s ^= (s << 13) & _M32
        s ^= s >> 17
        s ^= (s << 5) & _M32
        self.state = s
        return s

    def below(self, limit):
        return self.bits() % limit

    def gauss_q10(self):
        """About N(0, 1) in Q10 (sum of four bytes; sigma 148 -> 1024)."""
        b = self.bits()
        total = (b & 0xFF) + ((b >> 8) & 0xFF) + ((b >> 16) & 0xFF) + (b >> 24)
        return (total - 510) * 1024 // 148


class Resonator:
    """A ringing mode: impulses in, a decaying oscillation out (Q14 two-pole filter)."""

    def __init__(self, rate, freq_hz, tau_ms):
        r = math.exp(-1000.0 / (tau_ms * rate))
        self.c1 = int(2 * r * math.cos(2 * math.pi * freq_hz / rate) * 16384)
        self.c2 = int(r * r * 16384)
        self.y1 = 0
        self.y2 = 0

    def step(self, impulse):
        y = impulse + ((self.c1 * self.y1 - self.c2 * self.y2) >> 14)
        self.y2 = self.y1
        self.y1 = y
        return y


class _Signal:
    """Common parts: a clock in samples, a noise generator, scheduled impulses."""

    def __init__(self, rate, seed):
        self.rate = rate
        self.rng = Rng(seed)
        self.n = 0  # samples produced so far
        self.impulses = []  # (sample index, resonator, amplitude), sorted by index
        self._next = 0

    def schedule(self, t_s, resonator, amplitude):
        self.impulses.append((int(t_s * self.rate), resonator, amplitude))
        self.impulses.sort(key=lambda item: item[0])

    def _impulse_sum(self):
        # Every resonator steps every sample; impulses due now go into theirs.
        total = 0
        while self._next < len(self.impulses) and self.impulses[self._next][0] <= self.n:
            self.impulses[self._next][1].y1 += self.impulses[self._next][2]
            self._next += 1
        for resonator in self.resonators:
            total += resonator.step(0)
        return total


class FenceSignal(_Signal):
    """Three-axis fence vibration at 800 Hz as an ADXL345 in full resolution reports it."""

    RATE = 800

    def __init__(self, seed=1, wind_mps=0, rain_mmph=0, noise=3):
        _Signal.__init__(self, self.RATE, seed)
        self.wind_mps = wind_mps
        self.rain_mmph = rain_mmph
        self.noise = noise
        self._sway = 0
        self._climb = Resonator(self.RATE, 90, 60)
        self._cut = Resonator(self.RATE, 320, 6)
        self._drops = Resonator(self.RATE, 150, 5)
        self._flutter = Resonator(self.RATE, 35, 150)
        self.resonators = (self._climb, self._cut, self._drops, self._flutter)

    def climb(self, t_s, duration_s=8.0, strength=800):
        t = t_s
        while t < t_s + duration_s:
            self.schedule(t, self._climb, strength // 2 + self.rng.below(strength))
            t += 0.1 + self.rng.below(300) / 1000
        return self

    def cut(self, t_s, snaps=5, strength=3000):
        t = t_s
        for _ in range(snaps):
            self.schedule(t, self._cut, strength)
            t += 2.0 + self.rng.below(1000) / 1000
        return self

    def knock(self, t_s, strength=1500):
        self.schedule(t_s, self._climb, strength)
        return self

    def fill(self, buf, count):
        """Write `count` x,y,z samples into buf[0 : 3 * count]."""
        rng = self.rng
        wind = self.wind_mps * self.wind_mps  # force grows with the square of the speed
        gust_q8 = 256 + (_SINE[(self.n * 1024 // (7 * self.RATE)) & 1023] >> 7)  # 0.5-1.5 over 7 s
        drop_chance = self.rain_mmph * 25  # drops per second hitting near the sensor
        for i in range(count):
            if drop_chance and rng.below(self.RATE) < drop_chance:
                self._drops.y1 += 10 + rng.below(30)
            if wind:
                self._flutter.y1 += (rng.gauss_q10() * wind * gust_q8) >> 22
            self._sway = (self._sway * 15 + ((rng.gauss_q10() * wind * gust_q8) >> 18)) >> 4
            common = self._impulse_sum() + self._sway
            x = common + (rng.gauss_q10() * self.noise >> 10)
            y = (common * 6 // 10) + (rng.gauss_q10() * self.noise >> 10)
            z = 256 + (common * 3 // 10) + (rng.gauss_q10() * self.noise >> 10)
            base = 3 * i
            buf[base] = max(-32768, min(32767, x))
            buf[base + 1] = max(-32768, min(32767, y))
            buf[base + 2] = max(-32768, min(32767, z))
            self.n += 1


class AudioSignal(_Signal):
    """8 kHz microphone audio: ambient noise plus sinusoids."""

    RATE = 8000

    def __init__(self, seed=1, noise_rms=300, lowpass=False):
        _Signal.__init__(self, self.RATE, seed)
        self.noise_rms = noise_rms
        self.lowpass = lowpass  # traffic-like ambient: energy mostly at low frequencies
        self._lp = 0
        self._tones = []  # [phase Q16 of table index, step, amplitude]
        self._wash = []  # (rms, start, stop) of each drone's broadband rotor wash
        self._wash_lp = 0
        self._thud = Resonator(self.RATE, 160, 25)  # a package's landing rings low and briefly
        self.resonators = ()

    def tone(self, freq_hz, amplitude, start_s=0, stop_s=1 << 20):
        step = int(freq_hz * (1 << _TABLE_BITS) * 65536 / self.RATE)
        self._tones.append([0, step, amplitude, int(start_s * self.RATE), int(stop_s * self.RATE)])
        return self

    def drone(self, fundamental_hz, amplitude, harmonics=None, start_s=0, stop_s=1 << 20):
        """A blade-pass series, each harmonic a little weaker than the one below, over the
        rotors' broadband wash (low-passed noise at a third of the series' amplitude: a
        rotor that turns also stirs the air). A rotor's harmonics reach about 1.25 kHz
        whatever its fundamental (a large slow rotor has more of them: a Matrice's lines
        run to 1 kHz and beyond), and at least three."""
        if harmonics is None:
            harmonics = max(3, 1250 // fundamental_hz)
        for h in range(1, harmonics + 1):
            self.tone(fundamental_hz * h, amplitude * 4 // (3 + h), start_s, stop_s)
        self._wash.append((amplitude // 3, int(start_s * self.RATE), int(stop_s * self.RATE)))
        return self

    def multirotor(self, fundamental_hz, amplitude, rotors=4, start_s=0, stop_s=1 << 20):
        """A multirotor as real ones sound (FIELD.md): one blade-pass series per rotor, the
        flight controller trimming each to its own speed (here 1.5 % and 0.5 % either side
        of the mean), so each harmonic is a cluster whose lines beat; the rotors share the
        series' power, over the same wash as `drone`."""
        spread = (-15, 15, -5, 5, -10, 10, 0, 20)
        harmonics = max(3, 1250 // fundamental_hz)
        for r in range(rotors):
            f = fundamental_hz * (1000 + spread[r % len(spread)]) / 1000
            for h in range(1, harmonics + 1):
                self.tone(f * h, amplitude * 4 // (3 + h) // 2, start_s, stop_s)
        self._wash.append((amplitude // 3, int(start_s * self.RATE), int(stop_s * self.RATE)))
        return self

    def thud(self, t_s, amplitude):
        """A package landing: one low, damped ring (160 Hz, 25 ms) of about `amplitude` peak."""
        self.resonators = (self._thud,)
        # A two-pole resonator rings at 1/sin(w) times its impulse: scale that away.
        self.schedule(t_s, self._thud, int(amplitude * math.sin(2 * math.pi * 160 / self.RATE)))
        return self

    def fill(self, buf, count):
        rng = self.rng
        mask = (1 << (_TABLE_BITS + 16)) - 1
        tones = [tone for tone in self._tones if tone[3] <= self.n < tone[4]]  # on for this block
        wash = 0
        for rms, start, stop in self._wash:
            if start <= self.n < stop:
                wash += rms
        for i in range(count):
            noise = rng.gauss_q10() * self.noise_rms >> 10
            if self.lowpass:
                self._lp = (self._lp * 7 + noise * 3) >> 3
                noise = self._lp
            total = noise
            if self.resonators:
                total += self._impulse_sum()
            if wash:
                self._wash_lp = (self._wash_lp * 3 + (rng.gauss_q10() * wash >> 10) * 2) >> 2
                total += self._wash_lp
            for tone in tones:
                total += (_SINE[tone[0] >> 16] * tone[2]) >> 14
                tone[0] = (tone[0] + tone[1]) & mask
            buf[i] = max(-32768, min(32767, total))
            self.n += 1


class ConstantSignal:
    """A microphone that delivers one value: 0 when it is dead, a DC level when stuck."""

    def __init__(self, value=0):
        self.value = value

    def fill(self, buf, count):
        for i in range(count):
            buf[i] = self.value


class ImpactSignal(_Signal):
    """A geophone or piezo on the impact channel, read by a 16-bit ADC at 1 kHz."""

    RATE = 1000
    MID = 32768

    def __init__(self, seed=1, noise=30):
        _Signal.__init__(self, self.RATE, seed)
        self.noise = noise
        self._thud = Resonator(self.RATE, 40, 25)
        self.resonators = (self._thud,)

    def package(self, t_s, strength=9000):
        """A package landing: one short heavy thud."""
        self.schedule(t_s, self._thud, strength)
        return self

    def footsteps(self, t_s, duration_s=6.0, strength=2500):
        """Someone climbing or walking by: a thud every ~0.4 s."""
        t = t_s
        while t < t_s + duration_s:
            self.schedule(t, self._thud, strength // 2 + self.rng.below(strength))
            t += 0.25 + self.rng.below(300) / 1000
        return self

    def fill(self, buf, count):
        rng = self.rng
        for i in range(count):
            v = self.MID + self._impulse_sum() + (rng.gauss_q10() * self.noise >> 10)
            buf[i] = max(0, min(65535, v))
            self.n += 1
