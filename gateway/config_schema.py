"""The gateway config's schema: every table and key once, with its type, bounds, default and
what it is for. The parser's typed reading (`config.py`), the commented template and `dump()`
(`config_dump.py`, which the runner, the demo, the tests and the benches use to write
configs) all come from it, so they cannot disagree. The fusion rules' defaults are the alarm
engine's own (`gateway.alarming`).
"""

from typing import Any

from gateway.alarming.fusion import Rules
from gateway.alarming.perimeter import OUTER_FENCE, SIDES
from gateway.config_keys import (
    ACTIONS,
    EUI,
    EUI_RULE,
    NAME,
    POINTS,
    REQUIRED,
    URL_RULE,
    WORDS,
    Key,
    Table,
)
from gateway.outputs.integrations import DEFAULT_ACTIONS, WebhookConfig

RULES = Rules()
INSIDE_CHOICES = ("auto", "left", "right")
PLAN_KINDS = ("fence", "wall", "gate", "road", "building")


_SERIAL = (Key("name", str, example="north-fence"), Key("port", str, example="/dev/ttyUSB0"))
_BAUD = Key("baudrate", int, 115200, low=50, high=10_000_000)

SCHEMA = (
    Table(
        "site",
        (
            Key("id", int, REQUIRED, "the site's u32 id; enters every tag, never sent", 0, 0xFFFFFFFF, example=1),
            Key("name", str, REQUIRED, "in MQTT topics: perimeter/<site>/<gateway>/...", pattern=NAME, example="site"),
            Key("key_file", str, REQUIRED, "32-byte site key, 64 hex digits; must be chmod 600", example="site.key"),
            Key("encrypted", bool, True, "bodies AES-128-CTR encrypted (must match the nodes)"),
            Key("key_epoch", int, 0, "the node-key epoch nodes are on (perimeter site rotate-key counts them)", 0, 255),
            Key("key_change", bool, False, "a key change under way: each node agrees its key of key_epoch + 1"),
            Key("node_keys_file", str, "node-keys.json", "each node's own key (node deploy, key changes); chmod 600"),
            Key("revocations_file", str, "revocations.json", "revoked node keys (perimeter node revoke writes it)"),
            Key(
                "timezone",
                str,
                "UTC",
                "the site's time zone (an IANA name): the dashboard and reports show local time, exports UTC",
                example="Europe/London",
            ),
        ),
    ),
    Table(
        "gateway",
        (
            Key("id", str, "gw1", "this gateway's name, unique per site", pattern=NAME),
            Key("journal", str, "journal.sqlite", "hash-chained journal, counters and MQTT outbox (SQLite, WAL)"),
            Key("dedup_window_ms", int, 200, "a (node, ctr) heard again within this is one event", 0, 60_000),
            Key("bad_tag_alarm_count", int, 5, "this many bad tags claiming one node id ...", 1, 10_000),
            Key("bad_tag_alarm_window_s", int, 60, "... within this many s raise a substitution alarm", 1, 86_400),
        ),
    ),
    Table(
        "supervision",
        (
            Key("missed_heartbeats", int, 3, "comm-fail after this many heartbeat intervals of silence", 1, 100),
            Key("default_heartbeat_s", int, 30, "until a node's HELLO says otherwise (3 x 30 s = 90 s)", 1, 86_400),
            Key("delivery_blocked_heartbeats", int, 3, "heartbeats holding frames, no event: blocked", 1, 100),
            Key("late_frame_s", int, 30, "a frame played this long after its node sent it is a late_frame", 5, 3_600),
        ),
    ),
    Table(
        "metrics",
        (
            Key(
                "listen",
                str,
                "127.0.0.1:9464",
                'Prometheus /metrics; "" turns it off',
                pattern=r"(.+:\d+)?",
                rule='expected "host:port" or ""',
            ),
        ),
    ),
    Table(
        "dashboard",
        (
            Key("listen", str, "127.0.0.1:8080", '"" turns it off; any address but loopback needs TLS below'),
            Key(
                "accounts_file",
                str,
                "",
                "the accounts (perimeter operator add): who may log in here and send requests over MQTT",
                example="operators.txt",
            ),
            Key("tls_cert", str, "", "certificate chain (PEM)", example="dashboard.pem"),
            Key("tls_key", str, "", "its private key (PEM)", example="dashboard.key"),
            Key("session_idle_minutes", int, 15, "a closed page's session ends after this", 1, 24 * 60),
            Key("session_hours", int, 12, "every session ends after this (a shift)", 1, 24 * 7),
        ),
        doc="the operators' web page (see README, 'The dashboard')",
    ),
    Table(
        "operators",
        (
            Key("approval_minutes", float, 15.0, "a silencing request waits this long for a second account", 1, 1440),
            Key("max_mask_minutes", float, 720.0, "no zone is masked for longer", 1, 7 * 24 * 60),
            Key("max_walk_test_minutes", int, 60, "no walk test runs for longer", 1, 1092),
            Key("max_heartbeat_s", int, 300, "no node beats less often (CONFIG refused, HELLO a fault)", 10, 65535),
            Key("request_max_age_s", float, 60.0, "an MQTT request sent longer ago is refused", 5, 3600),
        ),
        doc="four eyes and the site's limits on silencing (see README, 'Operators')",
    ),
    Table(
        "witness",
        (
            Key("key_file", str, "", "Ed25519 key that signs journal checkpoints (site init writes it)"),
            Key("file", str, "", "append each checkpoint to this file (on a remote mount)"),
            Key("syslog", str, "", "send each checkpoint to this syslog collector (host:port, UDP)"),
            Key("every_s", float, 60.0, "a checkpoint this often, when the journal grew", 1, 86_400),
            Key("off_host", bool, True, "false: the site chose to run with no witness off this host (journalled)"),
        ),
        doc="signed checkpoints of the journal, kept where the gateway's host cannot rewrite them",
    ),
    Table(
        "region",
        (
            Key("incidents", bool, False, "publish incidents for the region on P/incidents (site init --region)"),
            Key("origin_lon", float, None, "longitude of a metric plan's (0, 0)", -180, 180, example=-2.2),
            Key("origin_lat", float, None, "latitude of the plan's (0, 0)", -90, 90, example=53.4),
            Key("share_staff_names", bool, False, "incidents name who acknowledged and cleared them"),
        ),
        doc="what the region sees of this site (see docs/region.md)",
    ),
    Table(
        "mqtt",
        (
            Key("host", str, "127.0.0.1"),
            Key("port", int, 1883, low=1, high=65535),
            Key("username", str, None, example="perimeter"),
            Key("password_file", str, None, example="mqtt.password"),
            Key("tls", bool, False),
            Key("ca_file", str, None, example="ca.pem"),
            Key("cert_file", str, None, example="client.pem"),
            Key("key_file", str, None, example="client.key"),
            Key("keepalive_s", int, 30, low=5, high=3600),
            Key("inflight", int, 10, "QoS 1 messages awaiting PUBACK at once (aiomqtt warns above 10)", 1, 1000),
            Key("prefix", str, "perimeter"),
            Key(
                "homeassistant_discovery",
                bool,
                False,
                "announce nodes and zones to Home Assistant (retained under homeassistant/)",
            ),
        ),
    ),
    Table("transport.serial", (*_SERIAL, _BAUD), True, "a node or an RS-485 bus on a serial port (COBS framing)"),
    Table(
        "transport.lora_bridge",
        (Key("name", str, example="lora-east"), Key("port", str, example="/dev/ttyACM0"), _BAUD),
        True,
        "a serial-attached LoRa radio (PROTOCOL.md, LoRa bridge envelope)",
    ),
    Table(
        "transport.tcp",
        (
            Key("name", str, example="sim"),
            Key("host", str, example="127.0.0.1"),
            Key("port", int, low=1, high=65535, example=7000),
        ),
        True,
        "a remote serial server or a simulator (COBS framing)",
    ),
    Table(
        "transport.semtech_udp",
        (
            Key("name", str, example="concentrator"),
            Key("host", str, "0.0.0.0"),
            Key("port", int, 1700, low=0, high=65535),
            Key("downlink_delay_ms", int, 1000, "ACKs go out on the uplink's channel, this long after it", 0, 10_000),
            Key("downlink_power_dbm", int, 14, low=0, high=30),
            Key("allowed_gateways", WORDS, [], "concentrator EUIs; [] lets any", pattern=EUI, rule=EUI_RULE),
            Key("allowed_sources", WORDS, [], 'forwarders\' addresses or networks ("10.8.0.0/24"); [] lets any'),
        ),
        True,
        "a LoRa concentrator's packet forwarder (GWMP v2)",
    ),
    Table(
        "perimeter",
        (
            Key("polyline", POINTS, [[0, 0]], "x, y in metres (or lon, lat)", example=[[0, 0], [600, 0], [600, 400]]),
            Key("geographic", bool, False, "the polyline is lon, lat"),
            Key(
                "inside",
                str,
                "auto",
                "the side of the line the prison is on: a closed line's interior (auto), or left/right of travel",
                choices=INSIDE_CHOICES,
            ),
        ),
        doc="the fence line; alarms are placed and zoned along it",
    ),
    Table(
        "perimeter.zone",
        (
            Key("name", str, pattern=NAME, example="north"),
            Key("start_m", float, low=0, example=0),
            Key("end_m", float, low=0, example=300),
            Key("priority", int, 3, "1 = highest; raises the severity of its alarms", 1, 5),
        ),
        True,
        "a stretch of the line, by chainage in metres",
    ),
    Table(
        "plan",
        (
            Key("image", str, None, "a plan or aerial image (PNG, JPEG) drawn beneath", example="site-plan.png"),
            Key(
                "image_bounds", POINTS, None, "its lower-left and upper-right corners", example=[[-20, -20], [520, 420]]
            ),
        ),
        doc="the site plan the dashboard draws, in the perimeter's coordinates",
    ),
    Table(
        "plan.line",
        (
            Key("name", str, example="inner fence"),
            Key("kind", str, "fence", choices=PLAN_KINDS),
            Key("points", POINTS, example=[[10, 10], [490, 10], [490, 390], [10, 390], [10, 10]]),
        ),
        True,
        "a line on the plan: another fence, a wall, a gate, a road, a building's outline",
    ),
    Table(
        "plan.camera",
        (
            Key("name", str, example="cam-4"),
            Key("x", float, example=250),
            Key("y", float, example=-15),
            Key("preset", str, "", "the preset that looks at these zones", example="north-east corner"),
            Key("zones", WORDS, [], "the zones it covers", pattern=NAME),
        ),
        True,
        "a camera on the plan, and which zones its preset covers (shown with an alarm's evidence)",
    ),
    Table(
        "alarms",
        (
            Key(
                "fence_window_s", float, RULES.fence_window_s, "fence detections of neighbours weighed together", 0, 60
            ),
            Key(
                "common_mode_min_nodes", int, RULES.common_mode.min_nodes, "so many nodes at once: weather ...", 2, 1000
            ),
            Key("common_mode_dominance", float, RULES.common_mode.dominance, "... unless one is this x median", 0, 1e3),
            Key("faint_pair_enabled", bool, RULES.faint_pair.enabled, "neighbours' faint climbs are a climb ..."),
            Key("faint_pair_window_s", float, RULES.faint_pair.window_s, "... within this of each other ...", 0, 600),
            Key("faint_pair_reach_m", float, RULES.faint_pair.reach_m, "... unless nodes this near ...", 0, 10_000),
            Key("faint_pair_dominance", float, RULES.faint_pair.dominance, "... were this near as loud", 0, 1000),
            Key("faint_pair_hold_s", float, RULES.faint_pair.hold_s, "... decided this long after the pair", 0, 60),
            Key(
                "landing_min_nodes", int, RULES.landing.min_nodes, "thuds from this many nodes are a landing ...", 1, 50
            ),
            Key("landing_reach_m", float, RULES.landing.reach_m, "... nodes this near each other ...", 0, 10_000),
            Key("landing_window_s", float, RULES.landing.window_s, "... within this", 0, 600),
            Key(
                "throw_over_window_s",
                float,
                RULES.throw_over.window_s,
                "fence activity then an impact within this",
                0,
                600,
            ),
            Key("throw_over_radius_m", float, RULES.throw_over.radius_m, "... and this near: a throw-over", 0, 10_000),
            Key(
                "drone_drop_window_s",
                float,
                RULES.drone.drop_window_s,
                "an impact this soon after a drone ...",
                0,
                3600,
            ),
            Key("drone_drop_radius_m", float, RULES.drone.drop_radius_m, "... and this near it: a drop", 0, 10_000),
            Key(
                "drone_confirm_s",
                float,
                RULES.drone.confirm_s,
                "a drone alarm only for a track heard without a break this long ...",
                0,
                600,
            ),
            Key(
                "drone_corroborate_m",
                float,
                RULES.drone.corroborate_m,
                "nodes this near the first to hear a drone should hear it too ...",
                0,
                10_000,
            ),
            Key(
                "drone_require_two_nodes",
                bool,
                RULES.drone.require_two_nodes,
                "... and, if true, one of them must, for an alarm ...",
            ),
            Key(
                "drone_alone_s", float, RULES.drone.alone_s, "... unless one node alone has heard it this long", 0, 3600
            ),
            Key(
                "drone_f0_tolerance",
                float,
                RULES.drone.f0_tolerance,
                "the nodes' fundamentals agree within this fraction ...",
                0,
                1,
            ),
            Key(
                "drone_require_consistent_f0",
                bool,
                RULES.drone.require_consistent_f0,
                "... and, if true, must agree for an alarm",
            ),
            Key(
                "jamming_accumulated_s",
                float,
                RULES.jamming.accumulated_s,
                "EN 50131-5-3: 30 s of interference ...",
                0,
                3600,
            ),
            Key("jamming_window_s", float, RULES.jamming.window_s, "... within 60 s", 0, 3600),
        ),
        doc="fusion rules (see gateway/alarming/fusion.py)",
    ),
    Table(
        "integration.milestone",
        (
            Key("name", str, example="xprotect"),
            Key("host", str, example="10.0.0.20"),
            Key("port", int, None, "1234 for the compatible format, 1235 for international", 1, 65535, example=1234),
            Key("template", str, "Perimeter {category} {zone} {alarm_id}"),
            Key(
                "format",
                str,
                "compatible",
                "or international (CRLF-terminated)",
                choices=("compatible", "international"),
            ),
            Key("actions", WORDS, list(DEFAULT_ACTIONS), choices=ACTIONS),
        ),
        True,
        "Milestone XProtect generic events over TCP",
    ),
    Table(
        "integration.webhook",
        (
            Key("name", str, example="soc"),
            Key("url", str, pattern=r"https?://.*", example="https://soc.example/perimeter", rule=URL_RULE),
            Key("ca_file", str, None, "the system's CAs otherwise", example="soc-ca.pem"),
            Key("token_file", str, None, 'sent as "Authorization: Bearer ..."', example="soc.token"),
            Key("timeout_s", float, 10.0, low=0.1, high=300),
            Key("actions", WORDS, list(WebhookConfig.actions), choices=ACTIONS),
            Key("witness", bool, False, "also POST each signed journal checkpoint (a witness)"),
        ),
        True,
        "an HTTPS POST of every alarm change as JSON",
    ),
    Table(
        "node",
        (
            Key("id", int, low=1, high=0xFFFE, example=7),
            Key("name", str, None, "node-<id> if not given", example="north-fence-07"),
            Key("heartbeat_s", int, None, "the node's HELLO reports its own", 1, 65535, example=30),
            Key("chainage_m", float, None, "where it sits along the perimeter polyline", low=0, example=195.0),
            Key("side", str, OUTER_FENCE, ", ".join(SIDES), choices=SIDES),
            Key("inside_m", float, 0.0, "how far inside the fence line (a ground node, side = inside)", 0, 500),
        ),
        True,
        "one block per node the site expects; frames from other ids are rejected as unknown",
    ),
)
TABLES = {t.name: t for t in SCHEMA}
TOP = sorted({t.name.split(".")[0] for t in SCHEMA})


def known(head: str) -> set[str]:
    """The names a top-level table may hold: its own keys and its sub-tables'."""
    own = {k.name for k in TABLES[head].keys} if head in TABLES else set()
    return own | {t.name.partition(".")[2] for t in SCHEMA if t.name.startswith(head + ".")}


def defaults(table: Table) -> dict[str, Any]:
    """The table's keys that have a default, with it."""
    return {k.name: k.default for k in table.keys if k.default is not REQUIRED and k.default is not None}
