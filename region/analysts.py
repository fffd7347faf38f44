"""Who may look at the regional picture: prison-service and police analysts, one per line
(`name:role:scrypt-hash`, the gateway's password hashing). Both roles see the region's
incidents and export them; no role can act on a site, because the region has no way to: the
sites' bridges carry incidents out and nothing in."""

from pathlib import Path

from gateway.identity.accounts import AccountError, check_password, hash_password

ROLES = ("prison_analyst", "police_analyst")
_DUMMY = hash_password("not a real password", n=2**10)


def read(path: Path) -> dict[str, tuple[str, str]]:
    """name -> (role, hash); AccountError naming the line that is wrong."""
    found: dict[str, tuple[str, str]] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split(":")
        if len(parts) != 3 or parts[1] not in ROLES or not parts[0]:
            raise AccountError("%s line %d: expected name:%s:hash" % (path, number, "|".join(ROLES)))
        found[parts[0]] = (parts[1], parts[2])
    return found


def add(path: Path, name: str, role: str, password: str, n: int = 2**15) -> None:
    if role not in ROLES:
        raise AccountError("role must be one of %s" % ", ".join(ROLES))
    if not name or ":" in name or len(name) > 64:
        raise AccountError("a name is 1-64 characters without ':'")
    listed = read(path) if path.exists() else {}
    if name in listed:
        raise AccountError("%s is already listed" % name)
    with open(path, "a", encoding="utf-8") as f:
        f.write("%s:%s:%s\n" % (name, role, hash_password(password, n=n)))
    path.chmod(0o600)


def login(accounts: dict[str, tuple[str, str]], name: str, password: str) -> str | None:
    """The account's role if the password is right (as long either way: no name is told)."""
    role, hashed = accounts.get(name, ("", _DUMMY))
    ok = check_password(password, hashed)
    return role if ok and role else None
