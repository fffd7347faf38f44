"""Logged-in sessions and the limits on logging in: sans-I/O, on a clock of the caller's.

A session is a random token in an HttpOnly, SameSite=Strict cookie, with a CSRF token of its
own that every change must echo in a header. It ends after `idle_s` without a request, or
after `absolute_s` whatever happens (a shift), or at logout. Sessions live in memory: a
gateway restart logs everyone out, which is the safe way round.

Failed logins are limited by `throttle.py`.
"""

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from gateway.identity.accounts import Account

COOKIE = "perimeter_session"  # the session token's cookie


@dataclass
class Session:
    token: str
    csrf: str
    account: Account
    created: float
    last_used: float


@dataclass
class SessionStore:
    idle_s: float = 15 * 60.0
    absolute_s: float = 12 * 3600.0
    clock: Callable[[], float] = time.monotonic
    _sessions: dict[str, Session] = field(default_factory=dict)

    def open(self, account: Account) -> Session:
        now = self.clock()
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

    def __len__(self) -> int:
        return len(self._sessions)
