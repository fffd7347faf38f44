"""The broker's side of the accounts: Mosquitto's password file and ACL, kept beside the
accounts file (`<accounts folder>/broker/`) so that one command provisions the dashboard and
the broker together (`perimeter operator add`, `perimeter site init`).

What the ACL guarantees is what the gateway trusts: every account may publish only under its
own name, `P/bridge/request/<account>/<command>`, so the topic says who asks; nobody but the
gateway's own user publishes anything else under the site's prefix; anonymous clients are
refused by the broker's config (`allow_anonymous false`). Passwords are hashed by Mosquitto's
own `mosquitto_passwd` (PBKDF2-SHA512), never stored in clear.
"""

import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

from gateway.identity.accounts import Account, AccountError, parse_accounts

GATEWAY_USER = "perimeter-gateway"
_PREFIX_LINE = "# prefix: "


def broker_folder(accounts: Path) -> Path:
    return accounts.parent / "broker"


def acl_text(prefix: str, accounts: Iterable[Account]) -> str:
    lines = [
        "# Written by perimeter operator / site init: change the accounts, not this file.",
        _PREFIX_LINE + prefix,
        "",
        "user %s" % GATEWAY_USER,
        "topic readwrite %s/#" % prefix,
        "topic readwrite homeassistant/#",
        "",
    ]
    for account in accounts:
        lines += ["user %s" % account.name, "topic read %s/#" % prefix, ""]
    lines += [
        "# Every account may publish requests under its own name only: the gateway takes the",
        "# operator's identity from this topic level.",
        "pattern write %s/bridge/request/%%u/+" % prefix,
    ]
    return "\n".join(lines) + "\n"


def _passwd(passwords: Path, user: str, password: str) -> None:
    tool = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
    create = [] if passwords.exists() else ["-c"]
    result = subprocess.run([tool, *create, "-b", str(passwords), user, password], capture_output=True, text=True)
    if result.returncode != 0:
        raise AccountError("mosquitto_passwd failed: %s" % (result.stderr or result.stdout).strip())
    passwords.chmod(0o600)


def remove_broker_user(accounts: Path, user: str) -> None:
    """Take an account's broker password away (after the accounts file lost it)."""
    passwords = broker_folder(accounts) / "passwords"
    if passwords.exists():
        tool = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
        subprocess.run([tool, "-D", str(passwords), user], capture_output=True, text=True)
    write_broker_files(accounts)


def write_broker_files(accounts: Path, prefix: str | None = None, user: str | None = None, password: str = "") -> bool:
    """Bring the broker's ACL in line with the accounts file and, for `user`, set the broker
    password. False (nothing written) when the site keeps no broker files beside its accounts
    (a broker provisioned by other means)."""
    folder = broker_folder(accounts)
    acl = folder / "acl"
    if prefix is None:
        if not acl.exists():
            return False
        first = [line for line in acl.read_text(encoding="utf-8").splitlines() if line.startswith(_PREFIX_LINE)]
        if not first:
            raise AccountError("%s does not say which prefix it guards: run perimeter site init again" % acl)
        prefix = first[0][len(_PREFIX_LINE) :]
    folder.mkdir(parents=True, exist_ok=True)
    listed = parse_accounts(accounts.read_text(encoding="utf-8"), str(accounts)) if accounts.exists() else {}
    if user is not None:
        _passwd(folder / "passwords", user, password)
    acl.write_text(acl_text(prefix, listed.values()), encoding="utf-8")
    acl.chmod(0o600)
    return True
