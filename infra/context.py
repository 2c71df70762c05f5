"""Reading CDK context into typed, checked settings: the machinery `infra/config.py` declares
its settings with. Values given with `-c` arrive as strings and values from `cdk.json` arrive
typed, so every reader accepts both; a bad value raises `ConfigError` naming the key, what was
given and what is allowed.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from types import UnionType
from typing import Any, Union, get_args, get_origin, get_type_hints


class ConfigError(ValueError):
    """A context value that cannot be deployed; the message says how to fix it."""


class MappingContext:
    """cdk.json's context as a plain dict, read the way `ServiceConfig.from_context` reads an
    app's node (`try_get_context`, `get_all_context`): for tools and tests that hold no app."""

    def __init__(self, context: dict[str, Any]) -> None:
        self.context = context

    def try_get_context(self, key: str) -> Any:
        return self.context.get(key)

    def get_all_context(self) -> dict[str, Any]:
        return dict(self.context)


@dataclass(frozen=True)
class Rule:
    """What a setting's value must satisfy (`ok`), and how the error says so (`expected`)."""

    ok: Callable[[Any], Any]
    expected: str


def one_of(values: tuple[Any, ...]) -> Rule:
    return Rule(lambda v: v in values, "one of " + ", ".join(str(v) for v in values))


def between(low: float, high: float, expected: str) -> Rule:
    return Rule(lambda v: low <= v <= high, expected)


def at_least(low: float, expected: str) -> Rule:
    return Rule(lambda v: v >= low, expected)


def matches(pattern: re.Pattern[str], expected: str) -> Rule:
    return Rule(pattern.match, expected)


def setting(key: str, default: Any, rule: Rule | None = None) -> Any:
    """A field read from context `key`. Its value, once typed, must satisfy `rule`: null (on an
    optional setting) always does, and a list's rule applies to each item."""
    return field(default=default, metadata={"key": key, "rule": rule})


def _to_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise ValueError(raw)


def _to_int(raw: Any) -> int:
    if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
        raise ValueError(raw)
    return int(raw.strip()) if isinstance(raw, str) else int(raw)


def _to_float(raw: Any) -> float:
    if isinstance(raw, bool):
        raise ValueError(raw)
    return float(raw)


def _to_tuple(raw: Any) -> tuple[str, ...]:
    if isinstance(raw, str):
        text = raw.strip()
        raw = json.loads(text) if text.startswith("[") else text.split(",")
    if not isinstance(raw, list | tuple):
        raise ValueError(raw)
    return tuple(str(item).strip() for item in raw if str(item).strip())


def _to_str(raw: Any) -> str:
    if isinstance(raw, list | dict):
        raise ValueError(raw)
    return str(raw).strip()


# Field type -> (reader of a context value, typed from cdk.json or a string from `-c`; what the
# error says was expected).
_READERS: dict[type, tuple[Callable[[Any], Any], str]] = {
    bool: (_to_bool, "true or false"),
    int: (_to_int, "a whole number"),
    float: (_to_float, "a number"),
    tuple: (_to_tuple, 'a JSON list like ["a","b"] or a comma-separated string'),
    str: (_to_str, "text"),
}


def coerce(key: str, raw: Any, annotation: Any) -> Any:
    """Turns a context value into the field's type (`int | None`, `tuple[str, ...]`, ...)."""
    members = get_args(annotation) if get_origin(annotation) in (Union, UnionType) else ()
    optional = type(None) in members
    base = next(m for m in members if m is not type(None)) if optional else annotation
    read, expected = _READERS[get_origin(base) or base]
    if optional and isinstance(raw, str) and raw.strip().lower() in ("", "null", "none"):
        return None
    try:
        return read(raw)
    except (ValueError, TypeError):  # json.JSONDecodeError is a ValueError
        raise ConfigError(
            f"context {key!r} is {raw!r}: expected {expected} (e.g. -c {key}=...)"
        ) from None


def reject_near_misses(context: dict[str, Any], known: dict[str, str]) -> None:
    """A typo such as `-c memorymb=4096` would otherwise be ignored without a word."""
    lowered = {k.lower(): k for k in known}
    for key in context:
        if key in known or ":" in key or key.startswith("@"):
            continue
        match = lowered.get(key.lower()) or next(
            iter(difflib.get_close_matches(key, list(known), n=1, cutoff=0.85)), None
        )
        if match:
            raise ConfigError(f"context {key!r} is not a setting; did you mean {match!r}?")


def check(ok: Any, key: str, value: Any, expected: str) -> None:
    if not ok:
        raise ConfigError(f"context {key!r} is {value!r}: expected {expected} (-c {key}=...)")


def check_rules(settings: Any) -> None:
    """Checks every field of the dataclass `settings` against the rule its `setting` names."""
    for f in fields(settings):
        rule: Rule | None = f.metadata.get("rule")
        value = getattr(settings, f.name)
        if rule is None or value is None:
            continue
        for item in value if isinstance(value, tuple) else (value,):
            try:
                ok = rule.ok(item)
            except TypeError:  # a value of the wrong type, given in code rather than context
                ok = False
            check(ok, f.metadata["key"], item, rule.expected)


def read_context(cls: Any, node: Any) -> dict[str, Any]:
    """The typed values of the dataclass `cls`'s settings that the context sets (cdk.json,
    cdk.context.json, `-c`); a near-miss of a key (a typo) is an error, not ignored."""
    known = {f.metadata["key"]: f.name for f in fields(cls)}
    reject_near_misses(node.get_all_context(), known)
    types = get_type_hints(cls)
    values: dict[str, Any] = {}
    for f in fields(cls):
        raw = node.try_get_context(f.metadata["key"])
        if raw is not None:
            values[f.name] = coerce(f.metadata["key"], raw, types[f.name])
    return values
