"""A clock a spec turns by hand (`clock.t += 60`), for the sans-I/O parts that take one."""


class FakeClock:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t
