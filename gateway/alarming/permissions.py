"""Who may do what at the operator desk, and what needs a second pair of eyes.

Roles (one per account, in the accounts file that provisions the dashboard and the broker):

- `viewer` sees alarms, zones and pending requests; changes nothing.
- `operator` acknowledges and clears alarms, asks for a zone mask.
- `supervisor` does what an operator does, and approves or refuses what others asked for.
- `engineer` installs and tunes nodes: asks for CONFIG changes, walk tests and node commands.

Silencing is never one person's act: masking a zone (or extending a mask), disarming a node
or changing its thresholds or heartbeat, a walk test, clearing a severity-1 alarm, and
clearing an alarm about the system itself (a tamper, a security finding such as blocked
delivery, jamming: what an insider working with an intruder would most want gone) take effect
only when a second, different account with the supervisor role approves them within
the site's approval time (`gateway/alarming/approvals.py`). The README's permissions table is
this module in prose.

Sans-I/O: plain data and one function per question.
"""

from typing import Any

VIEWER = "viewer"
OPERATOR = "operator"
SUPERVISOR = "supervisor"
ENGINEER = "engineer"
ROLES = (VIEWER, OPERATOR, SUPERVISOR, ENGINEER)

EVERYONE = frozenset(ROLES)
DESK = frozenset({OPERATOR, SUPERVISOR})
FIELD = frozenset({ENGINEER, SUPERVISOR})

# command -> the roles that may ask for it
MAY_ASK = {
    "alarms": EVERYONE,
    "pending": EVERYONE,
    "ack": DESK,
    "clear": DESK,
    "mask": DESK,
    "unmask": DESK,
    "node_config": FIELD,
    "walk_test": FIELD,
    "node_command": FIELD,
    "approve": frozenset({SUPERVISOR}),
    "refuse": frozenset({SUPERVISOR}),
}
APPROVERS = frozenset({SUPERVISOR})

# CONFIG fields whose change can blind a node or leave it unsupervised.
SILENCING_CONFIG = ("heartbeat_s", "fence_threshold", "cut_threshold", "acoustic_snr_db", "impact_threshold")

# Alarm categories about the system itself: one operator alone never clears them. A climb
# stays one operator's to clear (the office answers dozens a day, and every clear is
# journalled under its name); a jammer or an opened box is what hides the next one.
FOUR_EYES_CLEAR = frozenset({"tamper", "security", "jamming"})


def may_ask(role: str | None, command: str) -> bool:
    return role is not None and role in MAY_ASK.get(command, frozenset())


def needs_approval(
    command: str, request: dict[str, Any], severity: int | None = None, category: str | None = None
) -> str | None:
    """Why this request needs a second account's approval, or None if it takes effect at once.
    `severity` and `category` are the alarm's, for a clear."""
    if command == "mask":
        return "masking a zone silences it"
    if command == "walk_test" and request.get("minutes"):
        return "a walk test turns a node's detections into tests"
    if command == "node_config":
        if "armed" in request and not request["armed"]:
            return "disarming a node silences it"
        changed = [name for name in SILENCING_CONFIG if name in request]
        if changed:
            return "changing %s can blind a node or leave it unsupervised" % ", ".join(changed)
    if command == "clear" and severity == 1:
        return "clearing a severity-1 alarm"
    if command == "clear" and category in FOUR_EYES_CLEAR:
        return "clearing a %s alarm" % category
    return None
