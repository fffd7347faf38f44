"""The gateway's one TOML config file: read, validated, and explained when it is wrong.

What each key is, its type, bounds and default live once, in `gateway.config_schema`, which
also writes the commented template (`perimeter gateway config-template`) and `dump()`. Here
the values it read become the gateway's config, with the checks that span keys and the
files it names (site key, accounts, TLS and broker credentials), so a broken config is
found at start, with the key and line named, never as a traceback.
"""

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.alarming import fusion
from gateway.alarming.desk import Policy
from gateway.alarming.perimeter import Perimeter, PlacedNode, Zone
from gateway.config_dump import template
from gateway.config_reader import ConfigError, Reader
from gateway.config_schema import SCHEMA, defaults
from gateway.evidence.witness import WitnessConfig, WitnessError
from gateway.identity.accounts import AccountError, parse_accounts
from gateway.identity.site_key import KeyFileError, SiteKeys, read_site_key
from gateway.ingest.forwarder_sources import allowed_source
from gateway.outputs.incidents import RegionConfig
from gateway.outputs.integrations import MilestoneConfig, WebhookConfig
from gateway.site_plan import Camera, PlanLine, SitePlan, time_zone

__all__ = ["ConfigError", "GatewayConfig", "TEMPLATE", "load", "parse"]

DEFAULT = {t.name: defaults(t) for t in SCHEMA}
TEMPLATE = template()
LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")

_KEY_FILES = ("revocations_file", "node_keys_file")  # SiteKeys' paths, relative to the config's folder


@dataclass(frozen=True)
class SerialTransportConfig:
    name: str
    port: str
    baudrate: int = DEFAULT["transport.serial"]["baudrate"]


@dataclass(frozen=True)
class TcpTransportConfig:
    name: str
    host: str
    port: int


@dataclass(frozen=True)
class SemtechUdpConfig:
    name: str
    host: str = DEFAULT["transport.semtech_udp"]["host"]
    port: int = DEFAULT["transport.semtech_udp"]["port"]
    downlink_delay_ms: int = DEFAULT["transport.semtech_udp"]["downlink_delay_ms"]  # PULL_RESP after the uplink (RX1)
    downlink_power_dbm: int = DEFAULT["transport.semtech_udp"]["downlink_power_dbm"]
    allowed_gateways: tuple[str, ...] = ()  # concentrator EUIs (16 hex digits); empty: any
    allowed_sources: tuple[str, ...] = ()  # source addresses or networks; empty: any


@dataclass(frozen=True)
class MqttConfig:
    host: str
    port: int
    username: str | None
    password_file: str | None
    tls: bool
    ca_file: str | None
    cert_file: str | None
    key_file: str | None
    keepalive_s: int
    inflight: int
    prefix: str
    homeassistant_discovery: bool = False


@dataclass(frozen=True)
class NodeConfig:
    id: int
    name: str
    heartbeat_s: int | None
    chainage_m: float | None
    side: str
    inside_m: float = 0.0


@dataclass(frozen=True)
class DashboardConfig:
    listen: str
    accounts_file: Path
    tls_cert: str | None
    tls_key: str | None
    session_idle_s: int
    session_max_s: int

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
    dedup_window_ms: int
    bad_tag_alarm_count: int
    bad_tag_alarm_window_s: int
    missed_heartbeats: int
    default_heartbeat_s: int
    delivery_blocked_heartbeats: int
    late_frame_s: int
    site_keys: SiteKeys
    metrics_listen: str | None
    mqtt: MqttConfig
    serial: tuple[SerialTransportConfig, ...]
    lora_bridge: tuple[SerialTransportConfig, ...]
    tcp: tuple[TcpTransportConfig, ...]
    semtech_udp: tuple[SemtechUdpConfig, ...]
    nodes: tuple[NodeConfig, ...]
    perimeter: Perimeter
    rules: fusion.Rules
    milestone: tuple[MilestoneConfig, ...]
    webhooks: tuple[WebhookConfig, ...]
    dashboard: DashboardConfig | None
    accounts_file: Path | None  # who may act, in which role: on the dashboard and over MQTT
    policy: Policy
    witness: WitnessConfig
    timezone: str = "UTC"  # the site's (an IANA name): what the dashboard and reports show
    plan: SitePlan = SitePlan()
    region: RegionConfig = RegionConfig()

    def transport_names(self) -> list[str]:
        names = [t.name for t in (*self.serial, *self.lora_bridge)]
        return names + [t.name for t in self.tcp] + [t.name for t in self.semtech_udp]


