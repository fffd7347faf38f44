"""Dashboard accounts: who may log in, in which role, with a scrypt hash of their password.

The file is plain text, one account per line, so that an installer can read it and a
deployment tool can write it: `name role scrypt$n$r$p$salt$hash` (salt and hash in hex).
Roles: viewer, operator, supervisor, engineer (what each may do: `gateway/alarming/permissions.py`,
and the README's permissions table); the same accounts act on the dashboard and, through the
broker's password and ACL files beside it (`gateway/identity/broker_accounts.py`, which `perimeter
operator add|remove` keep in step), over MQTT. `perimeter operator add` writes lines; the
gateway re-reads the file when it changes, so an account can be added or removed without a
restart (the broker needs a reload for its files).
"""

import hmac
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from gateway.alarming.permissions import ROLES

# scrypt at n=2**14, r=8: about 50 ms and 16 MiB per check (RFC 7914's interactive figure),
# slow enough to make an offline guess at a stolen file expensive.
N, R, P = 2**14, 8, 1
log = logging.getLogger("perimeter.gateway")
NAME = re.compile(r"[A-Za-z0-9_.@-]{1,64}")


class AccountError(Exception):
    """An accounts file or an account that cannot be used; the message says why."""


@dataclass(frozen=True)
class Account:
    name: str
    role: str
    hashed: str


def hash_password(password: str, *, n: int = N, salt: bytes | None = None) -> str:
    if len(password) < 8:
        raise AccountError("a password needs at least 8 characters")
    salt = salt or os.urandom(16)
    digest = Scrypt(salt=salt, length=32, n=n, r=R, p=P).derive(password.encode("utf-8"))
    return "scrypt$%d$%d$%d$%s$%s" % (n, R, P, salt.hex(), digest.hex())


def check_password(password: str, hashed: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = hashed.split("$")
        if scheme != "scrypt":
            return False
        derived = Scrypt(salt=bytes.fromhex(salt), length=32, n=int(n), r=int(r), p=int(p)).derive(
            password.encode("utf-8")
        )
    except ValueError:
        return False
    return hmac.compare_digest(derived, bytes.fromhex(digest))


def parse_accounts(text: str, source: str = "accounts") -> dict[str, Account]:
    accounts: dict[str, Account] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 3:
            raise AccountError("%s line %d: expected 'name role hash'" % (source, number))
        name, role, hashed = parts
        if not NAME.fullmatch(name):
            raise AccountError("%s line %d: %r is not a usable name" % (source, number, name))
        if role not in ROLES:
            raise AccountError("%s line %d: role must be one of %s" % (source, number, ", ".join(ROLES)))
        if not hashed.startswith("scrypt$") or hashed.count("$") != 5:
            raise AccountError("%s line %d: the password hash is not scrypt$n$r$p$salt$hash" % (source, number))
        if name in accounts:
            raise AccountError("%s line %d: %r is listed twice" % (source, number, name))
        accounts[name] = Account(name, role, hashed)
    return accounts


class AccountFile:
    """The accounts file, re-read when its modification time changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int] | None = None
        self._accounts: dict[str, Account] = {}
        self.reload()

    def reload(self) -> None:
        try:
            stat = self.path.stat()
            text = self.path.read_text(encoding="utf-8")
        except OSError as exc:
            raise AccountError("cannot read the accounts file %s: %s" % (self.path, exc.strerror)) from None
        self._accounts = parse_accounts(text, str(self.path))
        self._stamp = (stat.st_mtime_ns, stat.st_size)

    def get(self, name: str) -> Account | None:
        try:
            stat = self.path.stat()
            if (stat.st_mtime_ns, stat.st_size) != self._stamp:
                self.reload()
        except (OSError, AccountError):
            pass  # a file being rewritten, or broken for a moment: keep the accounts we had
        return self._accounts.get(name)

    def __len__(self) -> int:
        return len(self._accounts)


def accounts_for(path: Path | None) -> AccountFile | None:
    """The gateway's accounts, or None (every request refused, with the reason logged)."""
    if path is None:
        log.warning("no accounts file ([dashboard] accounts_file): every operator request is refused")
        return None
    try:
        return AccountFile(path)
    except AccountError as exc:
        log.error("%s: every operator request is refused until it is fixed", exc)
        return None


def add_account(path: Path, name: str, role: str, password: str, *, n: int = N) -> None:
    """Add an account to the file (created chmod 600), or replace one of that name."""
    if not NAME.fullmatch(name):
        raise AccountError("a name is 1-64 letters, digits, '_', '.', '@' or '-'")
    if role not in ROLES:
        raise AccountError("role must be one of %s" % ", ".join(ROLES))
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    parse_accounts("\n".join(lines), str(path))  # never append to a file we could not read back
    kept = [line for line in lines if line.split()[:1] != [name]]
    kept.append("%s %s %s" % (name, role, hash_password(password, n=n)))
    path.touch(mode=0o600, exist_ok=True)
    path.write_text("\n".join(kept) + "\n", encoding="utf-8")


def remove_account(path: Path, name: str) -> None:
    if not path.exists():
        raise AccountError("no accounts file at %s" % path)
    lines = path.read_text(encoding="utf-8").splitlines()
    if name not in parse_accounts("\n".join(lines), str(path)):
        raise AccountError("%s has no account %r" % (path, name))
    kept = [line for line in lines if line.split()[:1] != [name]]
    path.write_text("\n".join(kept) + "\n", encoding="utf-8")
