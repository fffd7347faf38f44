"""The supervisor's report on a simulated week (`simulators/insider_week.py`, journalled by the
real gateway): three operators answer the nights' alarms and ask for maintenance masks by
day; one of them three times masks the same zone at night, approved like any other, while
climbs there are journalled and alarm nobody. The report flags that account, and no other."""

import json
from pathlib import Path

from gateway.cli import main as cli
from simulators.insider_week import INSIDER, simulate


def test_the_report_flags_the_operator_who_silenced_a_zone_before_attacks(tmp_path: Path, capsys: object) -> None:
    config = simulate(tmp_path / "week")
    assert cli(["journal", "report", "--by", "operator", "--config", str(config), "--format", "jsonl"]) == 0
    out = capsys.readouterr().out  # type: ignore[attr-defined]
    reports = {r["account"]: r for r in map(json.loads, out.splitlines())}
    assert set(reports) == {"a.lee", "b.khan", "k.bent", "s.jones"}
    flagged = {name for name, r in reports.items() if r["flags"]}
    assert flagged == {INSIDER}, out
    flags = reports[INSIDER]["flags"]
    assert len(flags) == 3 and all(f.startswith("silenced before an attack: masked north at") for f in flags)
    assert all("(approved by s.jones)" in f and "3 attack event(s)" in f for f in flags)
    # The honest work is counted too: alarms answered, masks asked for, approvals given.
    assert reports["a.lee"]["acknowledged"] > 0 and reports["a.lee"]["asked_to_silence"]["mask"] > 0
    assert reports["s.jones"]["approved"] == sum(sum(r["asked_to_silence"].values()) for r in reports.values())
    assert all(r["median_ack_s"] is None or 30 <= r["median_ack_s"] <= 120 for r in reports.values())
    assert cli(["journal", "report", "--config", str(config)]) == 0  # the text table, for a person
    table = capsys.readouterr().out  # type: ignore[attr-defined]
    assert "! silenced before an attack: masked north" in table and table.index(INSIDER) < table.index("a.lee")
