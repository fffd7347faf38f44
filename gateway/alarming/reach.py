"""Each account's reach is its own: how many requests one account may make, and what its reads
cost the journal.

Before, one viewer sending 10,000 read-only requests in 4 s wrote 10,211 fsync'ed journal rows
and, through the shared nonce table, shut the desk for every account for two minutes. Now:

- each account has a bucket of `burst` requests refilled at `per_s`; a request beyond it is
  refused without being read, and only the first refusal of a window is journalled (the rest
  are counted into the account's tally);
- a read (`alarms`, `pending`) changes nothing, so it is answered without a journal row, and
  counted: one tally row per account and window says how many reads and refusals it had, and
  the supervisor's report adds them up (`gateway/evidence/operator_report.py`);
- the nonces an account has used are its own table (`request_guard.py`), and so is its share
  of the requests waiting for approval (`approvals.py`).

Sans-I/O: the caller gives the time.
"""

from dataclasses import dataclass, field

READS = frozenset({"alarms", "pending"})  # requests that change nothing and need no journal row


@dataclass(frozen=True)
class ReachLimits:
    per_s: float = 2.0  # requests an account may make per second, sustained ...
    burst: int = 30  # ... and at once (a supervisor approving a shift's requests)
    tally_s: float = 60.0  # reads and refusals are journalled as one row per account this often


@dataclass
class Tally:
    since: float
    reads: int = 0
    throttled: int = 0

    def row(self, account: str) -> dict[str, object]:
        return {
            "command": "tally",
            "operator": account,
            "status": "ok",
            "error": None,
            "reads": self.reads,
            "throttled": self.throttled,
            "since": self.since,
        }


@dataclass
class _Bucket:
    tokens: float
    at: float


@dataclass
class Reach:
    limits: ReachLimits = field(default_factory=ReachLimits)
    _buckets: dict[str, _Bucket] = field(default_factory=dict)
    _tallies: dict[str, Tally] = field(default_factory=dict)

    def admit(self, account: str, now: float) -> bool:
        """Take one request from the account's bucket; False (and counted) when it is empty.
        The caller journals the refusal only if `first_refusal` says so."""
        limits = self.limits
        bucket = self._buckets.get(account)
        if bucket is None:
            bucket = self._buckets[account] = _Bucket(float(limits.burst), now)
        # A clock stepped back (NTP) refills nothing rather than drain the bucket.
        bucket.tokens = min(float(limits.burst), bucket.tokens + max(0.0, now - bucket.at) * limits.per_s)
        bucket.at = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return True
        self._tally(account, now).throttled += 1
        return False

    def first_refusal(self, account: str) -> bool:
        """Whether the refusal just counted is the account's first in its tally window."""
        tally = self._tallies.get(account)
        return tally is not None and tally.throttled == 1

    def read(self, account: str, now: float) -> None:
        self._tally(account, now).reads += 1

    def due(self, now: float, everything: bool = False) -> list[dict[str, object]]:
        """The tally rows of every window that has passed (or of all: the gateway is stopping)."""
        rows = []
        for account, tally in list(self._tallies.items()):
            if everything or now - tally.since >= self.limits.tally_s:
                del self._tallies[account]
                rows.append(tally.row(account))
        return rows

    def forget(self, account: str) -> None:
        """The account was removed: its bucket goes (its tally is still journalled)."""
        self._buckets.pop(account, None)

    def _tally(self, account: str, now: float) -> Tally:
        tally = self._tallies.get(account)
        if tally is None:
            tally = self._tallies[account] = Tally(now)
        return tally
