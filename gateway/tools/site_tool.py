"""`perimeter site rotate-key` and `perimeter site key-status`: changing every node's key.

Each node's key stands alone (`gateway/identity/node_keys.py`): random at provisioning, or
agreed with the gateway. A key change agrees a new one with each node by X25519 under its
current key (`protocol/key_agreement.py`), without visiting the fence; a node provisioned
before keys stood alone leaves its site-derived key behind at its first change:

1. `rotate-key` says what to put in the config: `[site] key_change = true`. The gateway,
   restarted with it, offers each node it hears an agreement for epoch `key_epoch + 1`
   (KEYOFFER), keeps the key agreed from the node's answer (KEYX) in the key store before it
   acknowledges it, and from the node's first frame under it refuses the old key.
2. `key-status` reads the journal's `key_agreed` and `rekey` rows: which nodes have moved.
   When every node has it says how to finish: `key_epoch` goes up by one, `key_change` back
   to false, and the gateway restarts.
"""

from pathlib import Path

from gateway.config import GatewayConfig
from gateway.evidence.journal import Journal


class SiteToolError(Exception):
    """What stops the command, and what to do about it."""


def rotate_key(config: GatewayConfig, config_path: Path) -> list[str]:
    """The lines to show the installer: what to set to begin a key change."""
    rotation = config.site_keys
    if rotation.key_change:
        raise SiteToolError(
            "a key change to epoch %d is already under way (site.key_change is true): "
            "see perimeter site key-status" % ((rotation.epoch + 1) & 0xFF)
        )
    epoch = (rotation.epoch + 1) & 0xFF
    return [
        "to change every node's key to epoch %d, set in the [site] table of %s:" % (epoch, config_path),
        "    key_change = true",
        "and restart the gateway: it agrees a new key with every node it hears (X25519 under the node's",
        "current key; the keys go to %s, never to the journal) and accepts the old key" % rotation.node_keys,
        "until the node is heard on the new one. perimeter site key-status says which nodes have moved.",
    ]


def key_status(config: GatewayConfig) -> tuple[bool, list[str]]:
    """Whether every node has moved to the next epoch, and a line per node."""
    rotation = config.site_keys
    if not rotation.key_change:
        return True, ["no key change under way: every node is on epoch %d" % rotation.epoch]
    nxt = (rotation.epoch + 1) & 0xFF
    moved: dict[int, str] = {}
    agreed: dict[int, str] = {}
    if not config.journal.exists():
        raise SiteToolError("no journal at %s: has the gateway run with key_change set?" % config.journal)
    journal = Journal(config.journal, durable=False)
    try:
        for row in journal.entries():
            if row.kind in ("rekey", "key_agreed") and row.data.get("epoch") == nxt and row.node_id is not None:
                (moved if row.kind == "rekey" else agreed).setdefault(row.node_id, row.ts)
    finally:
        journal.close()
    lines = []
    for node in config.nodes:
        if node.id in moved:
            state = "on epoch %d since %s" % (nxt, moved[node.id])
        elif node.id in agreed:
            state = "agreed its key at %s, not yet heard on it" % agreed[node.id]
        else:
            state = "not yet moved (a node before firmware 0.7 cannot agree a key: deploy it again)"
        lines.append("node %5d %-20s %s" % (node.id, node.name, state))
    done = all(node.id in moved for node in config.nodes)
    if done:
        lines += [
            "every node is on epoch %d. To finish, in [site]: key_epoch = %d, key_change = false," % (nxt, nxt),
            "then restart the gateway.",
        ]
    else:
        lines.append(
            "%d of %d nodes moved; the others are offered the agreement again each time they are heard"
            % (len(moved), len(config.nodes))
        )
    return done, lines
