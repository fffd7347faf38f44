"""The gateway's one TOML config file: read, validated, and explained when it is wrong.

A broken config gets a `ConfigError` naming the key and, where the file has it, the line
(`transport.serial[1].baudrate (line 23): expected an integer, got "fast"`), never a
traceback. `TEMPLATE` is the commented default that `perimeter gateway config-template`
prints.
"""

import os
import re
import stat
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.alarming.alarm_engine import Rules
from gateway.alarming.fusion import CommonModeRejection, DroneRule, JammingRule, ThrowOverRule
from gateway.alarming.perimeter import OUTER_FENCE, SIDES, Perimeter, PlacedNode, Zone
from gateway.dashboard.accounts import AccountError, parse_accounts
from gateway.outputs.integrations import DEFAULT_ACTIONS, MilestoneConfig, WebhookConfig
from protocol.keys import SITE_KEY_SIZE


class ConfigError(Exception):
    """The config cannot be used; the message names the key and line."""


@dataclass(frozen=True)
class SerialTransportConfig:
    name: str
    port: str
    baudrate: int = 115200


@dataclass(frozen=True)
class TcpTransportConfig:
    name: str
    host: str
    port: int


@dataclass(frozen=True)
class SemtechUdpConfig:
    name: str
    host: str = "0.0.0.0"
    port: int = 1700
    # Downlinks (PULL_RESP) go out on the uplink's channel and data rate, this long after
    # the uplink ended (the node listens then, as in LoRaWAN's RX1), at this power.
    downlink_delay_ms: int = 1000
    downlink_power_dbm: int = 14


@dataclass(frozen=True)
class MqttConfig:
    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password_file: str | None = None
    tls: bool = False
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    keepalive_s: int = 30
    inflight: int = 10
    prefix: str = "perimeter"


@dataclass(frozen=True)
class NodeConfig:
    id: int
    name: str
    heartbeat_s: int | None = None
    chainage_m: float | None = None
    side: str = OUTER_FENCE


@dataclass(frozen=True)
class DashboardConfig:
    listen: str
    accounts_file: Path
    tls_cert: str | None = None
    tls_key: str | None = None
    session_idle_s: int = 15 * 60
    session_max_s: int = 12 * 3600

    @property
    def host_port(self) -> tuple[str, int]:
        host, _, port = self.listen.rpartition(":")
        return host.strip("[]"), int(port)


@dataclass(frozen=True)
class GatewayConfig:
    site_id: int
    site_name: str
    site_key: bytes
    encrypted: bool
    gateway_id: str
    journal: Path
    dedup_window_ms: int = 200
    bad_tag_alarm_count: int = 5
    bad_tag_alarm_window_s: int = 60
    missed_heartbeats: int = 3
    default_heartbeat_s: int = 30
    metrics_listen: str | None = "127.0.0.1:9464"
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    serial: tuple[SerialTransportConfig, ...] = ()
    lora_bridge: tuple[SerialTransportConfig, ...] = ()
    tcp: tuple[TcpTransportConfig, ...] = ()
    semtech_udp: tuple[SemtechUdpConfig, ...] = ()
    nodes: tuple[NodeConfig, ...] = ()
    perimeter: Perimeter = field(default_factory=lambda: Perimeter([(0.0, 0.0)]))
    rules: Rules = field(default_factory=Rules)
    milestone: tuple[MilestoneConfig, ...] = ()
    webhooks: tuple[WebhookConfig, ...] = ()
    dashboard: DashboardConfig | None = None

    def transport_names(self) -> list[str]:
        names = [t.name for t in (*self.serial, *self.lora_bridge)]
        return names + [t.name for t in self.tcp] + [t.name for t in self.semtech_udp]


