"""Config files written from the schema: the commented template, and `dump()` of a document,
checked key by key, so what is written is what the parser reads
(`tests/gateway/test_config_schema.py` round-trips every default through both)."""

import json
from typing import Any

from gateway.config_keys import REQUIRED, check
from gateway.config_schema import SCHEMA, TOP, known


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string: JSON's escapes are TOML's
    if isinstance(value, float):
        return repr(value) if value == value and abs(value) != float("inf") else "nan"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list | tuple):
        return "[%s]" % ", ".join(toml_value(v) for v in value)
    raise ValueError("%r has no TOML form here" % (value,))


def dump(doc: dict[str, Any]) -> str:
    """A config file from a document shaped as the TOML is ({"site": {...}, "transport":
    {"tcp": [{...}]}, "node": [{...}]}); every key is checked against the schema, so what is
    written is what `parse()` reads. ValueError names a key the schema does not know or a
    value it would refuse."""
    for head, part in doc.items():
        if head not in TOP:
            raise ValueError("unknown table %r (known: %s)" % (head, ", ".join(TOP)))
        for entry in part if isinstance(part, list) else [part]:
            for name in set(entry) - known(head):
                raise ValueError("unknown key %s.%s" % (head, name))
    out = []
    for table in SCHEMA:
        head, _, sub = table.name.partition(".")
        part = doc.get(head)
        if sub:
            part = part.get(sub) if isinstance(part, dict) else None
        own = {k.name for k in table.keys}
        for entry in (part or []) if table.array else [part or {}]:
            if table.array and set(entry) - own:
                raise ValueError("unknown key %s.%s" % (table.name, sorted(set(entry) - own)[0]))
            values = {n: v for n, v in entry.items() if n in own and v is not None}
            if not table.array and not values:
                continue
            out.append(("[[%s]]" if table.array else "[%s]") % table.name)
            out += ["%s = %s" % (n, toml_value(check(table.key(n), v))) for n, v in values.items()]
            out.append("")
    return "\n".join(out)


def template() -> str:
    """The commented config that `perimeter gateway config-template` prints: every key with
    its default, or commented out with an example where it has none."""
    lines = [
        "# Perimeter gateway configuration. Every key is shown with its default; delete what you",
        "# do not need. Paths are relative to this file's folder. The [[...]] blocks are examples:",
        "# uncomment one per transport, zone, integration or node.",
        "",
    ]
    for table in SCHEMA:
        lines.append(_commented(("[[%s]]" if table.array else "[%s]") % table.name, table.doc, table.array))
        for key in table.keys:
            has_default = key.default is not REQUIRED and key.default is not None
            example_only = key.example is not None and (not has_default or key.default == "")
            shown = key.example if example_only else key.default if has_default else ""
            off = table.array or key.default is None or (has_default and example_only)
            lines.append(_commented("%s = %s" % (key.name, toml_value(shown)), key.doc, off))
        lines.append("")
    return "\n".join(lines)


def _commented(text: str, doc: str, off: bool) -> str:
    line = ("# " if off else "") + text
    return "%-30s # %s" % (line, doc) if doc else line
