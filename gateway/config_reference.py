"""The configuration reference, written from the schema (`config_schema.py`) so that it cannot
fall behind it: a Markdown page for the docs site (`docs/configuration.md`) and a JSON Schema
(`docs/gateway.schema.json`) for editors and deployment tools.

    python -m gateway.config_reference            # rewrite both
    python -m gateway.config_reference --check    # exit 1 if either is stale (a spec runs this)
"""

import json
import sys
from pathlib import Path
from typing import Any

from gateway.config_keys import POINTS, REQUIRED, WORDS, Key, Table
from gateway.config_schema import SCHEMA

DOCS = Path(__file__).resolve().parents[1] / "docs"
PAGE = DOCS / "configuration.md"
SCHEMA_FILE = DOCS / "gateway.schema.json"
_TYPE_WORDS = {int: "integer", float: "number", str: "string", bool: "boolean", POINTS: "[[x, y], ...]"}


def _kind(key: Key) -> str:
    if key.kind is WORDS:
        return "list of strings"
    return _TYPE_WORDS[key.kind]


def _default(key: Key) -> str:
    if key.default is REQUIRED:
        return "**required**"
    if key.default is None:
        return "unset" + (" (e.g. `%s`)" % json.dumps(key.example) if key.example is not None else "")
    return "`%s`" % json.dumps(key.default)


def _allowed(key: Key) -> str:
    parts = []
    if key.low is not None or key.high is not None:
        parts.append("%s to %s" % (_number(key.low), _number(key.high)))
    if key.choices:
        parts.append(", ".join("`%s`" % c for c in key.choices))
    if key.pattern:
        parts.append("matches `%s`" % key.pattern.replace("|", "\\|"))
    return "; ".join(parts)


def _number(value: float | None) -> str:
    if value is None:
        return "any"
    return "%g" % value if value != int(value) else f"{int(value):,}"


def markdown() -> str:
    lines = [
        "# Configuration reference",
        "",
        "Every table and key of `gateway.toml`, written from the schema the gateway reads it with",
        "(`gateway/config_schema.py`, by `python -m gateway.config_reference`). `perimeter gateway",
        "config-template` prints a commented config; `perimeter gateway check-config --config FILE`",
        "reads one and says what would leave the site deaf or open. The same schema as JSON Schema:",
        "[gateway.schema.json](gateway.schema.json). Paths are relative to the config's folder.",
    ]
    for table in SCHEMA:
        header = "[[%s]]" % table.name if table.array else "[%s]" % table.name
        lines += ["", "## `%s`" % header, ""]
        if table.doc:
            lines += [table.doc[0].upper() + table.doc[1:] + ".", ""]
        if table.array:
            lines += ["One block per item; as many as the site has.", ""]
        lines += ["| key | type | default | allowed | what it is for |", "|---|---|---|---|---|"]
        for key in table.keys:
            doc = key.doc.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")
            lines.append("| `%s` | %s | %s | %s | %s |" % (key.name, _kind(key), _default(key), _allowed(key), doc))
    return "\n".join(lines) + "\n"


def _key_schema(key: Key) -> dict[str, Any]:
    out: dict[str, Any]
    if key.kind is POINTS:
        pair = {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2}
        out = {"type": "array", "items": pair, "minItems": 1}
    elif key.kind is WORDS:
        item: dict[str, Any] = {"type": "string"}
        if key.choices:
            item["enum"] = list(key.choices)
        if key.pattern:
            item["pattern"] = "^(?:%s)$" % key.pattern
        out = {"type": "array", "items": item}
    else:
        out = {"type": _TYPE_WORDS[key.kind]}
        if key.low is not None:
            out["minimum"] = key.low
        if key.high is not None:
            out["maximum"] = key.high
        if key.choices:
            out["enum"] = list(key.choices)
        if key.pattern:
            out["pattern"] = "^(?:%s)$" % key.pattern
    if key.doc:
        out["description"] = key.doc
    if key.default is not REQUIRED and key.default is not None:
        out["default"] = key.default
    return out


def _table_schema(table: Table) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "type": "object",
        "properties": {k.name: _key_schema(k) for k in table.keys},
        "additionalProperties": False,
    }
    required = [k.name for k in table.keys if k.default is REQUIRED]
    if required:
        obj["required"] = required
    if table.doc:
        obj["description"] = table.doc
    return {"type": "array", "items": obj} if table.array else obj


def json_schema() -> dict[str, Any]:
    root: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Perimeter gateway configuration (gateway.toml)",
        "type": "object",
        "properties": {},
        "additionalProperties": False,
    }
    for table in SCHEMA:
        *parents, last = table.name.split(".")
        node = root
        for part in parents:
            node = node["properties"].setdefault(
                part, {"type": "object", "properties": {}, "additionalProperties": False}
            )
        schema = _table_schema(table)
        if last in node["properties"]:  # a table that also has sub-tables: merge its keys in
            node["properties"][last]["properties"].update(schema["properties"])
        else:
            node["properties"][last] = schema
    root["required"] = [t.name for t in SCHEMA if "." not in t.name and any(k.default is REQUIRED for k in t.keys)]
    return root


def main(argv: list[str]) -> int:
    wanted = {PAGE: markdown(), SCHEMA_FILE: json.dumps(json_schema(), indent=2) + "\n"}
    stale = [p for p, text in wanted.items() if not p.exists() or p.read_text(encoding="utf-8") != text]
    if "--check" in argv:
        for path in stale:
            print("%s is stale: run python -m gateway.config_reference" % path)
        return 1 if stale else 0
    for path in stale:
        path.write_text(wanted[path], encoding="utf-8")
        print("wrote %s" % path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
