"""From the package to a running site, as an installer with a new server does it: the wheel
built and installed into a fresh venv, and every command run from a folder outside the
checkout. `site init` writes the site (password on stdin), `check-config` reads it, Mosquitto
runs on the broker files it wrote, the gateway on the config it wrote with its state in a
folder of its own, a node provisioned by `node deploy` for that site is heard, its climb is an
alarm an operator's account sees on MQTT, and `journal verify --witness` passes. The units it
wrote pass `systemd-analyze verify` and agree with each other and with gateway.toml."""

import asyncio
import getpass
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from gateway.config_dump import dump
from protocol.keys import NodeKey
from simulators.broker import free_port, wait_for_port
from simulators.frame_node import SimNode
from simulators.pty_link import Pty

CHECKOUT = Path(__file__).resolve().parents[1]
PASSWORD = "a long supervisor password"
SITE_ID = 5


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bin folder of a fresh venv with the wheel (and its node extra) installed."""
    work = tmp_path_factory.mktemp("wheel")
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "-w", str(work), str(CHECKOUT)], check=True, capture_output=True)
    (wheel,) = work.glob("perimeter-*.whl")
    subprocess.run([sys.executable, "-m", "venv", str(work / "venv")], check=True)
    venv_pip = [str(work / "venv" / "bin" / "python"), "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*venv_pip, "install", "%s[node]" % wheel], check=True, capture_output=True)
    return work / "venv" / "bin"


def perimeter(bin_dir: Path, cwd: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = "%s:%s" % (bin_dir, env["PATH"])
    return subprocess.run(
        [str(bin_dir / "perimeter"), *args], cwd=cwd, input=stdin, capture_output=True, text=True, timeout=120, env=env
    )


@pytest.fixture
def site(installed: Path, tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """An installer's folder outside the checkout, with `site init` run in it."""
    desk = tmp_path / "installer"
    desk.mkdir()
    assert not desk.resolve().is_relative_to(CHECKOUT)
    init = ["site", "init", "etc", "--name", "hmp-test", "--id", str(SITE_ID), "--supervisor", "s.jones"]
    init += ["--state-dir", "state", "--no-off-host-witness", "--mqtt-port", str(free_port()), "--password-stdin"]
    init += ["--timezone", "Europe/London"]  # the dashboard's and the reports' clock
    result = perimeter(installed, desk, *init, stdin=PASSWORD + "\n")
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    yield desk / "etc", desk / "state"


def test_the_units_site_init_writes_verify_and_agree_with_each_other_and_the_config(
    site: tuple[Path, Path], installed: Path
) -> None:
    etc, state = site
    units = etc / "systemd"
    verify = subprocess.run(
        ["systemd-analyze", "verify", *map(str, sorted(units.glob("*.service")))], capture_output=True, text=True
    )
    assert verify.returncode == 0 and verify.stderr.strip() == "", verify.stderr
    assert 'timezone = "Europe/London"' in (etc / "gateway.toml").read_text()
    gateway = (units / "perimeter-gateway.service").read_text()
    broker = (units / "perimeter-mosquitto.service").read_text()
    config = tomllib.loads((etc / "gateway.toml").read_text())

    def setting(unit: str, key: str) -> list[str]:
        return re.findall(r"^%s=(.*)$" % key, unit, re.M)

    assert setting(gateway, "ExecStart") == [
        "%s gateway run --config %s" % (installed / "perimeter", etc / "gateway.toml")
    ]
    assert "perimeter-mosquitto.service" in setting(gateway, "After")[0].split()  # the unit site init wrote
    assert setting(broker, "ExecStart") == ["/usr/sbin/mosquitto -c %s" % (etc / "broker" / "mosquitto.conf")]
    assert setting(gateway, "User") == setting(broker, "User") == ["perimeter"]
    assert "u perimeter " in (units / "perimeter.sysusers").read_text()  # what makes that user
    # Everything the gateway writes is where its unit lets it write.
    assert setting(gateway, "ReadWritePaths") == [str(state)] == setting(gateway, "WorkingDirectory")
    written = [config["gateway"]["journal"], config["site"]["node_keys_file"], config["site"]["revocations_file"]]
    assert all(Path(p).parent == state for p in written), written
    assert setting(broker, "ReadWritePaths") == [str(state / "mosquitto")]
    assert "persistence_location %s/" % (state / "mosquitto") in (etc / "broker" / "mosquitto.conf").read_text()
    assert setting(gateway, "UMask") == setting(broker, "UMask") == ["0027"]
    # Read by the service user and nobody else.
    for path in [etc, *etc.rglob("*"), state, *state.rglob("*")]:
        assert path.stat().st_mode & 0o077 == 0, path


