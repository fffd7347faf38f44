"""`perimeter site rotate-key` and `perimeter site key-status`: the site key's life cycle.

Every node key derives from the site key, so a site key that may have leaked (a gateway
disk that left the building, an insider who read it) is replaced by a new one, an epoch
later, without visiting the fence:

1. `rotate-key` writes the next epoch's key beside the current one (chmod 600) and says
   what to put in the config: `[site] next_key_file`. The gateway, restarted with it, sends
   each node it hears its new key in a REKEY sealed under the current one, and accepts both
   keys meanwhile (`gateway/ingest/pipeline.py`, `Keyring`).
2. `key-status` reads the journal's `rekey` rows: which nodes the gateway has heard on the
   new key. When every node has moved it says how to finish: the new file becomes
   `key_file`, `key_epoch` goes up by one, `next_key_file` is emptied, and the gateway
   restarts. From then on the old key opens nothing.
"""

import os
from pathlib import Path

from gateway.config import GatewayConfig
from gateway.evidence.journal import Journal
from gateway.identity.site_key import write_site_key


class SiteToolError(Exception):
    """What stops the command, and what to do about it."""


def rotate_key(config: GatewayConfig, config_path: Path) -> list[str]:
    """Write the next epoch's key file; the lines to show the installer."""
    rotation = config.site_keys
    if rotation.next_key is not None:
        raise SiteToolError(
            "a rotation to epoch %d is already under way (site.next_key_file is set): "
            "see perimeter site key-status" % ((rotation.epoch + 1) & 0xFF)
        )
    epoch = (rotation.epoch + 1) & 0xFF
    path = config_path.resolve().parent / ("site-epoch%d.key" % epoch)
    if path.exists():
        raise SiteToolError("%s exists already: move it away (it may be a rotation someone began)" % path)
    write_site_key(path, os.urandom(32))
    return [
        "%s: the site key of epoch %d (chmod 600; back it up as you back up the current one)" % (path, epoch),
        "now set, in the [site] table of %s:" % config_path,
        '    next_key_file = "%s"' % path.name,
        "and restart the gateway: it sends every node it hears its key of epoch %d and accepts both" % epoch,
        "epochs until you finish; perimeter site key-status says which nodes have moved.",
    ]


def key_status(config: GatewayConfig) -> tuple[bool, list[str]]:
    """Whether every node has moved to the next epoch, and a line per node."""
    rotation = config.site_keys
    if rotation.next_key is None:
        return True, ["no rotation under way: every node is on epoch %d" % rotation.epoch]
    nxt = (rotation.epoch + 1) & 0xFF
    moved: dict[int, str] = {}
    if not config.journal.exists():
        raise SiteToolError("no journal at %s: has the gateway run with next_key_file set?" % config.journal)
    journal = Journal(config.journal, durable=False)
    try:
        for row in journal.entries():
            if row.kind == "rekey" and row.data.get("epoch") == nxt and row.node_id is not None:
                moved.setdefault(row.node_id, row.ts)
    finally:
        journal.close()
    lines = []
    for node in config.nodes:
        at = moved.get(node.id)
        lines.append(
            "node %5d %-20s %s" % (node.id, node.name, "on epoch %d since %s" % (nxt, at) if at else "not yet moved")
        )
    done = all(node.id in moved for node in config.nodes)
    if done:
        lines += [
            "every node is on epoch %d. To finish, in [site]: key_file = the next_key_file's value," % nxt,
            'key_epoch = %d, next_key_file = "", then restart the gateway.' % nxt,
        ]
    else:
        lines.append(
            "%d of %d nodes moved; the others are sent their key again each time they are heard"
            % (len(moved), len(config.nodes))
        )
    return done, lines
