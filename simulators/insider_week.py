"""A simulated week at the security office, journalled by the real gateway (its pipeline,
alarm engine, operator desk and journal, on a clock the simulation turns): every night a few
climbs raise alarms that the operator on shift acknowledges and clears; by day, masks for
maintenance, asked for by an operator and approved by the supervisor, with nothing happening
under them. One operator, the planted insider, asks three times at night for a mask on the
same zone ("camera fault"), approved like any other, and each time climbs are journalled
there while it lasts, and raise no alarm.

    python -m simulators.insider_week OUT_DIR      # then: perimeter journal report --config OUT_DIR/gateway.toml

What `perimeter journal report --by operator` is specified against (tests/security).
"""

import json
import random
import sys
from datetime import UTC, datetime
from pathlib import Path

from gateway.clock import Clock, utc_iso
from gateway.config import load
from gateway.config_dump import dump
from gateway.daemon import Gateway
from gateway.identity.accounts import add_account
from gateway.identity.site_key import write_site_key
from gateway.ingest.pipeline import Reception
from simulators.frame_node import SITE_ID, SITE_KEY, SimNode

STAFF = {"a.lee": "operator", "b.khan": "operator", "k.bent": "operator", "s.jones": "supervisor"}
INSIDER = "k.bent"
ZONES = ("north", "east", "south")
WEEK_START = datetime(2026, 11, 23, tzinfo=UTC).timestamp()
HOUR = 3600.0
OUTCOMES = ("nuisance_animal", "nuisance_weather", "attempted", "nuisance_animal", "nuisance_unknown", "test")


class TurnedClock(Clock):
    """Time as the simulation sets it."""

    def __init__(self, t: float) -> None:
        self.t = t

    def now(self) -> float:
        return self.t

    def utc_now(self) -> str:
        return utc_iso(self.t)


def write_site(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    write_site_key(folder / "site.key", SITE_KEY)
    for name, role in STAFF.items():
        add_account(folder / "operators.txt", name, role, "a week of night shifts", n=2**10)
    doc = {
        "site": {"id": SITE_ID, "name": "week", "key_file": "site.key", "timezone": "Europe/London"},
        "gateway": {"id": "gw", "journal": "journal.sqlite"},
        # Nodes that are never heard from between events must not fall into comm-fail.
        "supervision": {"missed_heartbeats": 100, "default_heartbeat_s": 86_400},
        "metrics": {"listen": ""},
        "dashboard": {"listen": "", "accounts_file": "operators.txt"},
        "perimeter": {
            "polyline": [[0, 0], [900, 0]],
            "zone": [{"name": z, "start_m": 300.0 * i, "end_m": 300.0 * (i + 1)} for i, z in enumerate(ZONES)],
        },
        "alarms": {"fence_window_s": 0.5},
        "node": [{"id": n, "name": "fence-%d" % n, "chainage_m": 50.0 + 100 * (n - 1)} for n in range(1, 10)],
    }
    config = folder / "gateway.toml"
    config.write_text(dump(doc))
    return config


class Office:
    def __init__(self, gateway: Gateway, clock: TurnedClock, rng: random.Random) -> None:
        self.gateway, self.clock, self.rng = gateway, clock, rng
        self.nodes = {n: SimNode(n) for n in range(1, 10)}
        self.cleared = 0

    def at(self, t: float) -> None:
        self.clock.t = t
        self.gateway.check_supervision(t)

    def climb(self, node: int, t: float) -> None:
        self.at(t)
        self.gateway.on_stream(self.nodes[node].fence(peak=3000), Reception("fence", t))
        self.at(t + 1)  # the fence window closes

    def ask(self, account: str, command: str, **fields: object) -> dict[str, object]:
        answer = self.gateway.requests.handle(account, command, json.dumps(fields).encode())
        assert answer is not None, "the journal refused the request"
        return answer

    def answer_alarms(self, operator: str, t: float) -> None:
        """The operator on shift acknowledges and clears what is open, a minute or two late."""
        for alarm in list(self.gateway.alarms.book.open_alarms()):
            self.at(t + self.rng.uniform(30, 120))
            self.ask(operator, "ack", alarm_id=alarm.alarm_id, note="camera checked")
            self.at(self.clock.t + self.rng.uniform(60, 300))
            # What the patrol found, in turn (not drawn from the week's random numbers, which
            # place its climbs): mostly animals and weather, now and then someone who tried.
            reason = OUTCOMES[self.cleared % len(OUTCOMES)] if alarm.category == "intrusion" else "maintenance"
            self.cleared += 1
            note = "patrol found nothing further" if reason.startswith("nuisance") else "patrol report filed"
            cleared = self.ask(operator, "clear", alarm_id=alarm.alarm_id, note=note, reason=reason)
            if cleared.get("status") == "pending":
                self.approve(cleared)

    def approve(self, answer: dict[str, object]) -> None:
        data = answer["data"]
        assert isinstance(data, dict)
        self.at(self.clock.t + self.rng.uniform(60, 240))
        self.ask("s.jones", "approve", request_id=data["request_id"])

    def mask(self, operator: str, zone: str, t: float, minutes: int, reason: str) -> None:
        self.at(t)
        self.approve(self.ask(operator, "mask", zone=zone, minutes=minutes, reason=reason))


def simulate(folder: Path, seed: int = 7) -> Path:
    """The week, journalled in `folder`; the gateway config's path."""
    config = write_site(folder)
    clock = TurnedClock(WEEK_START)
    gateway = Gateway(load(config), clock).open()
    office = Office(gateway, clock, random.Random(seed))
    rng = office.rng
    try:
        for day in range(7):
            midnight = WEEK_START + day * 24 * HOUR
            on_shift = ("a.lee", "b.khan", INSIDER)[day % 3]
            honest = ("a.lee", "b.khan")[day % 2]
            # By day: a maintenance mask, approved, with nothing under it.
            zone = ZONES[day % 3]
            office.mask(honest, zone, midnight + 10 * HOUR, 60, "fence repair, works order %d" % (5500 + day))
            office.at(midnight + 10.75 * HOUR)  # the work done, the mask lifted before it runs out
            office.ask(honest, "unmask", zone=zone)
            # By night: a few climbs (wildlife, patrols, the odd real one), answered.
            for hour in sorted(rng.uniform(20, 29) for _ in range(rng.randint(2, 5))):
                if hour * HOUR + midnight <= clock.t:
                    continue  # the office was still busy with the last one
                office.climb(rng.randint(1, 9), midnight + hour * HOUR)
                office.answer_alarms(on_shift, clock.t)
            if day in (1, 3, 5):  # the insider's nights: north masked, then climbs there
                office.mask(INSIDER, "north", midnight + 25.8 * HOUR, 60, "camera fault, engineer called")
                for minute in (12, 14, 19):
                    office.climb(rng.randint(1, 3), midnight + 25.8 * HOUR + (minute + 5) * 60)
        office.at(WEEK_START + 7 * 24 * HOUR)
    finally:
        gateway.journal.close()
    return config


if __name__ == "__main__":
    import logging

    logging.basicConfig(level=logging.ERROR)  # the gateway logs every alarm; the journal has them
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "insider-week")
    print("journalled a simulated week in %s" % simulate(out).parent)
