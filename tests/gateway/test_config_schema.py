"""The config's template, its parser and `dump()` agree, because all three come from one
schema: every default round-trips through each, and the dataclasses' own defaults are the
schema's. `dump()` writes only what the parser would accept."""

from pathlib import Path
from typing import Any

import pytest

from gateway.alarming.alarm_engine import Rules
from gateway.config import DEFAULT, TEMPLATE, GatewayConfig, SemtechUdpConfig, SerialTransportConfig, parse
from gateway.config_dump import dump
from gateway.config_keys import REQUIRED, Table
from gateway.config_schema import SCHEMA, defaults

SITE = {"id": 7, "name": "north", "key_file": "site.key"}


@pytest.fixture
def site(tmp_path: Path) -> Path:
    (tmp_path / "site.key").write_text("ab" * 32)
    (tmp_path / "site.key").chmod(0o600)
    return tmp_path


def read(doc: dict[str, Any], site: Path) -> GatewayConfig:
    return parse(dump(doc), "dumped.toml", site)


def required_of(table: Table) -> dict[str, Any]:
    """An entry with only what the table requires, from the schema's own examples."""
    return {k.name: k.example for k in table.keys if k.default is REQUIRED}


def placed(table: Table, entry: dict[str, Any]) -> dict[str, Any]:
    """A document holding one entry of `table` where the TOML puts it."""
    head, _, sub = table.name.partition(".")
    value: Any = [entry] if table.array else entry
    doc: dict[str, Any] = {"site": dict(SITE)} if head != "site" else {}
    if sub:
        doc[head] = {sub: value}
    elif head == "site":
        doc["site"] = dict(SITE, **entry)
    else:
        doc[head] = value
    return doc


def test_the_template_reads_as_every_default(site: Path) -> None:
    template = TEMPLATE.replace("id = 1 ", "id = 7 ", 1).replace('name = "site"', 'name = "north"', 1)
    assert parse(template, "template.toml", site) == read({"site": SITE}, site)


def test_every_default_written_by_dump_reads_as_leaving_it_out(site: Path) -> None:
    doc: dict[str, Any] = {"site": dict(SITE)}
    for table in SCHEMA:
        if not table.array and "." not in table.name:
            doc.setdefault(table.name, {}).update(defaults(table))
    assert read(doc, site) == read({"site": SITE}, site)


@pytest.mark.parametrize("table", SCHEMA, ids=[t.name for t in SCHEMA])
def test_each_tables_defaults_round_trip_one_by_one(table: Table, site: Path) -> None:
    bare = required_of(table)
    without = read(placed(table, bare), site)
    for name, value in defaults(table).items():
        assert read(placed(table, dict(bare, **{name: value})), site) == without, name


def test_the_dataclasses_and_the_engine_default_to_the_schema(site: Path) -> None:
    config = read({"site": SITE}, site)
    assert config.rules == Rules()
    udp = {k: tuple(v) if isinstance(v, list) else v for k, v in DEFAULT["transport.semtech_udp"].items()}
    assert SemtechUdpConfig(name="c") == SemtechUdpConfig(name="c", **udp)
    assert SerialTransportConfig("s", "/dev/x").baudrate == DEFAULT["transport.serial"]["baudrate"]
    assert config.mqtt.port == DEFAULT["mqtt"]["port"] and config.default_heartbeat_s == 30


def test_dump_writes_what_parse_reads_back(site: Path) -> None:
    doc = {
        "site": dict(SITE, encrypted=False),
        "gateway": {"id": "office", "dedup_window_ms": 150},
        "metrics": {"listen": ""},
        "mqtt": {"port": 18830, "keepalive_s": 5},
        "transport": {"tcp": [{"name": "sim", "host": "127.0.0.1", "port": 7000}]},
        "perimeter": {"polyline": [[0, 0], [300, 0]], "zone": [{"name": "a", "start_m": 0, "end_m": 300.5}]},
        "node": [{"id": 3, "chainage_m": 45, "side": "inner_wall"}],
    }
    config = read(doc, site)
    assert (config.encrypted, config.gateway_id, config.dedup_window_ms, config.metrics_listen) == (
        False,
        "office",
        150,
        None,
    )
    assert (config.mqtt.port, config.mqtt.keepalive_s, config.tcp[0].port) == (18830, 5, 7000)
    assert config.perimeter.zones[0].end_m == 300.5 and config.nodes[0].name == "node-3"
    assert config.perimeter.nodes[3].chainage_m == 45.0 and config.perimeter.nodes[3].side == "inner_wall"


def test_text_with_quotes_and_newlines_survives_dump(site: Path) -> None:
    name = 'mast "7"\nwest\\side \u00e9'
    assert read({"site": SITE, "node": [{"id": 1, "name": name}]}, site).nodes[0].name == name


@pytest.mark.parametrize(
    "doc, message",
    [
        ({"sight": {}}, "unknown table 'sight'"),
        ({"site": dict(SITE, colour="red")}, "unknown key site.colour"),
        ({"transport": {"usb": []}}, "unknown key transport.usb"),
        ({"node": [{"id": 1, "rack": 4}]}, "unknown key node.rack"),
        ({"mqtt": {"port": 0}}, "0 is outside 1..65535"),
        ({"mqtt": {"port": "1883"}}, 'expected an integer, got "1883"'),
        ({"site": dict(SITE, name="north fence")}, "MQTT topic level"),
        ({"node": [{"id": 1, "side": "roof"}]}, "'roof' is not one of"),
    ],
)
def test_dump_refuses_what_parse_would_refuse(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        dump(doc)