TEMPLATE = """\
# Perimeter gateway configuration. Every key is shown with its default; delete what you
# do not need. Paths are relative to this file's folder.

[site]
id = 1                        # the site's u32 id; enters every tag, never sent
name = "site"                 # used in MQTT topics: perimeter/<site>/<gateway>/...
key_file = "site.key"         # 32-byte site key, 64 hex digits; must be chmod 600
encrypted = true              # bodies AES-128-CTR encrypted (must match the nodes)

[gateway]
id = "gw1"                    # this gateway's name, unique per site
journal = "journal.sqlite"    # hash-chained journal, counters and MQTT outbox (SQLite, WAL)
dedup_window_ms = 200         # the same (node, ctr) heard again within this is one event
bad_tag_alarm_count = 5       # this many bad tags claiming one node id ...
bad_tag_alarm_window_s = 60   # ... within this many seconds raise a substitution alarm

[supervision]
missed_heartbeats = 3         # comm-fail after this many heartbeat intervals of silence
default_heartbeat_s = 30      # until a node's HELLO says otherwise (3 x 30 s = 90 s)

[metrics]
listen = "127.0.0.1:9464"     # Prometheus /metrics; "" turns it off

[dashboard]                   # the operators' web page (see README, "The dashboard")
listen = "127.0.0.1:8080"     # "" turns it off; any address but loopback needs TLS below
# accounts_file = "operators.txt"  # the dashboard is off until this names the accounts file
#                                  # (perimeter operator add NAME --accounts operators.txt)
# tls_cert = "dashboard.pem"
# tls_key = "dashboard.key"
session_idle_minutes = 15     # a closed page's session ends after this
session_hours = 12            # every session ends after this (a shift)

[mqtt]
host = "127.0.0.1"
port = 1883
# username = "perimeter"
# password_file = "mqtt.password"
tls = false
# ca_file = "ca.pem"
# cert_file = "client.pem"
# key_file = "client.key"
keepalive_s = 30
inflight = 10                 # QoS 1 messages awaiting PUBACK at once (aiomqtt warns above 10)
prefix = "perimeter"

# Any number of each transport; all run at once and reconnect on their own.
# [[transport.serial]]         # a node or an RS-485 bus on a serial port (COBS framing)
# name = "north-fence"
# port = "/dev/ttyUSB0"
# baudrate = 115200

# [[transport.lora_bridge]]    # a serial-attached LoRa radio (PROTOCOL.md, LoRa bridge envelope)
# name = "lora-east"
# port = "/dev/ttyACM0"
# baudrate = 115200

# [[transport.tcp]]            # a remote serial server or a simulator (COBS framing)
# name = "sim"
# host = "127.0.0.1"
# port = 7000

# [[transport.semtech_udp]]    # a LoRa concentrator's packet forwarder (GWMP v2)
# name = "concentrator"
# host = "0.0.0.0"
# port = 1700
# downlink_delay_ms = 1000     # ACKs go out on the uplink's channel, this long after it
# downlink_power_dbm = 14

# The fence line (x, y in metres, or lon, lat with geographic = true) and its zones, as
# chainage ranges in metres along the line. Alarms are placed and zoned with these.
# [perimeter]
# polyline = [[0, 0], [600, 0], [600, 400]]
# geographic = false
# [[perimeter.zone]]
# name = "north"
# start_m = 0
# end_m = 300
# priority = 2                # 1 = highest; raises the severity of its alarms

# [alarms]                     # fusion rules (see gateway/alarming/fusion.py)
# fence_window_s = 0.5         # fence detections of neighbouring nodes weighed together
# common_mode_min_nodes = 4    # this many nodes active at once is weather ...
# common_mode_dominance = 3.0  # ... unless one is this many times the others' median
# throw_over_window_s = 10.0   # fence activity then an impact within this: throw-over
# throw_over_radius_m = 60.0
# drone_drop_window_s = 120.0  # an impact this soon after a drone track, near it: a drop
# drone_drop_radius_m = 100.0
# jamming_accumulated_s = 30.0 # EN 50131-5-3: 30 s of interference ...
# jamming_window_s = 60.0      # ... within 60 s

# Alarm integrations, fed from the journal: nothing is lost while they are unreachable.
# [[integration.milestone]]    # Milestone XProtect generic events over TCP
# name = "xprotect"
# host = "10.0.0.20"
# format = "compatible"        # port 1234, no separator; "international": port 1235, CRLF
# template = "Perimeter {category} {zone} {alarm_id}"
# actions = ["raised", "escalated"]
# [[integration.webhook]]      # an HTTPS POST of every alarm change as JSON
# name = "soc"
# url = "https://soc.example/perimeter"
# ca_file = "soc-ca.pem"       # optional; the system's CAs otherwise
# token_file = "soc.token"     # optional; sent as "Authorization: Bearer ..."

# One block per node the site expects; frames from other ids are rejected as unknown.
# [[node]]
# id = 7
# name = "north-fence-07"
# heartbeat_s = 30            # optional; the node's HELLO reports its own
# chainage_m = 195.0          # where it sits along the perimeter polyline
# side = "outer_fence"        # outer_fence, inner_wall or inside (ground/netting sensors)
"""


