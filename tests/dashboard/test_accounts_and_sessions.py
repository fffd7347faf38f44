"""Accounts, sessions and the live feed, sans-I/O: scrypt hashes that check, an accounts
file that says what is wrong with it, sessions that end when idle or at the end of a shift,
a lockout after repeated failures, and a page that cannot keep up told to resynchronise."""

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.config import ConfigError, parse
from gateway.dashboard.live import LiveFeed
from gateway.dashboard.sessions import SessionStore
from gateway.identity.accounts import (
    Account,
    AccountError,
    AccountFile,
    add_account,
    check_password,
    hash_password,
    parse_accounts,
)
from tests.fake_clock import FakeClock

FAST = 2**10  # scrypt's cost in these specs only; the gateway uses 2**14


def test_a_password_checks_against_its_hash_and_nothing_else() -> None:
    hashed = hash_password("correct horse", n=FAST)
    assert hashed.startswith("scrypt$1024$8$1$")
    assert check_password("correct horse", hashed)
    assert not check_password("correct horsE", hashed)
    assert not check_password("correct horse", hashed.replace("scrypt", "md5"))
    assert not check_password("correct horse", "scrypt$x$8$1$00$00")
    assert hash_password("correct horse", n=FAST) != hashed  # a salt of its own each time
    with pytest.raises(AccountError, match="8 characters"):
        hash_password("short")


@pytest.mark.parametrize(
    "line,message",
    [
        ("alice operator", "expected 'name role hash'"),
        ("alice admin scrypt$1$8$1$00$00", "role must be one of"),
        ("al ice operator scrypt$1$8$1$00$00", "expected 'name role hash'"),
        ("alice operator plaintext", "not scrypt"),
        ("a/b operator scrypt$1$8$1$00$00", "not a usable name"),
    ],
)
def test_a_broken_accounts_file_says_which_line_and_why(line: str, message: str) -> None:
    with pytest.raises(AccountError, match="line 2: .*%s" % message.replace("$", r"\$")):
        parse_accounts("# operators\n" + line + "\n", "ops.txt")


def test_accounts_are_added_replaced_and_kept_private(tmp_path: Path) -> None:
    path = tmp_path / "ops.txt"
    add_account(path, "alice", "operator", "first password", n=FAST)
    add_account(path, "bob", "viewer", "second password", n=FAST)
    add_account(path, "alice", "viewer", "third password", n=FAST)  # replaced, not doubled
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    accounts = parse_accounts(path.read_text())
    assert {a.name: a.role for a in accounts.values()} == {"alice": "viewer", "bob": "viewer"}
    assert check_password("third password", accounts["alice"].hashed)


def test_the_accounts_file_is_reread_when_it_changes(tmp_path: Path) -> None:
    path = tmp_path / "ops.txt"
    add_account(path, "alice", "operator", "first password", n=FAST)
    accounts = AccountFile(path)
    assert accounts.get("carol") is None
    add_account(path, "carol", "viewer", "another password", n=FAST)
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000))
    assert accounts.get("carol") is not None
    path.write_text("garbage\n")  # a broken file keeps the accounts we had
    assert accounts.get("alice") is not None


def test_a_session_ends_when_idle_and_at_the_end_of_a_shift() -> None:
    clock = FakeClock()
    store = SessionStore(idle_s=900, absolute_s=12 * 3600, clock=clock)
    alice = Account("alice", "operator", "")
    session = store.open(alice)
    assert len(session.token) >= 40 and session.csrf != session.token
    clock.t += 899
    assert store.get(session.token) is session  # and touched
    clock.t += 899
    assert store.get(session.token) is session
    clock.t += 901
    assert store.get(session.token) is None  # idle too long
    assert store.get(session.token) is None

    session = store.open(alice)
    for _ in range(60):  # busy all shift and beyond, one request every 15 minutes
        clock.t += 899
        if store.get(session.token) is None:
            break
    assert store.get(session.token) is None
    assert 12 * 3600 < clock.t - session.created <= 12 * 3600 + 899  # ended with the shift

    forgotten = [store.open(alice) for _ in range(3)]  # pages closed, never come back
    clock.t += 901
    store.sweep()
    assert len(store) == 0 and all(store.get(s.token) is None for s in forgotten)