def test_a_failed_init_leaves_nothing_and_a_second_one_says_what_is_there(
    site: tuple[Path, Path], installed: Path, tmp_path: Path
) -> None:
    desk = tmp_path / "installer"
    again = perimeter(installed, desk, "site", "init", "etc", "--name", "x", "--supervisor", "a.b", "--password-stdin",
                      "--no-off-host-witness", "--state-dir", "other", stdin=PASSWORD + "\n")  # fmt: skip
    assert again.returncode == 2 and "already exists and holds broker, gateway.toml" in again.stderr, again.stderr
    init = ["site", "init", "new", "--name", "x", "--supervisor", "bad name!", "--password-stdin"]
    bad = perimeter(installed, desk, *init, "--no-off-host-witness", "--state-dir", "new-state", stdin=PASSWORD + "\n")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr, bad.stderr
    assert sorted(p.name for p in desk.iterdir()) == ["etc", "state"]  # no half-written site, no staging folder


async def test_from_the_wheel_to_an_alarm_an_operator_sees_and_a_journal_that_verifies(
    site: tuple[Path, Path], installed: Path, tmp_path: Path
) -> None:
    etc, state = site
    desk = etc.parent
    pty = Pty(desk / "ttyFENCE")
    config = tomllib.loads((etc / "gateway.toml").read_text())
    config["perimeter"] = {"polyline": [[0, 0], [300, 0]], "zone": [{"name": "north", "start_m": 0, "end_m": 300}]}
    config["node"] = [{"id": 7, "name": "post-7", "chainage_m": 45.0}]
    config["transport"] = {"serial": [{"name": "fence", "port": str(pty.link)}]}
    config["alarms"] = {"fence_window_s": 0.2}
    config["dashboard"]["listen"] = ""
    config["metrics"] = {"listen": ""}
    config["witness"].update(file=str(state / "witness.log"), every_s=1.0)
    (etc / "gateway.toml").write_text(dump(config))
    checked = perimeter(installed, desk, "gateway", "check-config", "--config", "etc/gateway.toml")
    assert checked.returncode == 0 and "1 transports, 1 nodes" in checked.stdout, checked.stdout + checked.stderr

    deploy = ["node", "deploy", "--port", "/dev/ttyUSB0", "--node-id", "7", "--config", "etc/gateway.toml"]
    deployed = perimeter(installed, desk, *deploy, "--out", "build/node-esp32", "--dry-run")
    assert deployed.returncode == 0, deployed.stderr
    identity = json.loads((desk / "build" / "identity-7.json").read_text())
    assert identity["site_id"] == SITE_ID  # from the config: no flag to forget

    conf = etc / "broker" / "mosquitto.conf"
    if os.getuid() == 0:  # as root Mosquitto would drop to its own user and not read the 0600 files
        conf.write_text(conf.read_text() + "user %s\n" % getpass.getuser())
    port = config["mqtt"]["port"]
    broker = subprocess.Popen([shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c", str(conf)])
    gateway: subprocess.Popen[bytes] | None = None
    try:
        wait_for_port(port)
        env = dict(os.environ, PATH="%s:%s" % (installed, os.environ["PATH"]))
        env.pop("PYTHONPATH", None)
        run = [str(installed / "perimeter"), "gateway", "run", "--config", "etc/gateway.toml"]
        gateway = subprocess.Popen(run,
                                   cwd=desk, env=env, stderr=(desk / "gateway.log").open("wb"))  # fmt: skip
        async with aiomqtt.Client("127.0.0.1", port, username="s.jones", password=PASSWORD) as operator:
            await operator.subscribe("perimeter/hmp-test/gw1/alarm/#", qos=1)
            node = SimNode(7, site_id=SITE_ID)
            node.key = NodeKey(bytes.fromhex(identity["node_key"]))  # its own key, as deploy gave it
            feeder = asyncio.create_task(climb(pty, node))
            alarm: dict[str, Any] = {}
            try:
                async with asyncio.timeout(30):
                    async for message in operator.messages:
                        alarm = json.loads(bytes(message.payload)) if message.payload else {}  # type: ignore[arg-type]
                        if alarm.get("category") == "intrusion":
                            break
            finally:
                feeder.cancel()
            assert alarm is not None and alarm["zone"] == "north", alarm
        await asyncio.sleep(1.5)  # a checkpoint past the alarm
    finally:
        if gateway is not None:
            gateway.send_signal(signal.SIGTERM)  # a clean stop writes a last checkpoint
            assert gateway.wait(20) == 0
        broker.terminate()
        broker.wait(10)
        pty.unplug()
    assert (state / "journal.sqlite").exists() and not (etc / "journal.sqlite").exists()
    verify = ["journal", "verify", "--config", "etc/gateway.toml", "--witness", str(state / "witness.log")]
    verified = perimeter(installed, desk, *verify, "--witness-key", "etc/witness.pub")
    assert verified.returncode == 0 and "chain intact" in verified.stdout, verified.stdout + verified.stderr


async def climb(pty: Pty, node: SimNode) -> None:
    """The node's heartbeat and a climb each second, until the operator has seen the alarm."""
    while True:
        pty.write(node.heartbeat())
        pty.write(node.fence(peak=3000))
        await asyncio.sleep(1.0)
