"""How many web connections the gateway holds, and for how long one may dawdle: sans-I/O.

The dashboard and /metrics are served from the gateway's own process, beside the radio path.
Before, 1,100 connections that each sent half a request header and waited took every file
descriptor the process had: logins went unanswered, ACK latency rose tenfold, a replugged
serial port could not be opened again, and asyncio logged an `accept()` traceback per attempt
(507 MB in 20 s). So every connection passes this gate:

- at most `total` open at once, and `per_address` from one address: the rest are turned away
  as they are accepted (no bytes read, no task started), held unread in a tarpit of
  `tarpit` connections and reset when newer ones push them out;
- a request's header must be complete (its blank line) within `header_s` of its first byte,
  and a new connection must start one within `header_s`: a client that trickles or idles is
  closed. A page's live stream, whose request is complete, is never cut by this.

Refusals are counted and told once a `report_s` window, never per connection.
"""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class GateLimits:
    total: int = 256  # far above a control room's pages, far below the process's descriptors
    per_address: int = 32  # a video wall's pages behind one address, not one client's flood
    header_s: float = 10.0
    report_s: float = 60.0
    # Refused connections held open unread (`embedded_http.GatedListener`), so a flood that
    # reconnects at once waits instead (a quarter of the process's descriptors at most). Web
    # connections live on descriptors above 1,024: pyserial waits on a port with select(),
    # which takes no higher one, and a port replugged behind 2,000 held connections would
    # otherwise get one it cannot read.
    tarpit: int = 4096


@dataclass
class ConnectionGate:
    limits: GateLimits = field(default_factory=GateLimits)
    open: int = 0
    by_address: dict[str, int] = field(default_factory=dict)
    refused: int = 0  # since the last report
    timed_out: int = 0  # since the last report
    refused_total: int = 0
    timed_out_total: int = 0
    _reported_at: float | None = None

    def full(self, address: str) -> bool:
        """Whether a connection from `address` would be refused now (nothing taken)."""
        return self.open >= self.limits.total or self.by_address.get(address, 0) >= self.limits.per_address

    def turned_away(self) -> None:
        """A connection refused as it was accepted, before it had a place."""
        self.refused += 1
        self.refused_total += 1

    def admit(self, address: str) -> bool:
        """Take a place for a new connection from `address`; False: close it now."""
        if self.full(address):
            self.turned_away()
            return False
        held = self.by_address.get(address, 0)
        self.open += 1
        self.by_address[address] = held + 1
        return True

    def release(self, address: str) -> None:
        """An admitted connection closed."""
        self.open -= 1
        held = self.by_address.get(address, 0) - 1
        if held > 0:
            self.by_address[address] = held
        else:
            self.by_address.pop(address, None)

    def dawdled(self) -> None:
        """An admitted connection closed at its header deadline."""
        self.timed_out += 1
        self.timed_out_total += 1

    def report(self, now: float) -> str | None:
        """A line for the log once a window, if anything was refused or timed out in it."""
        if self._reported_at is not None and now - self._reported_at < self.limits.report_s:
            return None
        if not (self.refused or self.timed_out):
            return None
        line = (
            "%d connection(s) refused (over %d open, or %d from one address) and %d closed for a slow header "
            % (
                self.refused,
                self.limits.total,
                self.limits.per_address,
                self.timed_out,
            )
            + "since the last report"
        )
        self.refused = self.timed_out = 0
        self._reported_at = now
        return line


def header_complete(tail: bytes, data: bytes) -> tuple[bool, bytes, bool]:
    """Whether a request header ended in `data` (given the last bytes seen before it), the
    bytes to keep for the next call, and whether anything follows that last header end."""
    seen = tail + data
    end = seen.rfind(b"\r\n\r\n")
    return end >= 0, seen[-3:], end < 0 or end + 4 < len(seen)
