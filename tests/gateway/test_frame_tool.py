"""`perimeter frame decode|encode|check-vectors`, as an installer or engineer uses it."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.cli import main
from tests.protocol.support import load_vectors

VECTORS = load_vectors("frames.json")
SITE_ID = str(VECTORS["site_id"])
CLIMB = next(e for e in VECTORS["valid"] if e["name"] == "fence_climb")


@pytest.fixture
def key_file(tmp_path: Path) -> str:
    path = tmp_path / "site.key"
    path.write_text(VECTORS["site_key"] + "\n")
    path.chmod(0o600)
    return str(path)


def perimeter(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """The installed console script, as a person would run it."""
    exe = Path(sys.executable).with_name("perimeter")
    return subprocess.run([str(exe), *args], input=stdin, capture_output=True, text=True, timeout=60)


def test_installed_command_decodes_a_serial_frame_to_json(key_file: str) -> None:
    result = perimeter("frame", "decode", "--site-key-file", key_file, "--site-id", SITE_ID, CLIMB["serial"])
    assert result.returncode == 0, result.stderr
    decoded = json.loads(result.stdout)
    assert decoded["type"] == "FENCE" and decoded["fields"] == CLIMB["fields"]
    assert decoded["labels"] == {"class": "climb"}


def test_encode_piped_into_decode_round_trips(key_file: str) -> None:
    spec = {
        "type": "FENCE",
        "node_id": 7,
        "ctr": 999,
        "ack_req": True,
        "fields": dict(CLIMB["fields"], **{"class": "cut"}),
    }
    keyed = ["--site-key-file", key_file, "--site-id", SITE_ID]
    encoded = perimeter("frame", "encode", *keyed, json.dumps(spec))
    assert encoded.returncode == 0, encoded.stderr
    decoded = perimeter("frame", "decode", *keyed, "-", stdin=encoded.stdout)
    assert json.loads(decoded.stdout)["fields"]["class"] == 2


@pytest.mark.parametrize("entry", [e for e in VECTORS["invalid"] if e.get("packet") != ""], ids=lambda e: e["name"])
def test_rejected_frame_gives_one_line_naming_the_error_kind(
    key_file: str, entry: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["frame", "decode", "--site-key-file", key_file, "--site-id", SITE_ID, "--dir", entry["dir"]]
    if "packet" in entry:
        args.append("--packet")
    if "last_ctr" in entry:
        args += ["--last-ctr", str(entry["last_ctr"])]
    assert main([*args, entry.get("serial") or entry["packet"]]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("rejected: %s " % entry["error"])


def test_empty_input_is_a_usage_error(key_file: str, capsys: pytest.CaptureFixture[str]) -> None:
    result = perimeter("frame", "decode", "--site-key-file", key_file, "--site-id", SITE_ID, stdin="\n")
    assert result.returncode == 2 and "no frame given" in result.stderr


def test_plain_site_frames_decode_with_plain(key_file: str, capsys: pytest.CaptureFixture[str]) -> None:
    plain = load_vectors("frames_plain.json")["valid"][0]
    assert main(["frame", "decode", "--plain", "--site-key-file", key_file, "--site-id", SITE_ID, plain["serial"]]) == 0
    assert json.loads(capsys.readouterr().out)["fields"] == plain["fields"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["decode", "--site-id", SITE_ID, "zz"], "not hex"),
        (["encode", "--site-id", SITE_ID, "{"], "not JSON"),
        (
            ["encode", "--site-id", SITE_ID, '{"type": "FENCE", "node_id": 7, "ctr": 1, "fields": {"class": "jump"}}'],
            "FENCE.class has no value 'jump'",
        ),
        (
            ["encode", "--site-id", SITE_ID, '{"type": "BOGUS", "node_id": 7, "ctr": 1, "fields": {}}'],
            "unknown message type",
        ),
        (
            ["encode", "--site-id", SITE_ID, '{"type": "ACK", "node_id": 0, "ctr": 1, "fields": {"acked_ctr": 1}}'],
            "node_id 0 outside",
        ),
    ],
)
def test_bad_input_gets_a_clear_message_and_exit_status_2(key_file: str, args: list[str], message: str) -> None:
    result = perimeter("frame", args[0], "--site-key-file", key_file, *args[1:])
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_missing_or_malformed_key_file_is_named(tmp_path: Path) -> None:
    missing = perimeter("frame", "decode", "--site-key-file", str(tmp_path / "nope"), "--site-id", "1", "00")
    assert missing.returncode == 2 and "cannot read site key file" in missing.stderr
    short = tmp_path / "short.key"
    short.write_text("abcd")
    short.chmod(0o600)
    bad = perimeter("frame", "decode", "--site-key-file", str(short), "--site-id", "1", "00")
    assert bad.returncode == 2 and "must hold 32 bytes" in bad.stderr


def test_key_file_readable_by_others_is_refused_as_the_gateway_refuses_it(
    key_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    os.chmod(key_file, 0o644)
    assert main(["frame", "decode", "--site-key-file", key_file, "--site-id", SITE_ID, CLIMB["serial"]]) == 2
    assert "readable by group or others; chmod 600 it" in capsys.readouterr().err


def test_check_vectors_round_trips_every_shipped_vector() -> None:
    result = perimeter("frame", "check-vectors")
    assert result.returncode == 0, result.stdout
    total = len(VECTORS["valid"]) + len(VECTORS["invalid"])
    assert result.stdout.splitlines()[-1] == "%d vectors, %d round-tripped, 0 failed" % (2 * total, 2 * total)


def test_check_vectors_fails_on_a_doctored_vector(tmp_path: Path) -> None:
    doc = load_vectors("frames.json")
    doc["valid"][0]["fields"]["boot_count"] += 1
    path = tmp_path / "doctored.json"
    path.write_text(json.dumps(doc))
    result = perimeter("frame", "check-vectors", str(path))
    assert result.returncode == 1 and "FAIL hello_after_power_on" in result.stdout
