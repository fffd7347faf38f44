"""`perimeter node build` compiles every node module for the ESP32 (xtensawin) and the
RP2040 (armv6m); `deploy` writes the node's derived key and never the site key."""

import json
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.tools import node_tool
from protocol.keys import derive_node_key


@pytest.mark.parametrize("board,arch", [("esp32", "xtensawin"), ("rp2", "armv6m")])
def test_every_node_module_compiles_for_the_boards_architecture(tmp_path: Path, board: str, arch: str) -> None:
    assert main(["node", "build", "--board", board, "--out", str(tmp_path)]) == 0
    sources = node_tool.node_sources()
    assert any(p.name == "acoustic.py" for p in sources) and any(p.name == "node.py" for p in sources)
    for source in sources:
        compiled = tmp_path / source.relative_to(node_tool.ROOT).with_suffix(".mpy")
        header = compiled.read_bytes()[:4]
        assert header[0:1] == b"M" and header[1] == 6, (compiled, header)  # .mpy version 6
    assert (
        'BOARD = "%s"' % board in (tmp_path / "main.py").read_text()
        or "BOARD = '%s'" % board in (tmp_path / "main.py").read_text()
    )


def test_deploy_writes_the_nodes_own_key_and_never_the_site_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    site_key = bytes(range(32))
    key_file = tmp_path / "site.key"
    key_file.write_text(site_key.hex())
    key_file.chmod(0o600)  # as the gateway and the frame tool insist
    out = tmp_path / "build"
    argv = ["node", "deploy", "--port", "/dev/ttyUSB0", "--node-id", "12", "--site-id", "4242"]
    assert main([*argv, "--site-key-file", str(key_file), "--out", str(out), "--dry-run"]) == 0
    identity = json.loads((tmp_path / "identity-12.json").read_text())
    assert identity["node_key"] == derive_node_key(site_key, 12).hex() and identity["site_id"] == 4242
    for path in [tmp_path / "identity-12.json", *out.rglob("*")]:
        if path.is_file():
            assert site_key.hex() not in path.read_bytes().hex() and site_key not in path.read_bytes()
    assert "mpremote connect /dev/ttyUSB0 fs cp" in capsys.readouterr().out


def test_deploy_without_a_key_file_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["node", "deploy", "--port", "/dev/ttyUSB0", "--node-id", "1", "--site-key-file", str(tmp_path / "nope")]
    assert main(argv) == 2
    assert "cannot read site key file" in capsys.readouterr().err
