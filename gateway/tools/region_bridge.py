"""The site's Mosquitto bridge to the region (written by `perimeter site init --region`).

One way only: the site's incidents (`perimeter/<site>/+/incidents`) and its plan on the map
(`perimeter/<site>/+/plan`, at every start) go out at QoS 1; nothing comes back, so nobody at
the region can act on the site. Over TLS with the site's own client certificate (the region
logs the site in by its common name, and lets it publish under its own name only).
A clean-session-off bridge whose queue Mosquitto keeps on disk: while the WAN
is down the incidents wait (up to `QUEUE_LIMIT`), and are sent in order when it is back; the
regional broker acknowledges each only once its quorum queue holds it. The addresses are the
regional cluster's nodes, tried in turn.
"""

import re
from dataclasses import dataclass, field
from pathlib import Path

QUEUE_LIMIT = 1_000_000  # a week's WAN outage at a busy site, many times over
ADDRESS = re.compile(r"^[A-Za-z0-9.-]+:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$")


@dataclass(frozen=True)
class RegionLink:
    brokers: tuple[str, ...]  # host:port of each regional node's MQTT TLS listener
    ca_file: Path  # the region's CA
    cert_file: Path  # this site's certificate (its CN: the site's name) ...
    key_file: Path  # ... and its key
    origin: tuple[float, float] | None = None  # lon, lat of the plan's (0, 0)
    share_staff_names: bool = False
    keepalive_s: int = 30
    extra: dict[str, str] = field(default_factory=dict)

    def check(self) -> None:
        """ValueError naming the first thing an installer must fix."""
        if not self.brokers:
            raise ValueError("--region-broker: give at least one regional broker node (host:port)")
        for broker in self.brokers:
            if not ADDRESS.match(broker):
                raise ValueError("--region-broker: %r is not host:port" % broker)
        for option, path in (("--region-ca", self.ca_file), ("--region-cert", self.cert_file),
                             ("--region-key", self.key_file)):  # fmt: skip
            if not path.is_file():
                raise ValueError("%s: cannot read %s" % (option, path))


def bridge_conf(site: str, link: RegionLink, folder: Path) -> str:
    """The bridge section; `folder` holds the region's files (ca.pem, site.pem, site.key)."""
    return "\n".join(
        [
            "# Written by perimeter site init --region: the site's incidents to the regional broker.",
            "connection region",
            "address %s" % " ".join(link.brokers),
            "round_robin false",  # the first node while it answers, the next when it does not
            "bridge_protocol_version mqttv311",
            "try_private false",
            "notifications false",
            "cleansession false",  # the region's session, and our queue for it, outlive a WAN cut
            "local_clientid perimeter-region-bridge",
            "remote_clientid perimeter-%s-bridge" % site,
            "start_type automatic",
            "restart_timeout 2 10",  # back off to 10 s at most: a link back is used within seconds
            "keepalive_interval %d" % link.keepalive_s,
            "topic perimeter/%s/+/incidents out 1" % site,
            "topic perimeter/%s/+/plan out 1" % site,
            "bridge_cafile %s" % (folder / "ca.pem"),
            "bridge_certfile %s" % (folder / "site.pem"),
            "bridge_keyfile %s" % (folder / "site.key"),
            "",
        ]
    )


def broker_settings() -> str:
    """What the site's Mosquitto needs besides the bridge: room for a long outage's queue, and
    the queue written to disk every few seconds (not only at a clean stop)."""
    return "max_queued_messages %d\nmax_queued_bytes 0\nautosave_interval 5\n" % QUEUE_LIMIT
