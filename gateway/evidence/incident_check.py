"""An incident exported by the region, held against the site's journal
(`perimeter journal verify --incident FILE --config gateway.toml [--witness-key witness.pub]`).

The region's export carries each incident as the site published it. The site checks, for
each of its own:
- the journal row the incident names (its proof's number) still has the proof's hash;
- the incident is exactly what that row makes of it (`incident_at`: every field rebuilt from
  the chain; a moved point, a changed time or kind or outcome is named);
- the checkpoint it carried is signed by the site's witness key and still holds.
With the witness's own checkpoints (`--witness`), the journal is also held against them, and
the incident's row is said to be witnessed once a checkpoint at or after it exists.
"""

import csv
import io
import json
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from gateway.evidence.journal import Journal
from gateway.evidence.witness import signed_by
from gateway.outputs.incidents import SCHEMA, IncidentSource, incident_at


@dataclass(frozen=True)
class Finding:
    incident_id: str
    ok: bool
    message: str


def read_exported(text: str) -> list[dict[str, Any]]:
    """The incidents in a regional export: GeoJSON (each feature's `properties.incident`), CSV
    (its `incident` column), JSON lines or a JSON list of incidents. ValueError if none."""
    found: list[dict[str, Any]] = []
    stripped = text.lstrip()
    if stripped.startswith("{") or stripped.startswith("["):
        try:
            data = json.loads(stripped)
        except ValueError:
            data = [json.loads(line) for line in stripped.splitlines() if line.strip()]
        if isinstance(data, dict) and data.get("type") == "FeatureCollection":
            for feature in data.get("features", []):
                incident = (feature.get("properties") or {}).get("incident")
                if isinstance(incident, dict):
                    found.append(incident)
        elif isinstance(data, dict):
            found.append(data)
        else:
            found += [d for d in data if isinstance(d, dict)]
    else:
        for row in csv.DictReader(io.StringIO(text)):
            if row.get("incident"):
                found.append(json.loads(row["incident"]))
    found = [d for d in found if d.get("schema") == SCHEMA]
    if not found:
        raise ValueError("no perimeter incident in it (a GeoJSON or CSV export from perimeter region export)")
    return list({(d.get("id"), d.get("revision")): d for d in found}.values())


def _differences(exported: dict[str, Any], rebuilt: dict[str, Any]) -> list[str]:
    keys = (set(exported) | set(rebuilt)) - {"proof"}
    return sorted(k for k in keys if exported.get(k) != rebuilt.get(k))


def check(
    journal: Journal, source: IncidentSource, incident: dict[str, Any], public: Ed25519PublicKey | None
) -> Finding:
    ident = str(incident.get("id"))
    given = incident.get("proof")
    proof: dict[str, Any] = given if isinstance(given, dict) else {}
    seq, digest = proof.get("seq"), proof.get("hash")
    if not isinstance(seq, int) or not isinstance(digest, str):
        return Finding(ident, False, "no proof (journal row and hash) in the export")
    stored = journal.hash_at(seq)
    if stored is None:
        return Finding(ident, False, "row %d, named by its proof, is not in this journal" % seq)
    if stored != digest:
        return Finding(ident, False, "row %d's hash is not the proof's: the export or the journal was altered" % seq)
    rebuilt = incident_at(source, journal, str(incident.get("alarm_id")), seq)
    if rebuilt is None:
        return Finding(ident, False, "row %d is not this incident's (alarm %s)" % (seq, incident.get("alarm_id")))
    rebuilt["proof"] = {"seq": seq, "hash": digest}
    altered = _differences(incident, rebuilt)
    if altered:
        shown = ", ".join("%s (exported %s, journal %s)" % (k, json.dumps(incident.get(k))[:60],
                          json.dumps(rebuilt.get(k))[:60]) for k in altered[:4])  # fmt: skip
        return Finding(ident, False, "ALTERED: %s" % shown)
    checkpoint = proof.get("checkpoint")
    note = "no checkpoint was signed before it"
    if isinstance(checkpoint, dict):
        if public is not None and not signed_by(checkpoint, public):
            return Finding(ident, False, "its checkpoint is not signed by this site's witness key")
        if journal.hash_at(int(checkpoint.get("seq", 0))) != checkpoint.get("hash"):
            return Finding(ident, False, "its checkpoint (row %s) no longer holds: the journal was rewritten"
                           % checkpoint.get("seq"))  # fmt: skip
        note = "its checkpoint at row %s holds%s" % (checkpoint.get("seq"), "" if public else " (signature unchecked)")
    return Finding(ident, True, "row %d, revision as published; %s" % (seq, note))