def _describe(value: Any) -> str:
    if isinstance(value, str):
        return '"%s"' % value
    return "%s %r" % (type(value).__name__, value)


class _Reader:
    """Typed access to the parsed TOML that reports errors by dotted key and line."""

    def __init__(self, text: str, source: str) -> None:
        self.lines = text.splitlines()
        self.source = source

    def line_of(self, table: str, key: str) -> int | None:
        """The line on which `key` is set inside `table` (a dotted header, [[...]] index ignored)."""
        current = ""
        header = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?")
        assign = re.compile(r"^\s*%s\s*=" % re.escape(key))
        for number, line in enumerate(self.lines, 1):
            match = header.match(line)
            if match:
                current = match.group(1)
            elif current == table and assign.match(line):
                return number
        return None

    def fail(self, path: str, message: str) -> ConfigError:
        table, _, key = path.rpartition(".")
        line = self.line_of(re.sub(r"\[\d+\]", "", table), key)
        where = "%s (line %d)" % (path, line) if line else path
        return ConfigError("%s: %s: %s" % (self.source, where, message))

    def get(
        self,
        data: dict[str, Any],
        path: str,
        key: str,
        kind: type,
        default: Any = ...,
        *,
        low: float | None = None,
        high: float | None = None,
    ) -> Any:
        full = "%s.%s" % (path, key) if path else key
        if key not in data:
            if default is ...:
                raise self.fail(full, "required")
            return default
        value = data[key]
        names = {int: "an integer", str: "a string", bool: "true or false", float: "a number"}
        ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value, ok = float(value), True
        if not ok:
            raise self.fail(full, "expected %s, got %s" % (names[kind], _describe(value)))
        if low is not None and value < low or high is not None and value > high:
            raise self.fail(full, "%s is outside %s..%s" % (value, low, high))
        return value

    def table(self, data: dict[str, Any], key: str) -> dict[str, Any]:
        value = data.get(key, {})
        if not isinstance(value, dict):
            raise self.fail(key, "expected a table [%s]" % key)
        return value

    def array(self, data: dict[str, Any], path: str, key: str) -> list[dict[str, Any]]:
        value = data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise self.fail("%s.%s" % (path, key) if path else key, "expected [[%s.%s]] blocks" % (path, key))
        return value

    def unknown(self, data: dict[str, Any], path: str, allowed: set[str]) -> None:
        for key in data:
            if key not in allowed:
                raise self.fail(
                    "%s.%s" % (path, key) if path else key, "unknown key (known: %s)" % ", ".join(sorted(allowed))
                )


def read_site_key(path: Path, source: str) -> bytes:
    """The site key from its own file, refusing a file others can read."""
    try:
        mode = path.stat().st_mode
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError("%s: site.key_file: cannot read %s: %s" % (source, path, exc.strerror)) from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError("%s: site.key_file: %s is readable by group or others; chmod 600 it" % (source, path))
    key = site_key_from_bytes(raw)
    if key is None:
        raise ConfigError("%s: site.key_file: %s must hold %d bytes as hex" % (source, path, SITE_KEY_SIZE))
    return key


def site_key_from_bytes(raw: bytes) -> bytes | None:
    """A site key file's key: 32 raw bytes, or 64 hex digits (whitespace around them allowed)."""
    if len(raw) == SITE_KEY_SIZE:
        return raw
    try:
        key = bytes.fromhex(raw.decode("ascii").strip())
    except (UnicodeDecodeError, ValueError):
        return None
    return key if len(key) == SITE_KEY_SIZE else None


