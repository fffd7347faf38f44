"""The config file: the template works as it is, and every mistake is named by key and line."""

import subprocess
import sys
from pathlib import Path

import pytest

from gateway.config import TEMPLATE, ConfigError, load, parse

PERIMETER = str(Path(sys.executable).with_name("perimeter"))


@pytest.fixture
def site(tmp_path: Path) -> Path:
    key = tmp_path / "site.key"
    key.write_text("ab" * 32)
    key.chmod(0o600)
    return tmp_path


def test_printed_template_is_a_valid_config(site: Path) -> None:
    result = subprocess.run([PERIMETER, "gateway", "config-template"], capture_output=True, text=True)
    assert result.returncode == 0
    (site / "gateway.toml").write_text(result.stdout)
    config = load(site / "gateway.toml")
    assert config.site_key == bytes.fromhex("ab" * 32) and config.journal == site / "journal.sqlite"
    assert config.missed_heartbeats * config.default_heartbeat_s <= 90  # DESIGN: comm-fail reported within 90 s


def _line(text: str, fragment: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if fragment in line)


@pytest.mark.parametrize(
    "change, key, message",
    [
        (("port = 1883", 'port = "1883"'), "mqtt.port", 'expected an integer, got "1883"'),
        (("encrypted = true", "encrypted = true\ncolour = 1"), "site.colour", "unknown key"),
        (("id = 1 ", "id = -1 "), "site.id", "-1 is outside 0..4294967295"),
        (('name = "site"', 'name = "a/b"'), "site.name", "use letters, digits"),
        (("missed_heartbeats = 3", "missed_heartbeats = 0"), "supervision.missed_heartbeats", "0 is outside 1..100"),
        (('listen = "127.0.0.1:9464"', 'listen = "everywhere"'), "metrics.listen", 'expected "host:port"'),
    ],
)
def test_broken_config_names_the_key_and_line(site: Path, change: tuple[str, str], key: str, message: str) -> None:
    text = TEMPLATE.replace(*change, 1)
    assert text != TEMPLATE
    with pytest.raises(ConfigError) as caught:
        parse(text, "gateway.toml", site)
    line = _line(text, change[1].splitlines()[-1])
    assert "%s (line %d): %s" % (key, line, message) in str(caught.value)


def test_toml_syntax_error_gives_the_parsers_line_and_column(site: Path) -> None:
    text = TEMPLATE.replace("encrypted = true", "encrypted = yes")
    with pytest.raises(
        ConfigError, match=r"not valid TOML: .*\(at line %d, column 13\)" % _line(text, "encrypted = yes")
    ):
        parse(text, "gateway.toml", site)


def test_transport_and_node_blocks_are_checked_too(site: Path) -> None:
    text = TEMPLATE + '\n[[transport.serial]]\nname = "a"\nport = "/dev/ttyS0"\nbaudrate = "fast"\n'
    with pytest.raises(ConfigError, match=r"transport.serial\[0\].baudrate \(line \d+\): expected an integer"):
        parse(text, "gateway.toml", site)
    text = TEMPLATE + "\n[[node]]\nid = 7\n\n[[node]]\nid = 7\n"
    with pytest.raises(ConfigError, match=r"node\[1\].id \(line \d+\): node 7 is listed twice"):
        parse(text, "gateway.toml", site)
    tcp = '\n[[transport.tcp]]\nname = "x"\nhost = "h"\nport = %d\n'
    text = TEMPLATE + tcp % 1 + tcp % 2
    with pytest.raises(ConfigError, match="transport name 'x' is used twice"):
        parse(text, "gateway.toml", site)


def test_the_site_plan_and_time_zone_are_checked_with_the_rest(site: Path) -> None:
    zone = '\n[[perimeter.zone]]\nname = "north"\nstart_m = 0\nend_m = 100\n'
    camera = '\n[[plan.camera]]\nname = "cam-1"\nx = 0\ny = -5\npreset = "gate"\nzones = ["%s"]\n'
    config = parse(TEMPLATE + zone + camera % "north", "gateway.toml", site)
    assert config.plan.cameras_for("north")[0].preset == "gate" and config.timezone == "UTC"
    with pytest.raises(ConfigError, match=r"plan.camera\[0\].zones .*no zone south"):
        parse(TEMPLATE + zone + camera % "south", "gateway.toml", site)
    line = '\n[[plan.line]]\nname = "inner"\nkind = "moat"\npoints = [[0, 0], [5, 5]]\n'
    with pytest.raises(ConfigError, match=r"plan.line\[0\].kind .*'moat' is not one of fence, wall, gate"):
        parse(TEMPLATE + line, "gateway.toml", site)
    text = TEMPLATE.replace('timezone = "UTC"', 'timezone = "Mars/Olympus"', 1)
    with pytest.raises(ConfigError, match=r"site.timezone \(line \d+\): unknown time zone 'Mars/Olympus'"):
        parse(text, "gateway.toml", site)
    image = TEMPLATE.replace('# image = "site-plan.png"', 'image = "aerial.png"', 1)
    with pytest.raises(ConfigError, match="an image needs its lower-left and upper-right corners"):
        parse(image, "gateway.toml", site)