def parse(text: str, source: str = "gateway.toml", base: Path | None = None) -> GatewayConfig:
    """A validated config from TOML text; relative paths are resolved against `base`."""
    base = base or Path.cwd()
    r = Reader(text, source)
    v = r.values()
    site, gw, sup, mq = v["site"], v["gateway"], v["supervision"], v["mqtt"]

    def readable(table: str, key: str, value: str | None) -> str | None:
        if not value:
            return None
        path = base / value
        if not os.access(path, os.R_OK):  # found now, not at the first connection
            raise r.fail("%s.%s" % (table, key), "cannot read %s" % path)
        return str(path)

    credentials = {k: readable("mqtt", k, mq[k]) for k in ("password_file", "ca_file", "cert_file", "key_file")}
    mqtt = MqttConfig(**dict(mq, **credentials))
    serial = tuple(SerialTransportConfig(**t) for t in v["transport.serial"])
    bridges = tuple(SerialTransportConfig(**t) for t in v["transport.lora_bridge"])
    tcp = tuple(TcpTransportConfig(**t) for t in v["transport.tcp"])
    udp = tuple(_semtech_udp(r, i, t) for i, t in enumerate(v["transport.semtech_udp"]))
    names = [t.name for t in (*serial, *bridges)] + [t.name for t in tcp] + [t.name for t in udp]
    if duplicate := next((n for n in names if names.count(n) > 1), None):
        raise ConfigError("%s: transport name %r is used twice; names must be unique" % (source, duplicate))
    nodes: list[NodeConfig] = []
    for i, n in enumerate(v["node"]):
        if any(node.id == n["id"] for node in nodes):
            raise r.fail("node[%d].id" % i, "node %d is listed twice" % n["id"])
        nodes.append(NodeConfig(**dict(n, name=n["name"] or "node-%d" % n["id"])))
    try:
        site_key = read_site_key(base / site["key_file"], "site.key_file")
    except KeyFileError as exc:
        raise ConfigError("%s: %s" % (source, exc)) from None
    milestone, webhooks = _integrations(r, v, base)
    try:
        witness = WitnessConfig(**v["witness"]).resolved(base)
    except WitnessError as exc:
        raise ConfigError("%s: %s" % (source, exc)) from None
    return GatewayConfig(
        site_id=site["id"],
        site_name=site["name"],
        site_key=site_key,
        encrypted=site["encrypted"],
        gateway_id=gw["id"],
        journal=base / gw["journal"],
        dedup_window_ms=gw["dedup_window_ms"],
        bad_tag_alarm_count=gw["bad_tag_alarm_count"],
        bad_tag_alarm_window_s=gw["bad_tag_alarm_window_s"],
        missed_heartbeats=sup["missed_heartbeats"],
        default_heartbeat_s=sup["default_heartbeat_s"],
        delivery_blocked_heartbeats=sup["delivery_blocked_heartbeats"],
        late_frame_s=sup["late_frame_s"],
        site_keys=SiteKeys(site["key_epoch"], site["key_change"], *(base / site[f] for f in _KEY_FILES)),
        metrics_listen=v["metrics"]["listen"] or None,
        mqtt=mqtt,
        serial=serial,
        lora_bridge=bridges,
        tcp=tcp,
        semtech_udp=udp,
        nodes=tuple(nodes),
        perimeter=_perimeter(r, v, nodes),
        rules=fusion.Rules.from_table(v["alarms"]),
        milestone=milestone,
        webhooks=webhooks,
        dashboard=_dashboard(r, v["dashboard"], base),
        accounts_file=base / v["dashboard"]["accounts_file"] if v["dashboard"]["accounts_file"] else None,
        policy=Policy(**v["operators"]),
        witness=witness,
        timezone=_time_zone(r, site["timezone"]),
        plan=_plan(r, v, base),
        region=RegionConfig(**v["region"]),
    )


def _time_zone(r: Reader, name: str) -> str:
    try:
        time_zone(name)
    except ValueError as exc:
        raise r.fail("site.timezone", str(exc)) from None
    return name


