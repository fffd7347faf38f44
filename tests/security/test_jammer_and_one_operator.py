"""A jammer that lets a node's heartbeats through and jams its events, working with one operator
at the desk (issue 31, point 4). Before, `delivery_blocked` was raised once per run and that
operator alone acknowledged and cleared it; every later jammed climb then raised nothing until
the node's queue filled. The same operator alone cleared a tamper alarm too. Now, against the
site `perimeter site init` writes (its Mosquitto, password file and ACL, the real gateway):

- clearing a security or tamper alarm waits for a second account, a supervisor;
- each new stretch of frames the node sent and the gateway never heard is reported again: the
  open alarm is escalated, and once a supervisor has agreed to clear it the next stretch
  raises a fresh one.
"""

from gateway.alarming.alarms import ACKNOWLEDGED
from tests.gateway.harness import SimNode
from tests.security.secured_site import SecuredSite, heard, tamper


def jammed_climb(node: SimNode) -> None:
    """A climb the node reports and the jammer keeps off the air (its counter is used up all the same)."""
    node.fence(peak=3000)


async def test_one_operator_cannot_clear_a_jammer_or_an_opened_box_away(site: SecuredSite) -> None:
    assert site.gateway is not None
    book = site.gateway.alarms.book
    node = SimNode(2)  # zone "north"
    for _ in range(3):
        jammed_climb(node)
        await heard(site, node.heartbeat(queued=1))
    (blocked,) = book.open_alarms()
    assert (blocked.category, blocked.detail["kind"]) == ("security", "delivery_blocked")
    await heard(site, tamper(SimNode(1)))
    tampered = next(a for a in book.open_alarms() if a.category == "tamper")

    async with site.console("j.smith") as smith, site.console("m.chief") as chief:
        for alarm in (blocked, tampered):
            assert (await smith.request("ack", alarm_id=alarm.alarm_id, note="radio checked"))["status"] == "ok"
            asked = await smith.request(
                "clear", alarm_id=alarm.alarm_id, note="nothing there", reason="nuisance_unknown"
            )
            assert asked["status"] == "pending" and asked["data"]["requested_by"] == "j.smith"
            assert book.alarms[alarm.alarm_id].state == ACKNOWLEDGED  # before: cleared by him alone
        # The jam goes on: the next climb is jammed too, and the open alarm is back in front of the desk.
        jammed_climb(node)
        await heard(site, node.heartbeat(queued=2))
        assert book.alarms[blocked.alarm_id].state == "active" and book.alarms[blocked.alarm_id].escalations == 1

        # A supervisor agrees, the radio is checked; the jammer waits, then jams the next climb.
        assert (await smith.request("ack", alarm_id=blocked.alarm_id, note="again"))["status"] == "ok"
        asked = await smith.request(
            "clear", alarm_id=blocked.alarm_id, note="spectrum clear now", reason="nuisance_unknown"
        )
        approved = await chief.request("approve", request_id=asked["data"]["request_id"])
        assert approved["status"] == "ok" and approved["data"]["result"]["state"] == "cleared"
        assert blocked.alarm_id not in [a.alarm_id for a in book.open_alarms()]
    jammed_climb(node)
    await heard(site, node.heartbeat(queued=3))
    fresh_alarm = [a for a in book.open_alarms() if a.category == "security"]
    assert len(fresh_alarm) == 1 and fresh_alarm[0].alarm_id != blocked.alarm_id  # before: nothing
    rows = site.operator_rows()
    assert [(r["command"], r["status"]) for r in rows if r["command"] in ("clear", "approve")] == [
        ("clear", "pending"),
        ("clear", "pending"),
        ("clear", "pending"),
        ("approve", "ok"),
    ]
