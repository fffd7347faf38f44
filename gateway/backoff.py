"""How long to wait before trying a link again: one formula for every reconnecting loop.

Jittered exponential backoff in aiomqtt's shape, `uniform(0, 1.5 ** attempt)` scaled to the
link: `first_s` plus a random share of `first_s * 1.5 ** attempt`, capped at `cap_s`. The
jitter keeps a gateway's loops (and many gateways after a broker restart) from retrying in
step; the cap says how soon a link that is back is noticed.
"""

import random


def backoff_delay(attempt: int, first_s: float, cap_s: float) -> float:
    """Seconds to wait before try number `attempt` (1 for the first retry)."""
    return first_s + random.uniform(0, min(cap_s, first_s * 1.5 ** min(attempt, 20)))
