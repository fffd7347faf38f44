"""Bad config files and bad command lines get one clear line and a non-zero exit, never a
traceback. A real config (the template with a site key, a journal, nodes, a perimeter and
the dashboard) is broken two thousand ways at random, and every `perimeter` command is given
input that cannot work; `main()` must answer each with exit 0 or 2 and, for 2, one line."""

import io
import random
import re
from pathlib import Path

import pytest

from gateway.cli import main  # the console script, the simulators plugged in
from gateway.config import TEMPLATE
from gateway.identity.accounts import add_account

GOOD = (
    TEMPLATE.replace('# accounts_file = "operators.txt"', 'accounts_file = "operators.txt"').replace(
        "polyline = [[0, 0]]", "polyline = [[0, 0], [300, 0], [300, 200]]"
    )
    + '\n[[perimeter.zone]]\nname = "north"\n'
    'start_m = 0\nend_m = 300\n\n[[node]]\nid = 7\nname = "n7"\nchainage_m = 45.0\n\n'
    '[[transport.serial]]\nname = "fence"\nport = "/dev/ttyUSB0"\n'
)


@pytest.fixture
def site(tmp_path: Path) -> Path:
    (tmp_path / "site.key").write_text("ab" * 32)
    (tmp_path / "site.key").chmod(0o600)
    add_account(tmp_path / "operators.txt", "alice", "operator", "a good password", n=2**10)
    return tmp_path


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """`perimeter ARGS` in this process: its exit status and what it wrote to stderr. An
    exception escaping main() fails the spec right here (that would be a traceback)."""
    try:
        status = main(args)
    except SystemExit as exc:  # argparse's own usage errors
        status = exc.code if isinstance(exc.code, int) else 2
    return status, capsys.readouterr().err


def one_clear_line(err: str) -> bool:
    lines = [line for line in err.strip().splitlines() if line.strip()]
    return bool(lines) and "Traceback" not in err and len(lines) <= 3 and len(lines[-1]) > 10


WRONG_VALUES = ['"text"', "12", "true", "[1, 2]", "{ a = 1 }", "-1", "99999999999", '""', "1.5"]


def mutate(text: str, rng: random.Random) -> str:
    lines = text.splitlines() or [""]
    i = rng.randrange(len(lines))
    choice = rng.randrange(8)
    if choice == 0:  # cut the file short
        return "\n".join(lines[:i])
    if choice == 1:  # a value of the wrong type or out of range
        lines[i] = re.sub(r"=\s*.*$", "= " + rng.choice(WRONG_VALUES), lines[i])
        return "\n".join(lines)
    if choice == 2:  # a line deleted
        return "\n".join(lines[:i] + lines[i + 1 :])
    if choice == 3:  # a line doubled (duplicate keys and tables)
        return "\n".join(lines[: i + 1] + lines[i:])
    if choice == 4 and text:  # bytes overwritten
        raw = bytearray(text.encode())
        for _ in range(rng.randint(1, 5)):
            raw[rng.randrange(len(raw))] = rng.randrange(32, 127)
        return raw.decode("utf-8", "replace")
    if choice == 5:  # a commented example switched on
        commented = [n for n, line in enumerate(lines) if line.startswith("# ") and "=" in line]
        if commented:
            n = rng.choice(commented)
            lines[n] = lines[n][2:]
        return "\n".join(lines)
    if choice == 6:  # an unknown key
        return "\n".join(lines[:i] + ["colour = %d" % rng.randrange(10)] + lines[i:])
    return "\n".join(lines[:i] + ["[" + rng.choice(["site", "mqtt]", "[node", "dashboard", "x.y"])] + lines[i:])


