"""Home Assistant MQTT discovery: a device per node, and an alarm-state sensor per zone.

Published retained under `homeassistant/…` and again whenever Home Assistant announces
itself on `homeassistant/status` with `online` (it forgets non-retained state on restart).
Every entity is unavailable while the gateway's `P/bridge/state` is `offline` (its last
will); node entities also while the node is in comm-fail (`P/node/<id>/availability`), and
the binary sensors expire when no state arrives for three heartbeat intervals.

Per node: binary sensors tamper, connectivity and problem (a fault, low battery or
comm-fail) from the retained node state; event entities for fence, acoustic and impact
detections. Per zone: a sensor whose state is `clear`, `alarm`, `acknowledged` or `masked`,
from the retained `P/zone/<name>/state`.
"""

import json
from typing import Any

from gateway.config import GatewayConfig
from gateway.outputs import topics

STATUS_TOPIC = "homeassistant/status"
DISCOVERY_PREFIX = "homeassistant"
PROBLEMS = ("accelerometer_fault", "microphone_fault", "impact_fault", "battery_low", "storage_fault")
DETECTIONS = {
    "fence": ["climb", "cut", "rattle"],
    "acoustic": ["drone", "drone_cleared", "aircraft", "aircraft_gone"],
    "impact": ["impact"],
}
ZONE_STATES = ["clear", "alarm", "acknowledged", "masked"]
PROBLEM_TEMPLATE = (
    "{{ 'ON' if value_json.supervision != 'ok' or (value_json.status | select('in', %s) | list) else 'OFF' }}"
)


def _availability(topic: str) -> dict[str, str]:
    return {"topic": topic, "payload_available": "online", "payload_not_available": "offline"}


def _object_id(config: GatewayConfig, *parts: object) -> str:
    return "_".join(["perimeter", config.site_name, *(str(p) for p in parts)]).replace("-", "_").replace(".", "_")


def discovery(config: GatewayConfig, prefix: str) -> list[tuple[str, bytes]]:
    """Every discovery message: (topic, retained JSON payload); none unless the site asked for them."""
    if not config.mqtt.homeassistant_discovery:  # a site's broker may have nothing to do with HA
        return []
    bridge_device = {
        "identifiers": [_object_id(config, "gateway", config.gateway_id)],
        "name": "Perimeter gateway %s" % config.gateway_id,
        "manufacturer": "Perimeter",
        "model": "gateway",
    }
    bridge_availability = {
        "topic": topics.bridge_state(prefix),
        "payload_available": "online",
        "payload_not_available": "offline",
    }
    messages: list[tuple[str, dict[str, Any]]] = []
    for node in config.nodes:
        heartbeat = node.heartbeat_s or config.default_heartbeat_s
        device = {
            "identifiers": [_object_id(config, "node", node.id)],
            "name": node.name,
            "manufacturer": "Perimeter",
            "model": "fence node",
            "via_device": bridge_device["identifiers"][0],
        }
        state_topic = topics.node_state(prefix, node.id)
        availability = [
            bridge_availability,
            {
                "topic": topics.node_availability(prefix, node.id),
                "payload_available": "online",
                "payload_not_available": "offline",
            },
        ]
        binary = {
            "tamper": ("tamper", "{{ 'ON' if value_json.tamper else 'OFF' }}", availability),
            "connectivity": (
                "connectivity",
                "{{ 'ON' if value_json.supervision == 'ok' else 'OFF' }}",
                [bridge_availability],
            ),
            "problem": (
                "problem",
                PROBLEM_TEMPLATE % json.dumps(list(PROBLEMS)),
                [bridge_availability],
            ),
        }
        for key, (device_class, template, avail) in binary.items():
            uid = _object_id(config, "node", node.id, key)
            messages.append(
                (
                    "%s/binary_sensor/%s/config" % (DISCOVERY_PREFIX, uid),
                    {
                        "name": key.capitalize(),
                        "unique_id": uid,
                        "object_id": uid,
                        "device_class": device_class,
                        "state_topic": state_topic,
                        "value_template": template,
                        "availability": avail,
                        "availability_mode": "all",
                        "expire_after": 3 * heartbeat,
                        "device": device,
                    },
                )
            )
        for kind, types in DETECTIONS.items():
            uid = _object_id(config, "node", node.id, kind)
            label = "class" if kind != "impact" else None
            template = '{"event_type": "{{ value_json.labels["class"] }}"}' if label else '{"event_type": "impact"}'
            messages.append(
                (
                    "%s/event/%s/config" % (DISCOVERY_PREFIX, uid),
                    {
                        "name": "%s detection" % kind.capitalize(),
                        "unique_id": uid,
                        "object_id": uid,
                        "state_topic": topics.node_event(prefix, node.id, kind),
                        "event_types": types,
                        "value_template": template,
                        "availability": availability,
                        "availability_mode": "all",
                        "device": device,
                    },
                )
            )
    for zone in config.perimeter.zones:
        uid = _object_id(config, "zone", zone.name)
        messages.append(
            (
                "%s/sensor/%s/config" % (DISCOVERY_PREFIX, uid),
                {
                    "name": "Zone %s" % zone.name,
                    "unique_id": uid,
                    "object_id": uid,
                    "device_class": "enum",
                    "options": ZONE_STATES,
                    "state_topic": topics.zone_state(prefix, zone.name),
                    "value_template": "{{ value_json.state }}",
                    "json_attributes_topic": topics.zone_state(prefix, zone.name),
                    "availability": [bridge_availability],
                    "device": bridge_device,
                },
            )
        )
    return [(topic, json.dumps(payload, sort_keys=True).encode()) for topic, payload in messages]
