"""What the gateway says of itself: who it is (retained on `P/bridge/info`) and how it is doing
(`P/bridge/health` every `health_interval_s`, and /metrics). Read from a running gateway,
passed in (typed loosely: this module is below the daemon, never imports it)."""

from typing import Any

VERSION = "0.1.0"  # the gateway's; the package's own version is issue 32's to unify


def info(gateway: Any) -> dict[str, Any]:
    config = gateway.config
    return {
        "version": VERSION,
        "site": config.site_name,
        "gateway": config.gateway_id,
        "transports": {name: t.kind for name, t in gateway.transports.items()},
        "nodes": len(gateway.registry.nodes),
        "encrypted": config.encrypted,
    }


def health(gateway: Any) -> dict[str, Any]:
    return {
        "transports": {n: t.state for n, t in gateway.transports.items()},
        "frames": {n: dict(c) for n, c in gateway.pipeline.counters.items()},
        "outbox_depth": gateway.journal.outbox_depth(),
        "supervision": gateway.registry.supervision_counts(),
        "mqtt_connected": gateway.sink.connected,
        "mqtt_reconnects": gateway.sink.reconnects,
        **gateway.counters,
    }