def parse(text: str, source: str = "gateway.toml", base: Path | None = None) -> GatewayConfig:
    """A validated config from TOML text; relative paths are resolved against `base`."""
    base = base or Path.cwd()
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("%s: not valid TOML: %s" % (source, exc)) from None
    r = _Reader(text, source)
    r.unknown(
        data,
        "",
        {
            "site",
            "gateway",
            "supervision",
            "metrics",
            "mqtt",
            "transport",
            "node",
            "perimeter",
            "alarms",
            "integration",
            "dashboard",
        },
    )

    site = r.table(data, "site")
    r.unknown(site, "site", {"id", "name", "key_file", "encrypted"})
    site_id = r.get(site, "site", "id", int, low=0, high=0xFFFFFFFF)
    site_name = r.get(site, "site", "name", str)
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", site_name):
        raise r.fail("site.name", "use letters, digits, '_', '-', '.' only (it is an MQTT topic level)")
    key_path = base / r.get(site, "site", "key_file", str)
    encrypted = r.get(site, "site", "encrypted", bool, True)

    gw = r.table(data, "gateway")
    r.unknown(gw, "gateway", {"id", "journal", "dedup_window_ms", "bad_tag_alarm_count", "bad_tag_alarm_window_s"})
    gateway_id = r.get(gw, "gateway", "id", str, "gw1")
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", gateway_id):
        raise r.fail("gateway.id", "use letters, digits, '_', '-', '.' only (it is an MQTT topic level)")

    sup = r.table(data, "supervision")
    r.unknown(sup, "supervision", {"missed_heartbeats", "default_heartbeat_s"})
    met = r.table(data, "metrics")
    r.unknown(met, "metrics", {"listen"})
    listen = r.get(met, "metrics", "listen", str, "127.0.0.1:9464")
    if listen and not re.fullmatch(r".+:\d+", listen):
        raise r.fail("metrics.listen", 'expected "host:port" or ""')

    mq = r.table(data, "mqtt")
    mqtt_keys = {
        "host",
        "port",
        "username",
        "password_file",
        "tls",
        "ca_file",
        "cert_file",
        "key_file",
        "keepalive_s",
        "inflight",
        "prefix",
    }
    r.unknown(mq, "mqtt", mqtt_keys)

    def optional_path(key: str) -> str | None:
        value = r.get(mq, "mqtt", key, str, None)
        if not value:
            return None
        path = base / value
        if not os.access(path, os.R_OK):  # found now, not at the first broker connection
            raise r.fail("mqtt." + key, "cannot read %s" % path)
        return str(path)

    mqtt = MqttConfig(
        host=r.get(mq, "mqtt", "host", str, "127.0.0.1"),
        port=r.get(mq, "mqtt", "port", int, 1883, low=1, high=65535),
        username=r.get(mq, "mqtt", "username", str, None),
        password_file=optional_path("password_file"),
        tls=r.get(mq, "mqtt", "tls", bool, False),
        ca_file=optional_path("ca_file"),
        cert_file=optional_path("cert_file"),
        key_file=optional_path("key_file"),
        keepalive_s=r.get(mq, "mqtt", "keepalive_s", int, 30, low=5, high=3600),
        inflight=r.get(mq, "mqtt", "inflight", int, 10, low=1, high=1000),
        prefix=r.get(mq, "mqtt", "prefix", str, "perimeter"),
    )

    transports = r.table(data, "transport")
    r.unknown(transports, "transport", {"serial", "lora_bridge", "tcp", "semtech_udp"})
    serial: list[SerialTransportConfig] = []
    bridges: list[SerialTransportConfig] = []
    for kind, target in (("serial", serial), ("lora_bridge", bridges)):
        for i, t in enumerate(r.array(transports, "transport", kind)):
            path = "transport.%s[%d]" % (kind, i)
            r.unknown(t, path, {"name", "port", "baudrate"})
            target.append(
                SerialTransportConfig(
                    name=r.get(t, path, "name", str),
                    port=r.get(t, path, "port", str),
                    baudrate=r.get(t, path, "baudrate", int, 115200, low=50, high=10_000_000),
                )
            )
    tcp = []
    for i, t in enumerate(r.array(transports, "transport", "tcp")):
        path = "transport.tcp[%d]" % i
        r.unknown(t, path, {"name", "host", "port"})
        tcp.append(
            TcpTransportConfig(
                r.get(t, path, "name", str), r.get(t, path, "host", str), r.get(t, path, "port", int, low=1, high=65535)
            )
        )
    udp = []
    for i, t in enumerate(r.array(transports, "transport", "semtech_udp")):
        path = "transport.semtech_udp[%d]" % i
        r.unknown(t, path, {"name", "host", "port", "downlink_delay_ms", "downlink_power_dbm"})
        udp.append(
            SemtechUdpConfig(
                name=r.get(t, path, "name", str),
                host=r.get(t, path, "host", str, "0.0.0.0"),
                port=r.get(t, path, "port", int, 1700, low=0, high=65535),
                downlink_delay_ms=r.get(t, path, "downlink_delay_ms", int, 1000, low=0, high=10_000),
                downlink_power_dbm=r.get(t, path, "downlink_power_dbm", int, 14, low=0, high=30),
            )
        )

    nodes = []
    seen_ids: set[int] = set()
    for i, n in enumerate(r.array(data, "", "node")):
        path = "node[%d]" % i
        r.unknown(n, path, {"id", "name", "heartbeat_s", "chainage_m", "side"})
        node_id = r.get(n, path, "id", int, low=1, high=0xFFFE)
        if node_id in seen_ids:
            raise r.fail(path + ".id", "node %d is listed twice" % node_id)
        seen_ids.add(node_id)
        nodes.append(
            NodeConfig(
                node_id,
                r.get(n, path, "name", str, "node-%d" % node_id),
                r.get(n, path, "heartbeat_s", int, None, low=1, high=65535),
                r.get(n, path, "chainage_m", float, None, low=0),
                _side(r, n, path),
            )
        )
    perimeter = _perimeter(r, data, nodes)
    rules = _rules(r, data)
    milestone, webhooks = _integrations(r, data, base)
    dashboard = _dashboard(r, data, base)

    names = [t.name for t in (*serial, *bridges)] + [t.name for t in tcp] + [t.name for t in udp]
    duplicate = next((n for n in names if names.count(n) > 1), None)
    if duplicate:
        raise ConfigError("%s: transport name %r is used twice; names must be unique" % (source, duplicate))

    return GatewayConfig(
        site_id=site_id,
        site_name=site_name,
        site_key=read_site_key(key_path, source),
        encrypted=encrypted,
        gateway_id=gateway_id,
        journal=base / r.get(gw, "gateway", "journal", str, "journal.sqlite"),
        dedup_window_ms=r.get(gw, "gateway", "dedup_window_ms", int, 200, low=0, high=60_000),
        bad_tag_alarm_count=r.get(gw, "gateway", "bad_tag_alarm_count", int, 5, low=1, high=10_000),
        bad_tag_alarm_window_s=r.get(gw, "gateway", "bad_tag_alarm_window_s", int, 60, low=1, high=86_400),
        missed_heartbeats=r.get(sup, "supervision", "missed_heartbeats", int, 3, low=1, high=100),
        default_heartbeat_s=r.get(sup, "supervision", "default_heartbeat_s", int, 30, low=1, high=86_400),
        metrics_listen=listen or None,
        mqtt=mqtt,
        serial=tuple(serial),
        lora_bridge=tuple(bridges),
        tcp=tuple(tcp),
        semtech_udp=tuple(udp),
        nodes=tuple(nodes),
        perimeter=perimeter,
        rules=rules,
        milestone=milestone,
        webhooks=webhooks,
        dashboard=dashboard,
    )


LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")


def _dashboard(r: _Reader, data: dict[str, Any], base: Path) -> DashboardConfig | None:
    table = r.table(data, "dashboard")
    keys = {"listen", "accounts_file", "tls_cert", "tls_key", "session_idle_minutes", "session_hours"}
    r.unknown(table, "dashboard", keys)
    listen = r.get(table, "dashboard", "listen", str, "127.0.0.1:8080")
    accounts = r.get(table, "dashboard", "accounts_file", str, "")
    if not listen or not accounts:
        return None  # off: no address, or nobody who could log in
    if not re.fullmatch(r"(\[[0-9a-fA-F:]+\]|[^:\s]+):\d{1,5}", listen) or int(listen.rpartition(":")[2]) > 65535:
        raise r.fail("dashboard.listen", 'expected "host:port", e.g. "127.0.0.1:8080", or ""')
    path = base / accounts
    try:
        accounts_found = parse_accounts(path.read_text(encoding="utf-8"), str(path))
    except OSError as exc:
        raise r.fail(
            "dashboard.accounts_file", "cannot read %s: %s (perimeter operator add writes it)" % (path, exc.strerror)
        ) from None
    except AccountError as exc:
        raise r.fail("dashboard.accounts_file", str(exc)) from None
    if not accounts_found:
        raise r.fail("dashboard.accounts_file", "%s has no accounts (perimeter operator add writes one)" % path)

    def tls(key: str) -> str | None:
        value = r.get(table, "dashboard", key, str, "")
        if not value:
            return None
        if not os.access(base / value, os.R_OK):
            raise r.fail("dashboard." + key, "cannot read %s" % (base / value))
        return str(base / value)

    cert, key = tls("tls_cert"), tls("tls_key")
    if (cert is None) != (key is None):
        raise r.fail("dashboard.tls_cert", "give both tls_cert and tls_key, or neither")
    host = listen.rpartition(":")[0]
    if host not in LOOPBACK and cert is None:
        raise r.fail(
            "dashboard.listen",
            "%s is reachable from the network: set tls_cert and tls_key, or listen on 127.0.0.1" % listen,
        )
    return DashboardConfig(
        listen=listen,
        accounts_file=path,
        tls_cert=cert,
        tls_key=key,
        session_idle_s=60 * r.get(table, "dashboard", "session_idle_minutes", int, 15, low=1, high=24 * 60),
        session_max_s=3600 * r.get(table, "dashboard", "session_hours", int, 12, low=1, high=24 * 7),
    )


