"""Limits on logging in, and on how much a flood of refusals may write: sans-I/O, on the
caller's clock, every table bounded.

Failed logins are counted per (address, name): after `max_failures` within `window_s` that
pair is locked for `lockout_s`. The name stays open from every other address, so nobody can
lock an operator out from elsewhere by failing on purpose. An address that fails on many
names (`address_failures`) is locked whole: a password spray. A name that keeps failing from
many addresses at once (`name_failures`) is slowed to one attempt per `name_spacing_s`, never
locked: a distributed guess at one password gets nowhere fast, and the operator still gets in.

Guesses sent at once are checked one at a time: a password is checked for one attempt per
(address, name), and `max_checking` per address, at a time; the others are turned away before
their check (before, 60 guesses at once from one address were all checked, against a limit
of 5). An address locked whole still lets in a name that logged in from it within
`known_good_s`: behind a local proxy every operator shares one address, and a spray through
it must not lock the control room out.

Each table holds at most `max_tracked` keys; the oldest goes first, so a flood of invented
names or addresses costs bounded memory.
"""

from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


@dataclass(frozen=True)
class LoginLimits:
    max_failures: int = 5  # per (address, name) within window_s, then that pair is locked
    window_s: float = 300.0
    lockout_s: float = 300.0
    address_failures: int = 20  # per address, any names, within window_s: the address is locked
    name_failures: int = 20  # per name, any addresses, within window_s: the name is slowed ...
    name_spacing_s: float = 2.0  # ... to one attempt this often
    max_checking: int = 4  # passwords being checked at once for one address
    known_good_s: float = 12 * 3600.0  # a name that logged in from an address is not locked out by it
    max_tracked: int = 10_000


class Bounded(Generic[K, V]):
    """A dict that forgets its oldest key beyond `size` keys."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        return self._items.get(key)

    def put(self, key: K, value: V) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def pop(self, key: K) -> None:
        self._items.pop(key, None)

    def items(self) -> list[tuple[K, V]]:
        return list(self._items.items())

    def __len__(self) -> int:
        return len(self._items)


class LoginThrottle:
    def __init__(self, limits: LoginLimits, clock: Callable[[], float]) -> None:
        self.limits = limits
        self.clock = clock
        size = limits.max_tracked
        self._failures: dict[str, Bounded[Hashable, list[float]]] = {
            kind: Bounded(size) for kind in ("pair", "address", "name")
        }
        self._locked: Bounded[Hashable, float] = Bounded(size)  # pair or address -> until when
        self._name_next: Bounded[str, float] = Bounded(size)  # a slowed name -> its next attempt
        self._good: Bounded[tuple[str, str], float] = Bounded(size)  # (address, name) -> last login
        self._checking: dict[Hashable, int] = {}  # pair or address -> passwords being checked now

    def wait(self, address: str, name: str) -> float:
        """Seconds until this address may try this name (0: now)."""
        now = self.clock()
        good = self._good.get((address, name))
        known = good is not None and now - good < self.limits.known_good_s
        until = max(
            self._locked.get(("pair", address, name)) or 0.0,
            0.0 if known else self._locked.get(("address", address)) or 0.0,
            self._name_next.get(name) or 0.0,
        )
        return max(0.0, until - now)

    def begin(self, address: str, name: str) -> bool:
        """Take a place to check a password; False: one for this pair (or `max_checking` for
        this address) is being checked now, so this attempt is turned away unchecked."""
        pair: Hashable = ("pair", address, name)
        if self._checking.get(pair) or self._checking.get(address, 0) >= self.limits.max_checking:
            return False
        self._checking[pair] = 1
        self._checking[address] = self._checking.get(address, 0) + 1
        return True

    def end(self, address: str, name: str) -> None:
        """The check `begin` let through is done."""
        self._checking.pop(("pair", address, name), None)
        left = self._checking.get(address, 0) - 1
        if left > 0:
            self._checking[address] = left
        else:
            self._checking.pop(address, None)

    def failed(self, address: str, name: str) -> bool:
        """Count a failed login; True if it locked the pair or the address."""
        now, limits = self.clock(), self.limits
        if self._count("name", name, now) >= limits.name_failures:
            self._name_next.put(name, now + limits.name_spacing_s)
        locked = False
        if self._count("address", address, now) >= limits.address_failures:
            self._locked.put(("address", address), now + limits.lockout_s)
            self._failures["address"].pop(address)
            locked = True
        if self._count("pair", (address, name), now) >= limits.max_failures:
            self._locked.put(("pair", address, name), now + limits.lockout_s)
            self._failures["pair"].pop((address, name))
            locked = True
        return locked

    def succeeded(self, address: str, name: str) -> None:
        self._failures["pair"].pop((address, name))
        self._good.put((address, name), self.clock())

    def _count(self, kind: str, key: Hashable, now: float) -> int:
        table = self._failures[kind]
        recent = [t for t in table.get(key) or [] if now - t < self.limits.window_s]
        recent.append(now)
        table.put(key, recent[-self.limits.max_failures * 8 :])  # enough to count, never more
        return len(recent)

    def tracked(self) -> int:
        """Keys held in all tables (what a flood of invented names costs)."""
        return sum(len(t) for t in self._failures.values()) + len(self._locked) + len(self._name_next)


class Refusals:
    """Refusals journalled as one row per key and window: the first as it happens, the rest
    counted and summed up in one row once the window has passed. A flood of refused logins
    writes a row a minute, not one per attempt."""

    def __init__(self, window_s: float, clock: Callable[[], float], max_tracked: int = 10_000) -> None:
        self.window_s = window_s
        self.clock = clock
        self._open: Bounded[Hashable, list[float]] = Bounded(max_tracked)  # key -> [since, count]

    def refused(self, key: Hashable) -> bool:
        """Count a refusal; True if it is the first of its window (journal it now)."""
        now = self.clock()
        window = self._open.get(key)
        if window is None or now - window[0] >= self.window_s:
            self._open.put(key, [now, 0.0])
            return True
        window[1] += 1
        return False

    def due(self, everything: bool = False) -> list[tuple[Hashable, int, float]]:
        """(key, refusals not yet journalled, since when) of every window that has passed, or
        of every window at all (`everything`: the gateway is stopping)."""
        now = self.clock()
        ended = [(key, w) for key, w in self._open.items() if everything or now - w[0] >= self.window_s]
        for key, _ in ended:
            self._open.pop(key)
        return [(key, int(w[1]), w[0]) for key, w in ended if w[1]]
