"""Reading a config's TOML by the schema (`gateway.config_schema`): every table's values typed
and checked, defaults filled in, every error named by its dotted key and line."""

import re
import tomllib
from typing import Any

from gateway.config_keys import REQUIRED, Table, check
from gateway.config_schema import SCHEMA, TABLES, TOP, known

GONE = {  # keys a config from an earlier version may hold, and what to do instead
    "site.next_key_file": "node keys no longer come from a next site key: each node agrees its next key with "
    "the gateway. Remove next_key_file and set key_change = true (perimeter site rotate-key says so)",
}


class ConfigError(Exception):
    """The config cannot be used; the message names the key and line."""


class Reader:
    """Reads TOML text by the schema: every table's values typed and checked, defaults filled
    in, and every error named by dotted key and, where the file has it, line
    (`transport.serial[1].baudrate (line 23): expected an integer, got "fast"`)."""

    def __init__(self, text: str, source: str) -> None:
        self.lines = text.splitlines()
        self.source = source
        try:
            self.data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError("%s: not valid TOML: %s" % (source, exc)) from None

    def line_of(self, table: str, key: str) -> int | None:
        """The line on which `key` is set inside `table` (a dotted header, [[...]] index ignored)."""
        current = ""
        header = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?")
        assign = re.compile(r"^\s*%s\s*=" % re.escape(key))
        for number, line in enumerate(self.lines, 1):
            match = header.match(line)
            if match:
                current = match.group(1)
            elif current == table and assign.match(line):
                return number
        return None

    def fail(self, path: str, message: str) -> ConfigError:
        table, _, key = path.rpartition(".")
        line = self.line_of(re.sub(r"\[\d+\]", "", table), key)
        where = "%s (line %d)" % (path, line) if line else path
        return ConfigError("%s: %s: %s" % (self.source, where, message))

    def values(self) -> dict[str, Any]:
        """Table name -> its values (a list of them for [[...]] tables)."""
        for head, part in self.data.items():
            if head not in TOP:
                raise self.fail(head, "unknown key (known: %s)" % ", ".join(TOP))
            if head not in TABLES or not TABLES[head].array:
                if not isinstance(part, dict):
                    raise self.fail(head, "expected a table [%s]" % head)
                self._unknown(part, head, known(head))
        values: dict[str, Any] = {}
        for table in SCHEMA:
            head, _, sub = table.name.partition(".")
            part = self.data.get(head, [] if table.array and not sub else {})
            if sub:
                part = part.get(sub, [] if table.array else {})
            if not table.array:
                values[table.name] = self._entry(table, part, table.name)
                continue
            if not isinstance(part, list) or not all(isinstance(e, dict) for e in part):
                raise self.fail(table.name, "expected [[%s]] blocks" % table.name)
            values[table.name] = [self._entry(table, e, "%s[%d]" % (table.name, i)) for i, e in enumerate(part)]
        return values

    def _unknown(self, part: dict[str, Any], path: str, known: set[str]) -> None:
        for name in part:
            gone = GONE.get("%s.%s" % (path, name))
            if gone or name not in known:
                raise self.fail("%s.%s" % (path, name), gone or "unknown key (known: %s)" % ", ".join(sorted(known)))

    def _entry(self, table: Table, part: dict[str, Any], path: str) -> dict[str, Any]:
        if table.array:
            self._unknown(part, path, {k.name for k in table.keys})
        entry = {}
        for key in table.keys:
            if key.name not in part:
                if key.default is REQUIRED:
                    raise self.fail("%s.%s" % (path, key.name), "required")
                entry[key.name] = key.default
                continue
            try:
                entry[key.name] = check(key, part[key.name])
            except ValueError as exc:
                raise self.fail("%s.%s" % (path, key.name), str(exc)) from None
        return entry