def _plan(r: Reader, v: dict[str, Any], base: Path) -> SitePlan:
    table = v["plan"]
    lines = []
    for i, line in enumerate(v["plan.line"]):
        if len(line["points"]) < 2 and line["kind"] != "gate":
            raise r.fail("plan.line[%d].points" % i, "a line needs at least two points")
        lines.append(PlanLine(line["name"], line["kind"], tuple((float(x), float(y)) for x, y in line["points"])))
    cameras = tuple(Camera(c["name"], c["x"], c["y"], c["preset"], tuple(c["zones"])) for c in v["plan.camera"])
    zones = {z["name"] for z in v["perimeter.zone"]}
    for i, camera in enumerate(cameras):
        if unknown := [z for z in camera.zones if z not in zones]:
            raise r.fail("plan.camera[%d].zones" % i, "no zone %s in [[perimeter.zone]]" % ", ".join(unknown))
    image, bounds = table["image"], table["image_bounds"]
    if image and (not bounds or len(bounds) != 2):
        raise r.fail("plan.image_bounds", "an image needs its lower-left and upper-right corners")
    if image and not os.access(base / image, os.R_OK):
        raise r.fail("plan.image", "cannot read %s" % (base / image))
    corners = (
        ((float(bounds[0][0]), float(bounds[0][1])), (float(bounds[1][0]), float(bounds[1][1]))) if image else None
    )
    return SitePlan(tuple(lines), cameras, str(base / image) if image else None, corners)


def _semtech_udp(r: Reader, i: int, t: dict[str, Any]) -> SemtechUdpConfig:
    where = "transport.semtech_udp[%d].allowed_sources" % i
    for source in t["allowed_sources"]:
        try:
            allowed_source(source)
        except ValueError:
            raise r.fail(where, "%r is not an address or network, with or without :port" % source) from None
    lists = {k: tuple(t[k]) for k in ("allowed_gateways", "allowed_sources")}
    return SemtechUdpConfig(**dict(t, **lists))


def _dashboard(r: Reader, table: dict[str, Any], base: Path) -> DashboardConfig | None:
    listen, accounts = table["listen"], table["accounts_file"]
    if not listen or not accounts:
        return None  # off: no address, or nobody who could log in
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit() or int(port) > 65535 or " " in host or ":" in host.strip("[]") and host[0] != "[":
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
    cert, key = (table[k] and str(base / table[k]) for k in ("tls_cert", "tls_key"))
    for name, file in (("tls_cert", cert), ("tls_key", key)):
        if file and not os.access(file, os.R_OK):
            raise r.fail("dashboard." + name, "cannot read %s" % file)
    if bool(cert) != bool(key):
        raise r.fail("dashboard.tls_cert", "give both tls_cert and tls_key, or neither")
    if host not in LOOPBACK and not cert:
        raise r.fail(
            "dashboard.listen",
            "%s is reachable from the network: set tls_cert and tls_key, or listen on 127.0.0.1" % listen,
        )
    return DashboardConfig(
        listen=listen,
        accounts_file=path,
        tls_cert=cert or None,
        tls_key=key or None,
        session_idle_s=60 * table["session_idle_minutes"],
        session_max_s=3600 * table["session_hours"],
    )


Integrations = tuple[tuple[MilestoneConfig, ...], tuple[WebhookConfig, ...]]


def _integrations(r: Reader, v: dict[str, Any], base: Path) -> Integrations:
    milestone = tuple(
        MilestoneConfig(
            name=t["name"],
            host=t["host"],
            port=t["port"] or (1234 if t["format"] == "compatible" else 1235),
            template=t["template"],
            international=t["format"] == "international",
            actions=tuple(t["actions"]),
        )
        for t in v["integration.milestone"]
    )
    webhooks = tuple(
        WebhookConfig(
            name=t["name"],
            url=t["url"],
            ca_file=str(base / t["ca_file"]) if t["ca_file"] else None,
            token_file=str(base / t["token_file"]) if t["token_file"] else None,
            timeout_s=t["timeout_s"],
            actions=tuple(t["actions"]),
            witness=t["witness"],
        )
        for t in v["integration.webhook"]
    )
    names = [m.name for m in milestone] + [w.name for w in webhooks]
    if duplicate := next((n for n in names if names.count(n) > 1), None):
        raise r.fail("integration", "integration name %r is used twice" % duplicate)
    return milestone, webhooks


def _perimeter(r: Reader, v: dict[str, Any], nodes: list[NodeConfig]) -> Perimeter:
    zones = []
    for i, z in enumerate(v["perimeter.zone"]):
        if z["end_m"] <= z["start_m"]:
            raise r.fail("perimeter.zone[%d].end_m" % i, "must be above start_m (%s)" % z["start_m"])
        zones.append(Zone(z["name"], z["start_m"], z["end_m"], z["priority"]))
    placed = {n.id: PlacedNode(n.id, n.chainage_m, n.side, n.inside_m) for n in nodes if n.chainage_m is not None}
    line = [(float(x), float(y)) for x, y in v["perimeter"]["polyline"]]
    return Perimeter(line, zones, placed, v["perimeter"]["geographic"], v["perimeter"]["inside"])


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