def test_site_key_readable_by_others_is_refused(site: Path) -> None:
    (site / "site.key").chmod(0o644)
    with pytest.raises(ConfigError, match="readable by group or others; chmod 600"):
        parse(TEMPLATE, "gateway.toml", site)


def test_missing_or_short_site_key_is_named(site: Path) -> None:
    (site / "site.key").write_text("abcd")
    with pytest.raises(ConfigError, match="must hold 32 bytes"):
        parse(TEMPLATE, "gateway.toml", site)
    (site / "site.key").unlink()
    with pytest.raises(ConfigError, match="site.key_file: cannot read"):
        parse(TEMPLATE, "gateway.toml", site)


@pytest.mark.parametrize(
    "args, message",
    [
        (["gateway", "run", "--config", "/nonexistent/gateway.toml"], "cannot read config /nonexistent/gateway.toml"),
        (["gateway", "run"], "needs --config FILE"),
        (["gateway"], "required: ACTION"),  # sub-commands everywhere: run, check-config, config-template
        (["journal", "verify", "--journal", "/nonexistent.sqlite"], "no journal at /nonexistent.sqlite"),
    ],
)
def test_cli_gives_a_one_line_message_and_exit_2_never_a_traceback(args: list[str], message: str) -> None:
    result = subprocess.run([PERIMETER, *args], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_broken_config_file_stops_the_gateway_with_a_message(site: Path) -> None:
    (site / "gateway.toml").write_text(TEMPLATE.replace("port = 1883", "port = 99999"))
    result = subprocess.run(
        [PERIMETER, "gateway", "run", "--config", str(site / "gateway.toml")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert (
        result.returncode == 2
        and "mqtt.port (line %d): 99999 is outside 1..65535" % _line(TEMPLATE, "port = 1883") in result.stderr
    )
    assert "Traceback" not in result.stderr


def check_config(path: Path) -> "subprocess.CompletedProcess[str]":
    return subprocess.run(
        [PERIMETER, "gateway", "check-config", "--config", str(path)], capture_output=True, text=True, timeout=30
    )


def test_check_config_summarises_a_good_file(site: Path) -> None:
    (site / "gateway.toml").write_text(TEMPLATE)
    result = check_config(site / "gateway.toml")
    assert result.returncode == 0
    # The template is a start, not a site: what it leaves out is said, not passed as "ok".
    assert "usable, with 2 warning(s) (site site, gateway gw1, 0 transports, 0 nodes)" in result.stdout
    assert "warning: no transports: the gateway hears no node" in result.stdout
    assert "warning: no [[node]]: every node's frames are refused as unknown" in result.stdout


def test_check_config_warns_of_a_forwarder_allow_list_left_open(site: Path) -> None:
    # Before, the defaults took datagrams from anyone and check-config said ok (issue 31, point 6).
    open_udp = TEMPLATE + '\n[[transport.semtech_udp]]\nname = "lora"\nport = 1700\n\n[[node]]\nid = 1\n'
    (site / "gateway.toml").write_text(open_udp)
    result = check_config(site / "gateway.toml")
    assert result.returncode == 0, result.stderr
    assert "usable, with 2 warning(s)" in result.stdout
    assert "transport lora takes datagrams from any packet forwarder on the network" in result.stdout
    # Node 1 has no key of its own in the key store (issue 31, point 1).
    assert "1 of 1 nodes (1) are on keys the site key derives" in result.stdout


def test_an_unreadable_mqtt_password_or_ca_file_is_named_at_start(site: Path) -> None:
    text = TEMPLATE.replace('# password_file = "mqtt.password"', 'password_file = "mqtt.password"')
    with pytest.raises(ConfigError, match=r"mqtt.password_file \(line \d+\): cannot read .*mqtt.password"):
        parse(text, "gateway.toml", site)
    (site / "mqtt.password").write_text("secret\n")
    assert parse(text, "gateway.toml", site).mqtt.password_file == str(site / "mqtt.password")