ACTIONS = ("raised", "updated", "escalated", "acknowledged", "cleared")


def _actions(r: _Reader, t: dict[str, Any], path: str, default: tuple[str, ...]) -> tuple[str, ...]:
    value = t.get("actions", list(default))
    if not isinstance(value, list) or not all(isinstance(a, str) and a in ACTIONS for a in value):
        raise r.fail(path + ".actions", "expected a list of %s" % ", ".join(ACTIONS))
    return tuple(value)


def _integrations(
    r: _Reader, data: dict[str, Any], base: Path
) -> tuple[tuple[MilestoneConfig, ...], tuple[WebhookConfig, ...]]:
    table = r.table(data, "integration")
    r.unknown(table, "integration", {"milestone", "webhook"})
    milestone = []
    for i, t in enumerate(r.array(table, "integration", "milestone")):
        path = "integration.milestone[%d]" % i
        r.unknown(t, path, {"name", "host", "port", "template", "format", "actions"})
        fmt = r.get(t, path, "format", str, "compatible")
        if fmt not in ("compatible", "international"):
            raise r.fail(path + ".format", 'expected "compatible" (port 1234) or "international" (port 1235)')
        milestone.append(
            MilestoneConfig(
                name=r.get(t, path, "name", str),
                host=r.get(t, path, "host", str),
                port=r.get(t, path, "port", int, 1234 if fmt == "compatible" else 1235, low=1, high=65535),
                template=r.get(t, path, "template", str, "Perimeter {category} {zone} {alarm_id}"),
                international=fmt == "international",
                actions=_actions(r, t, path, DEFAULT_ACTIONS),
            )
        )
    webhooks = []
    for i, t in enumerate(r.array(table, "integration", "webhook")):
        path = "integration.webhook[%d]" % i
        r.unknown(t, path, {"name", "url", "ca_file", "token_file", "timeout_s", "actions"})
        url = r.get(t, path, "url", str)
        if not re.match(r"https?://", url):
            raise r.fail(path + ".url", "expected an https:// (or http:// on a trusted network) URL")
        ca_file = r.get(t, path, "ca_file", str, None)
        token_file = r.get(t, path, "token_file", str, None)
        webhooks.append(
            WebhookConfig(
                name=r.get(t, path, "name", str),
                url=url,
                ca_file=str(base / ca_file) if ca_file else None,
                token_file=str(base / token_file) if token_file else None,
                timeout_s=r.get(t, path, "timeout_s", float, 10.0, low=0.1, high=300),
                actions=_actions(r, t, path, WebhookConfig.actions),
            )
        )
    names = [m.name for m in milestone] + [w.name for w in webhooks]
    duplicate = next((n for n in names if names.count(n) > 1), None)
    if duplicate:
        raise r.fail("integration", "integration name %r is used twice" % duplicate)
    return tuple(milestone), tuple(webhooks)


