"""What the hash chain says the gateway's state is, read at start.

The retained-state and counters tables sit in the same SQLite file as the journal but outside
its chain: an insider on the gateway host could edit them by hand (a mask that silences a
zone, an open alarm deleted, a counter lowered so that old frames can be played again). At
start the daemon trusts them only as far as the chain backs them:

- open alarms are rebuilt from each alarm's latest journal row;
- a retained mask must match the latest `mask` row of its zone (`operator_requests.py`);
- a node's last counter is never below the counter of its newest journalled event (since
  its latest key revocation, after which a new board under the next generation counts from
  zero).
"""

import json
from typing import Any

from gateway.evidence.journal import Journal


def journalled_alarms(journal: Journal) -> list[dict[str, Any]]:
    """Each alarm as its latest journal row left it (cleared ones included)."""
    rows = journal.select(
        "SELECT data FROM journal WHERE seq IN (SELECT MAX(seq) FROM journal WHERE kind = 'alarm' "
        "GROUP BY json_extract(data, '$.alarm.alarm_id')) ORDER BY seq"
    )
    return [json.loads(r[0])["alarm"] for r in rows]


def journalled_masks(journal: Journal) -> dict[str, dict[str, Any] | None]:
    """Each zone's mask as its latest `mask` row left it (None: lifted)."""
    rows = journal.select("SELECT data FROM journal WHERE kind = 'mask' ORDER BY seq")
    return {d["zone"]: d["mask"] for d in (json.loads(r[0]) for r in rows)}


def journalled_revocations(journal: Journal) -> dict[int, int]:
    """Each node's highest revoked-below key generation the chain holds."""
    rows = journal.select(
        "SELECT node_id, MAX(json_extract(data, '$.generation')) FROM journal "
        "WHERE kind = 'revocation' GROUP BY node_id"
    )
    return {node: int(generation) for node, generation in rows if node is not None and generation is not None}


def last_counters(journal: Journal) -> dict[int, int]:
    """Each node's last accepted uplink counter: the counters table's, raised to the counter
    of the node's newest journalled event where the table says less (unless a revocation
    came after that event: the next generation's board counts afresh)."""
    counters = journal.last_counters()
    revoked = dict(journal.select("SELECT node_id, MAX(seq) FROM journal WHERE kind = 'revocation' GROUP BY node_id"))
    chain = journal.select(
        "SELECT node_id, seq, json_extract(data, '$.ctr') FROM journal WHERE seq IN "
        "(SELECT MAX(seq) FROM journal WHERE kind = 'event' AND node_id IS NOT NULL GROUP BY node_id)"
    )
    for node, seq, ctr in chain:
        if isinstance(ctr, int) and ctr > counters.get(node, -1) and seq > revoked.get(node, 0):
            counters[node] = ctr
    return counters
