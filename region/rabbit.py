"""The regional broker: RabbitMQ, clustered, speaking MQTT to the sites' bridges.

Why RabbitMQ (not NATS): a site's bridge publishes each incident at QoS 1, and RabbitMQ's
MQTT plugin sends the PUBACK only once the message is confirmed by the queues it was routed
to; routed to a quorum queue (Raft, replicated on every node), that is once a majority of the
nodes hold it. So the site's Mosquitto keeps an incident in its persistent queue until the
region has it durably, across a WAN cut or a regional node lost. (NATS's MQTT acknowledges a
QoS 1 publish once it has been handed on, not once a JetStream stream stored it.) The
consumers (`perimeter region consume`, any number, on any nodes) share the quorum queue.

Identity: each site logs in with its TLS client certificate (its common name is the site's
name, as in its topics); the site may publish under `perimeter.<site>.` only and read nothing.
"""

import base64
import hashlib
import os
import re
from typing import Any

QUEUE = "region.incidents"
EXCHANGE = "amq.topic"  # where the MQTT plugin publishes (MQTT `/` becomes `.`)
BINDINGS = ("perimeter.*.*.incidents", "perimeter.*.*.plan")  # perimeter/<site>/<gateway>/incidents, .../plan
CONSUMER_USER = "region"
SITE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def password_hash(password: str, salt: bytes | None = None) -> str:
    """RabbitMQ's rabbit_password_hashing_sha256: base64(salt + SHA-256(salt + password))."""
    salt = salt if salt is not None else os.urandom(4)
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()


def definitions(sites: list[str], consumer_password: str) -> dict[str, Any]:
    """Users and permissions for the cluster's `load_definitions`: each site publishes its
    own incidents only, reads nothing; the consumer reads the region's queue."""
    for site in sites:
        if not SITE_NAME.match(site):
            raise ValueError("a site's name is letters, digits, _ and - (its certificate's CN): %r" % site)
    users = [{"name": CONSUMER_USER, "password_hash": password_hash(consumer_password),
              "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": []}]  # fmt: skip
    permissions = [
        {"user": CONSUMER_USER, "vhost": "/", "configure": r"^region\.", "write": r"^region\.",
         "read": r"^region\.|^amq\.topic$"},
    ]  # fmt: skip
    topic_permissions = []
    for site in sites:
        # No password: a site logs in with its certificate only.
        users.append({"name": site, "password_hash": "", "hashing_algorithm": "rabbit_password_hashing_sha256",
                      "tags": []})  # fmt: skip
        permissions.append({"user": site, "vhost": "/", "configure": "^mqtt-subscription-%s" % site,
                            "write": r"^amq\.topic$", "read": "^$"})  # fmt: skip
        topic_permissions.append({"user": site, "vhost": "/", "exchange": EXCHANGE,
                                  "write": r"^perimeter\.%s\." % site, "read": "^$"})  # fmt: skip
    return {
        "users": users,
        "vhosts": [{"name": "/"}],
        "permissions": permissions,
        "topic_permissions": topic_permissions,
        "queues": [],
        "exchanges": [],
        "bindings": [],
    }