def test_a_page_that_cannot_keep_up_is_told_to_resynchronise() -> None:
    feed = LiveFeed(queue_size=3)
    slow = feed.subscribe()
    feed.stage("alarm", {"n": 1})
    feed.discard()  # a rolled-back transaction: never shown
    feed.flush()
    assert slow.queue.empty()
    for n in range(5):
        feed.stage("node", {"n": n})
    feed.flush()
    messages = [slow.queue.get_nowait() for _ in range(slow.queue.qsize())]
    assert messages[0] == ("resync", {}) and slow.resyncs == 1
    feed.unsubscribe(slow)
    feed.stage("node", {"n": 9})
    feed.flush()
    assert feed._staged == []


SITE = '[site]\nid = 1\nname = "s"\nkey_file = "site.key"\n[dashboard]\n'


@pytest.mark.parametrize(
    "dashboard,message",
    [
        ('listen = "0.0.0.0:8443"\naccounts_file = "ops.txt"', "reachable from the network: set tls_cert"),
        ('accounts_file = "missing.txt"', "cannot read"),
        ('accounts_file = "empty.txt"', "has no accounts"),
        ('accounts_file = "ops.txt"\ntls_cert = "ops.txt"', "give both tls_cert and tls_key"),
        ('listen = "localhost"\naccounts_file = "ops.txt"', 'expected "host:port"'),
        ('accounts_file = "ops.txt"\nsession_hours = 0', "outside"),
        ('accounts_file = "ops.txt"\npassword = "x"', "unknown"),
    ],
)
def test_a_dashboard_config_that_cannot_be_safe_is_refused_with_the_reason(
    tmp_path: Path, dashboard: str, message: str
) -> None:
    (tmp_path / "site.key").write_text("ab" * 32)
    (tmp_path / "site.key").chmod(0o600)
    add_account(tmp_path / "ops.txt", "alice", "operator", "a good password", n=FAST)
    (tmp_path / "empty.txt").write_text("# nobody yet\n")
    with pytest.raises(ConfigError, match=message):
        parse(SITE + dashboard + "\n", "gw.toml", tmp_path)


def test_the_dashboard_is_off_until_an_accounts_file_is_named_and_on_loopback_without_tls(tmp_path: Path) -> None:
    (tmp_path / "site.key").write_text("ab" * 32)
    (tmp_path / "site.key").chmod(0o600)
    assert parse(SITE, "gw.toml", tmp_path).dashboard is None
    add_account(tmp_path / "ops.txt", "alice", "operator", "a good password", n=FAST)
    config = parse(SITE + 'accounts_file = "ops.txt"\n', "gw.toml", tmp_path).dashboard
    assert config is not None and config.host_port == ("127.0.0.1", 8080) and config.tls_cert is None
    assert parse(SITE + 'listen = ""\naccounts_file = "ops.txt"\n', "gw.toml", tmp_path).dashboard is None


def perimeter_cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", *args], input=stdin, capture_output=True, text=True, timeout=60
    )


def test_the_operator_command_adds_lists_and_removes_accounts_with_clear_errors(tmp_path: Path) -> None:
    ops = str(tmp_path / "ops.txt")
    done = perimeter_cli("operator", "add", "alice", "--accounts", ops, "--password-stdin", stdin="a long password\n")
    assert done.returncode == 0 and "alice is an operator" in done.stdout
    done = perimeter_cli(
        "operator", "add", "bob", "--role", "viewer", "--accounts", ops, "--password-stdin", stdin="x\n"
    )
    assert done.returncode == 2 and "at least 8 characters" in done.stderr and "Traceback" not in done.stderr
    assert perimeter_cli("operator", "list", "--accounts", ops).stdout == "alice operator\n"
    done = perimeter_cli("operator", "remove", "carol", "--accounts", ops)
    assert done.returncode == 2 and "no account 'carol'" in done.stderr
    assert perimeter_cli("operator", "remove", "alice", "--accounts", ops).returncode == 0
    assert perimeter_cli("operator", "list", "--accounts", ops).stdout == ""
