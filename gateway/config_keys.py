"""What a config key is (its type, bounds, default and the rule a bad value is told) and how a
value is checked against it: the grammar the schema (`gateway.config_schema`) is written in."""

import re
from dataclasses import dataclass
from typing import Any

REQUIRED: Any = type("Required", (), {"__repr__": lambda self: "REQUIRED"})()
NAME = r"[A-Za-z0-9_.-]+"  # an MQTT topic level
EUI = r"[0-9A-Fa-f]{16}"
EUI_RULE = 'a gateway EUI is 16 hex digits, e.g. "aa555a0000000001"'
URL_RULE = "expected an https:// (or http:// on a trusted network) URL"
NAME_RULE = "use letters, digits, '_', '-', '.' only (it is an MQTT topic level)"
ACTIONS = ("raised", "updated", "escalated", "acknowledged", "cleared")
POINTS = "points"  # a list of [x, y] pairs
WORDS = "words"  # a list of strings (out of `choices`, or each matching `pattern`)


@dataclass(frozen=True)
class Key:
    name: str
    kind: Any  # int, float, str, bool, POINTS or WORDS
    default: Any = REQUIRED  # None: absent unless given
    doc: str = ""
    low: float | None = None
    high: float | None = None
    pattern: str | None = None
    choices: tuple[str, ...] | None = None
    example: Any = None  # shown, commented out, where there is no default to show
    rule: str = NAME_RULE  # what a value that does not match `pattern` is told


@dataclass(frozen=True)
class Table:
    name: str  # dotted, as in the TOML header
    keys: tuple[Key, ...]
    array: bool = False  # [[name]] blocks
    doc: str = ""

    def key(self, name: str) -> Key:
        return next(k for k in self.keys if k.name == name)


_KIND_NAMES = {int: "an integer", str: "a string", bool: "true or false", float: "a number"}


def check(key: Key, value: Any) -> Any:
    """The value, typed (an integer where a number is asked becomes a float); ValueError says
    what is wrong with it."""
    if key.kind is POINTS:
        if not (
            isinstance(value, list)
            and value
            and all(isinstance(p, list) and len(p) == 2 and all(_number(v) for v in p) for p in value)
        ):
            raise ValueError("expected a list of [x, y] pairs, e.g. [[0, 0], [600, 0]]")
        return value
    if key.kind is WORDS:
        if not isinstance(value, list) or not all(isinstance(a, str) for a in value):
            raise ValueError("expected a list of strings")
        if key.choices is not None and not all(a in key.choices for a in value):
            raise ValueError("expected a list of %s" % ", ".join(key.choices))
        if key.pattern is not None and not all(re.fullmatch(key.pattern, a) for a in value):
            raise ValueError(key.rule)
        return value
    if key.kind is float and _number(value):
        value = float(value)
    elif not isinstance(value, key.kind) or key.kind is int and isinstance(value, bool):
        shown = '"%s"' % value if isinstance(value, str) else "%s %r" % (type(value).__name__, value)
        raise ValueError("expected %s, got %s" % (_KIND_NAMES[key.kind], shown))
    if key.low is not None and value < key.low or key.high is not None and value > key.high:
        raise ValueError("%s is outside %s..%s" % (value, key.low, key.high))
    if key.pattern is not None and not re.fullmatch(key.pattern, value):
        raise ValueError(key.rule)
    if key.choices is not None and value not in key.choices:
        raise ValueError("%r is not one of %s" % (value, ", ".join(key.choices)))
    return value


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
