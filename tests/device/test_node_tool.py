"""`perimeter node build` builds the RP2040 image and the 32-bit node interpreter from the
pinned MicroPython sources, cached by their inputs, and compiles every node module for the
ESP32 (xtensawin) and the RP2040 (armv6m); `deploy` writes the node's derived key and never
the site key."""

import json
import time
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.tools import node_image, node_tool
from protocol.keys import derive_node_key


@pytest.mark.parametrize("board,arch", [("esp32", "xtensawin"), ("rp2", "armv6m")])
def test_every_node_module_compiles_for_the_boards_architecture(tmp_path: Path, board: str, arch: str) -> None:
    node_tool.build(board, tmp_path)  # for rp2, what `node build --board rp2` freezes into its image
    sources = node_tool.node_sources(arch=arch)
    assert any(p.name == "acoustic.py" for p in sources) and any(p.name == "node.py" for p in sources)
    for source in sources:
        compiled = tmp_path / source.relative_to(node_tool.ROOT).with_suffix(".mpy")
        header = compiled.read_bytes()[:4]
        assert header[0:1] == b"M" and header[1] == 6, (compiled, header)  # .mpy version 6
    assert (tmp_path / "main.py").read_text() == (node_tool.ROOT / "device" / "main.py").read_text()
    assert not (tmp_path / "device" / "manifest.mpy").exists()
    assert not any((tmp_path / "protocol" / name).with_suffix(".mpy").exists() for name in node_tool.GATEWAY_ONLY)


@pytest.mark.parametrize("board,name", [("unix32", "micropython"), ("rp2", "firmware.uf2")])
def test_an_image_is_built_once_then_taken_from_the_cache(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], board: str, name: str
) -> None:
    assert main(["node", "build", "--board", board, "--out", str(tmp_path / "a")]) == 0
    first = capsys.readouterr().out
    started = time.monotonic()
    assert main(["node", "build", "--board", board, "--out", str(tmp_path / "b")]) == 0
    print(first, "second build took %.2f s" % (time.monotonic() - started))
    assert "reused from the cache" in capsys.readouterr().out
    assert time.monotonic() - started < 10
    assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_the_rp2_image_freezes_the_node_and_its_boot_script() -> None:
    image = Path(node_image.build("rp2")).read_bytes()
    assert image[:4] == b"UF2\n"  # UF2 block magic (0x0A324655, little-endian)
    for module in (
        b"device/node.py",
        b"device/detect/acoustic.py",
        b"protocol/packet.py",
        b"main.py",
        b"lora/sx127x.py",
    ):
        assert module in image, module
    for name in node_tool.GATEWAY_ONLY:
        assert b"protocol/" + name.encode() not in image


def test_the_image_key_changes_with_any_frozen_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = node_image.image_key("rp2")
    copy = tmp_path / "node.py"
    copy.write_bytes((node_tool.ROOT / "device" / "node.py").read_bytes() + b"# changed\n")
    real = node_image.Target.frozen_inputs

    def with_change(self: node_image.Target, tree: Path) -> list[Path]:
        return [copy if p.name == "node.py" and p.parent.name == "device" else p for p in real(self, tree)]

    monkeypatch.setattr(node_image.Target, "frozen_inputs", with_change)
    assert node_image.image_key("rp2") != before


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
    assert main([*argv, "--site-id", "1"]) == 2
    assert "cannot read site key file" in capsys.readouterr().err


def test_an_rp2040_deploy_copies_the_image_to_the_bootsel_drive_then_writes_only_the_identity(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key_file = tmp_path / "site.key"
    key_file.write_text(bytes(range(32)).hex())
    key_file.chmod(0o600)
    argv = [
        "node",
        "deploy",
        "--board",
        "rp2",
        "--port",
        "/dev/ttyACM0",
        "--node-id",
        "5",
        "--site-key-file",
        str(key_file),
        "--site-id",
        "1",
    ]
    assert main([*argv, "--out", str(tmp_path / "out")]) == 2
    assert "needs --drive" in capsys.readouterr().err
    assert main([*argv, "--out", str(tmp_path / "out"), "--dry-run"]) == 0
    printed = capsys.readouterr().out
    assert "firmware.uf2 RPI-RP2/" in printed and "fs cp" in printed and ":identity.json" in printed
    assert "fs cp -r" not in printed  # the node is frozen into the image: no files to copy


def test_the_image_goes_only_onto_a_drive_that_is_an_rp2040_in_bootsel(tmp_path: Path) -> None:
    image = tmp_path / "firmware.uf2"
    image.write_bytes(b"UF2\n" + bytes(508))
    not_a_board = tmp_path / "usb-stick"
    not_a_board.mkdir()
    with pytest.raises(node_tool.NodeToolError, match="not an RP2040 BOOTSEL drive"):
        node_tool.install_uf2(image, not_a_board)
    bootsel = tmp_path / "RPI-RP2"
    bootsel.mkdir()
    (bootsel / "INFO_UF2.TXT").write_text("UF2 Bootloader v3.0\nModel: Raspberry Pi RP2\nBoard-ID: RPI-RP2\n")
    assert node_tool.install_uf2(image, bootsel).read_bytes() == image.read_bytes()


def test_without_the_pinned_sources_a_build_says_what_to_fetch_and_where_to_put_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PERIMETER_CACHE", str(tmp_path / "cache"))  # an empty cache: no kept copy
    monkeypatch.setenv("PERIMETER_THIRD_PARTY", str(tmp_path / "nothing-here"))
    assert main(["node", "build", "--board", "unix32", "--out", str(tmp_path / "out")]) == 2
    said = capsys.readouterr().err.strip()
    assert "\n" not in said and node_image.TARBALL in said and node_image.TARBALL_SHA256 in said, said
    assert str(tmp_path / "cache" / "third_party") in said  # where to put it

    impostor = tmp_path / "impostor"
    impostor.mkdir()
    (impostor / node_image.TARBALL).write_bytes(b"not micropython")
    monkeypatch.setenv("PERIMETER_THIRD_PARTY", str(impostor))
    assert main(["node", "build", "--board", "unix32", "--out", str(tmp_path / "out")]) == 2
    assert "is not the pinned tarball" in capsys.readouterr().err