def _side(r: _Reader, n: dict[str, Any], path: str) -> str:
    side: str = r.get(n, path, "side", str, OUTER_FENCE)
    if side not in SIDES:
        raise r.fail(path + ".side", "%r is not one of %s" % (side, ", ".join(SIDES)))
    return side


def _perimeter(r: _Reader, data: dict[str, Any], nodes: list[NodeConfig]) -> Perimeter:
    table = r.table(data, "perimeter")
    r.unknown(table, "perimeter", {"polyline", "geographic", "zone"})
    raw = table.get("polyline", [[0, 0]])
    if (
        not isinstance(raw, list)
        or not raw
        or not all(
            isinstance(p, list)
            and len(p) == 2
            and all(isinstance(v, int | float) and not isinstance(v, bool) for v in p)
            for p in raw
        )
    ):
        raise r.fail("perimeter.polyline", "expected a list of [x, y] pairs, e.g. [[0, 0], [600, 0]]")
    zones = []
    for i, z in enumerate(r.array(table, "perimeter", "zone")):
        path = "perimeter.zone[%d]" % i
        r.unknown(z, path, {"name", "start_m", "end_m", "priority"})
        name = r.get(z, path, "name", str)
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
            raise r.fail(path + ".name", "use letters, digits, '_', '-', '.' only (it is an MQTT topic level)")
        start = r.get(z, path, "start_m", float, low=0)
        end = r.get(z, path, "end_m", float, low=0)
        if end <= start:
            raise r.fail(path + ".end_m", "must be above start_m (%s)" % start)
        zones.append(Zone(name, start, end, r.get(z, path, "priority", int, 3, low=1, high=5)))
    placed = {n.id: PlacedNode(n.id, n.chainage_m, n.side) for n in nodes if n.chainage_m is not None}
    geographic = r.get(table, "perimeter", "geographic", bool, False)
    return Perimeter([(float(x), float(y)) for x, y in raw], zones, placed, geographic)


def _rules(r: _Reader, data: dict[str, Any]) -> Rules:
    t = r.table(data, "alarms")
    keys = {
        "fence_window_s",
        "common_mode_min_nodes",
        "common_mode_dominance",
        "throw_over_window_s",
        "throw_over_radius_m",
        "drone_drop_window_s",
        "drone_drop_radius_m",
        "jamming_accumulated_s",
        "jamming_window_s",
    }
    r.unknown(t, "alarms", keys)

    def number(key: str, default: float, high: float) -> float:
        value: float = r.get(t, "alarms", key, float, default, low=0, high=high)
        return value

    return Rules(
        fence_window_s=number("fence_window_s", 0.5, 60),
        common_mode=CommonModeRejection(
            r.get(t, "alarms", "common_mode_min_nodes", int, 4, low=2, high=1000),
            number("common_mode_dominance", 3.0, 1000),
        ),
        throw_over=ThrowOverRule(number("throw_over_window_s", 10.0, 600), number("throw_over_radius_m", 60.0, 10_000)),
        drone=DroneRule(
            drop_window_s=number("drone_drop_window_s", 120.0, 3600),
            drop_radius_m=number("drone_drop_radius_m", 100.0, 10_000),
        ),
        jamming=JammingRule(number("jamming_accumulated_s", 30.0, 3600), number("jamming_window_s", 60.0, 3600)),
    )


def load(path: str | os.PathLike[str]) -> GatewayConfig:
    """The validated config in the file at `path`."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise ConfigError("cannot read config %s: %s" % (p, exc.strerror)) from None
    except UnicodeDecodeError:
        raise ConfigError("%s: not UTF-8 text" % p) from None
    return parse(text, str(p), p.resolve().parent)
