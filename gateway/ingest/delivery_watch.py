"""Blocked delivery: a node whose heartbeats get through while its events do not.

A jammer that knows a heartbeat from an alarm by its length on air (or by its type, which
travels in clear) can let the heartbeats through and jam every event: supervision stays
"ok" and the climb is never told. The heartbeats give it away: each says how many frames the
node holds unacknowledged (`queued`), and the counters it carries skip the transmissions the
gateway never heard. Heartbeats that report held frames `heartbeats` times in a row while no
event arrives are a `delivery_blocked` finding, with what the counters show; and so is each
new stretch of that run the gateway never heard (the counter skips again, or the node holds
more), so a jammer that outlasts one operator's attention is reported again, and a finding
cleared while the node still cannot deliver is raised afresh by the next stretch.
Sans-I/O: fed each accepted frame in order; a node's state is a few integers.
"""

from dataclasses import dataclass


@dataclass
class Run:
    heartbeats: int = 0  # heartbeats in a row reporting held frames, no event between
    unheard: int = 0  # transmissions skipped by the counter during the run
    queued: int = 0  # what the last of them reported
    reported: tuple[int, int] | None = None  # (unheard, queued) when last reported


class DeliveryWatch:
    def __init__(self, heartbeats: int = 3) -> None:
        self.heartbeats = heartbeats
        self.runs: dict[int, Run] = {}
        self.last_ctr: dict[int, int] = {}

    def heard(self, node_id: int, kind: str, fields: dict[str, int], ctr: int) -> str | None:
        """One accepted frame; the finding's detail when delivery has just been found blocked."""
        run = self.runs.setdefault(node_id, Run())
        last = self.last_ctr.get(node_id)
        self.last_ctr[node_id] = ctr
        if kind != "HEARTBEAT" or not fields.get("queued"):
            # An event got through, a HELLO (a reboot empties the queue), or nothing is held.
            self.runs[node_id] = Run()
            return None
        run.heartbeats += 1
        run.queued = fields["queued"]
        if last is not None and ctr > last + 1:
            run.unheard += ctr - last - 1
        if run.heartbeats < self.heartbeats:
            return None
        if run.reported is not None:
            unheard, queued = run.reported
            if run.unheard == unheard and run.queued <= queued:
                return None  # nothing new since the last finding: no row per heartbeat
        first = run.reported is None
        run.reported = (run.unheard, run.queued)
        detail = "%d heartbeats in a row report %d frame(s) held, and no event arrived; %d transmissions unheard" % (
            run.heartbeats,
            run.queued,
            run.unheard,
        )
        return detail if first else "still blocked: " + detail

    def state(self, node_id: int) -> tuple[Run | None, int | None]:
        """What is known of a node now (for a rollback to put back)."""
        run = self.runs.get(node_id)
        return (Run(**vars(run)) if run else None), self.last_ctr.get(node_id)

    def restore(self, node_id: int, state: tuple[Run | None, int | None]) -> None:
        run, last = state
        if run is None:
            self.runs.pop(node_id, None)
        else:
            self.runs[node_id] = run
        if last is None:
            self.last_ctr.pop(node_id, None)
        else:
            self.last_ctr[node_id] = last
