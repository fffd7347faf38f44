"""A ground node's geophone for the detector specs, on CPython and MicroPython alike (its own
module: the full-node run imports `signals` into a 64 KB heap, and a class it never uses
there would take its room)."""

from tests.device.signals import ImpactSignal


class GeophoneSignal(ImpactSignal):
    """A ground node's buried geophone behind its preamplifier (about 57 counts per µm/s,
    `simulators/ground.py`): the ADC's noise, packages, footsteps, and a rumble (a vehicle
    passing, a gust building) that raises the noise for a while."""

    def __init__(self, seed=1, noise=20):
        ImpactSignal.__init__(self, seed, noise)
        self._rumbles = []  # (start sample, stop sample, noise while it lasts)

    def rumble(self, t_s, duration_s, noise):
        self._rumbles.append((int(t_s * self.RATE), int((t_s + duration_s) * self.RATE), noise))
        return self

    def walker(self, t_s, duration_s=10.0, strength=1200):
        """Someone walking near: a step every 0.5-0.6 s, each about as strong as the last."""
        t = t_s
        while t < t_s + duration_s:
            self.schedule(t, self._thud, strength * 3 // 4 + self.rng.below(strength // 2))
            t += 0.5 + self.rng.below(100) / 1000
        return self

    def fill(self, buf, count):
        base = self.noise
        for start, stop, noise in self._rumbles:
            if start <= self.n < stop:
                self.noise = noise
        ImpactSignal.fill(self, buf, count)
        self.noise = base
