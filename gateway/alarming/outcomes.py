"""What an alarm turned out to be, said by the operator who clears it: the reason code.

Perimeter standards judge a site by its nuisance alarms per zone per 30 days, and a site can
only count them if every clearing says what the alarm was. The codes are the control room's
usual ones: a real intrusion, an attempt that failed (a climber who gave up, a package that
fell short), a nuisance (weather, an animal, vegetation, or not found out), maintenance work
at the fence, and a test. Clearing without one is refused; the code is journalled with the
alarm row, so the rate per zone is read back from the journal alone.
"""

from collections.abc import Iterable
from typing import Any

# code -> what the operator sees on the button; the order is the order of the choice.
REASONS = {
    "intrusion": "intrusion",
    "attempted": "attempted intrusion",
    "nuisance_weather": "nuisance: weather",
    "nuisance_animal": "nuisance: animal",
    "nuisance_vegetation": "nuisance: vegetation",
    "nuisance_unknown": "nuisance: unknown cause",
    "maintenance": "maintenance",
    "test": "test",
}
NUISANCE = frozenset(code for code in REASONS if code.startswith("nuisance_"))
WINDOW_S = 30 * 24 * 3600.0  # the standards' period


def is_reason(code: Any) -> bool:
    return isinstance(code, str) and code in REASONS


def outcome(code: str | None) -> str:
    """The group an alarm's reason code falls in: real, nuisance, maintenance, test (or
    'not given' for alarms cleared before reason codes existed)."""
    if code in ("intrusion", "attempted"):
        return "real"
    if code in NUISANCE:
        return "nuisance"
    if code in ("maintenance", "test"):
        return code
    return "not given"


def nuisance_per_zone(cleared: Iterable[tuple[float, str | None, str | None]], now: float) -> dict[str, int]:
    """Nuisance alarms per zone cleared in the 30 days before `now`, from (cleared at, zone,
    reason code) of every clearing."""
    counts: dict[str, int] = {}
    for at, zone, reason in cleared:
        if reason in NUISANCE and now - WINDOW_S <= at <= now:
            key = zone or "-"
            counts[key] = counts.get(key, 0) + 1
    return counts