def test_the_good_config_is_good(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (site / "gateway.toml").write_text(GOOD)
    assert run(["gateway", "check-config", "--config", str(site / "gateway.toml")], capsys)[0] == 0


def test_two_thousand_broken_configs_each_get_a_clear_line_never_a_traceback(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = random.Random(8)
    path = site / "gateway.toml"
    refused = 0
    for _ in range(2000):
        text = GOOD
        for _ in range(rng.randint(1, 3)):
            text = mutate(text, rng)
        path.write_text(text)
        status, err = run(["gateway", "check-config", "--config", str(path)], capsys)
        assert status in (0, 2), (status, text)
        if status == 2:
            refused += 1
            assert one_clear_line(err) and err.startswith("perimeter: "), (err, text)
    assert refused > 1000  # most mutations break something, and each said what


@pytest.mark.parametrize(
    "contents",
    [b"", b"\x00\xff\xfe binary", b"[site]\nid = 1\n", "é = 1".encode("latin-1"), b"[site]\nid = 99999999999\n"],
)
def test_files_that_are_not_configs_are_refused(
    site: Path, contents: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    path = site / "gateway.toml"
    path.write_bytes(contents)
    status, err = run(["gateway", "check-config", "--config", str(path)], capsys)
    assert status == 2 and one_clear_line(err), err


@pytest.mark.parametrize(
    "args, message",
    [
        (["gateway", "run", "--config", "{site}"], "cannot read config"),  # a folder
        (["gateway", "check-config", "--config", "{site}/missing.toml"], "cannot read config"),
        (["gateway", "run"], "needs --config FILE"),
        (["gateway", "frobnicate"], "invalid choice"),
        (["journal", "verify", "--journal", "{site}/none.sqlite"], "no journal at"),
        (["journal", "verify", "--journal", "{site}/site.key"], "cannot be used"),
        (["journal", "export"], "give --journal FILE or --config FILE"),
        (["frame", "decode", "--site-key-file", "{site}/site.key", "--site-id", "1", "zz"], "hex"),
        (["frame", "decode", "--site-key-file", "{site}/missing.key", "--site-id", "1", "00"], "missing.key"),
        (["frame", "decode", "--site-key-file", "{site}/site.key", "--site-id", "x", "00"], "not an integer"),
        (["frame", "encode", "--site-key-file", "{site}/site.key", "--site-id", "1", "{{not json"], "JSON"),
        (["node", "deploy", "--board", "esp32"], "needs --port, --node-id and --config"),
        (
            [
                "node",
                "deploy",
                "--port",
                "/dev/null",
                "--node-id",
                "7",
                "--site-key-file",
                "{site}/x",
                "--site-id",
                "1",
            ],
            "cannot read site key file",
        ),
        # No default site id: a forgotten flag would make a node every frame of which is refused.
        (["node", "deploy", "--port", "/dev/null", "--node-id", "7", "--site-key-file", "{site}/x"], "needs --site-id"),
        (["node", "build", "--board", "arduino"], "invalid choice"),
        (["operator", "add", "--accounts", "{site}/ops.txt"], "needs a NAME"),
        (["operator", "add", "bad name!", "--accounts", "{site}/ops.txt", "--password-stdin"], "a name is"),
        (["operator", "list", "--accounts", "{site}/none.txt"], "no accounts file"),
        (["operator", "remove", "bob", "--accounts", "{site}/operators.txt"], "no account 'bob'"),
        (["sim", "run", "{site}/none.toml"], "none.toml"),
        (["sim", "run", "{site}/site.key"], "not valid TOML"),
        (["demo", "--speed", "0"], "--speed must be positive"),
        (["demo", "--speed", "fast"], "invalid float value"),
        (["demo", "--dashboard", "nowhere"], "--dashboard takes"),
        ([], "required: COMMAND"),
    ],
)
def test_bad_command_lines_get_a_clear_line_and_a_non_zero_exit(
    site: Path, args: list[str], message: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    status, err = run([a.format(site=site) for a in args], capsys)
    assert status == 2, (status, err)
    assert message in err and "Traceback" not in err, err
