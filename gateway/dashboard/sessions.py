"""Logged-in sessions and the limits on logging in: sans-I/O, on a clock of the caller's.

A session is a random token in an HttpOnly, SameSite=Strict cookie, with a CSRF token of its
own that every change must echo in a header. It ends after `idle_s` without a request, or
after `absolute_s` whatever happens (a shift), or at logout. Sessions live in memory: a
gateway restart logs everyone out, which is the safe way round.

Failed logins are counted per name: after `max_failures` within `failure_window_s` the name
is locked for `lockout_s`, so a password cannot be guessed at the speed of the network.
"""

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from gateway.accounts import Account


@dataclass
class Session:
    token: str
    csrf: str
    account: Account
    created: float
    last_used: float


@dataclass
class LoginLimits:
    max_failures: int = 5
    failure_window_s: float = 300.0
    lockout_s: float = 300.0


@dataclass
class SessionStore:
    idle_s: float = 15 * 60.0
    absolute_s: float = 12 * 3600.0
    limits: LoginLimits = field(default_factory=LoginLimits)
    clock: Callable[[], float] = time.monotonic
    _sessions: dict[str, Session] = field(default_factory=dict)
    _failures: dict[str, list[float]] = field(default_factory=dict)
    _locked_until: dict[str, float] = field(default_factory=dict)

    def open(self, account: Account) -> Session:
        now = self.clock()
        self._failures.pop(account.name, None)
        session = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), account, now, now)
        self._sessions[session.token] = session
        return session

    def get(self, token: str | None) -> Session | None:
        """The live session of a token, touched; None if unknown or expired."""
        if not token:
            return None
        session = self._sessions.get(token)
        if session is None:
            return None
        now = self.clock()
        if now - session.last_used > self.idle_s or now - session.created > self.absolute_s:
            del self._sessions[token]
            return None
        session.last_used = now
        return session

    def close(self, token: str | None) -> Session | None:
        return self._sessions.pop(token, None) if token else None

    def close_account(self, name: str) -> int:
        """End every session of an account (removed or demoted); how many ended."""
        tokens = [t for t, s in self._sessions.items() if s.account.name == name]
        for token in tokens:
            del self._sessions[token]
        return len(tokens)

    def sweep(self) -> None:
        for token in list(self._sessions):
            self.get(token)

    def locked(self, name: str) -> float:
        """Seconds until this name may try again (0 when it may)."""
        until = self._locked_until.get(name, 0.0)
        return max(0.0, until - self.clock())

    def failed(self, name: str) -> bool:
        """Count a failed login; True if it locked the name."""
        now = self.clock()
        recent = [t for t in self._failures.get(name, []) if now - t < self.limits.failure_window_s]
        recent.append(now)
        self._failures[name] = recent
        if len(recent) >= self.limits.max_failures:
            self._locked_until[name] = now + self.limits.lockout_s
            self._failures[name] = []
            return True
        return False

    def __len__(self) -> int:
        return len(self._sessions)
