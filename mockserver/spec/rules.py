"""Cross-field request rules written as data, and their one evaluator.

A profile may list rules that JSON Schema cannot say well: ones that depend on
what the chosen model supports, or that count the items of a list. Each rule is
``{id, when?, require, code, param, message}``: when ``when`` holds (always, if
absent) and ``require`` does not, the request is refused with ``code``,
``param`` and ``message``. Rules run in order; the first broken one is the
answer. The language (``conditions`` below) is described in the profile's own
``rule_language`` section, and nothing here knows a provider.

Conditions:

- ``{"all": [c, ...]}``, ``{"any": [c, ...]}``, ``{"not": c}``
- ``{"field": F, "is": "set"}``: F is present and not null
- ``{"field": F, "is": "active"}``: F is set and not its neutral value (an
  empty list is neutral too)
- ``{"field": F, "equals": V}``
- ``{"field": F, "in_model": K}``: F is unset, or its value is in capability K
- ``{"field": F, "in_model_range": K}``: F is unset, or within K's ``min`` and
  ``max``, or -1 where K has ``auto``
- ``{"field": F, "step": {"offset": a, "step": s}}``: F is unset, or a + n·s
- ``{"model": K}``: capability K is true or a number above 0
- ``{"model_family": [names]}``: the target's family is one of names
- ``{"count": M, "min": n, "max": n}``: the number of items matching M is
  within the bounds (either may be absent; ``max`` may be ``{"model": K}``);
  M is ``{"type": T or [T...], "role": [R...]}``, where null in the roles
  matches an item without a role
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Json = Mapping[str, Any]


@dataclass(frozen=True)
class Facts:
    """What rules are evaluated over."""

    #: the request's fields that are set (null counts as absent)
    fields: Json
    #: the list ``count`` conditions count (e.g. the content items)
    items: Sequence[Json] = ()
    #: what the request's target (its model) supports, by capability name
    capabilities: Json = field(default_factory=dict)
    #: the target's family, for ``model_family``
    family: str = ""
    #: each field's neutral value, for ``is: active``
    neutral: Json = field(default_factory=dict)


@dataclass(frozen=True)
class Broken:
    """The first rule a request breaks, and what its message may show."""

    rule: Json
    #: "value" (the field's value) and "max" (a count's bound), where known
    details: dict[str, Any]

    @property
    def code(self) -> str:
        return str(self.rule["code"])

    @property
    def param(self) -> str:
        return str(self.rule.get("param", ""))

    @property
    def message(self) -> str:
        return str(self.rule.get("message", ""))


def first_broken(rules: Sequence[Json], facts: Facts) -> Broken | None:
    """The first rule whose ``when`` holds and whose ``require`` does not."""
    for rule in rules:
        if not isinstance(rule, Mapping):
            continue
        details: dict[str, Any] = {}
        when = rule.get("when")
        if when is not None and not holds(when, facts, {}):
            continue
        if not holds(rule["require"], facts, details):
            return Broken(rule, details)
    return None


def holds(condition: Json, facts: Facts, details: dict[str, Any]) -> bool:
    """Whether ``condition`` holds; ``details`` learns the values a message shows."""
    if "all" in condition:
        return all(holds(c, facts, details) for c in condition["all"])
    if "any" in condition:
        return any(holds(c, facts, details) for c in condition["any"])
    if "not" in condition:
        return not holds(condition["not"], facts, details)
    if "count" in condition:
        return _count_holds(condition, facts, details)
    if "model_family" in condition:
        return facts.family in condition["model_family"]
    if "field" in condition:
        return _field_holds(condition, facts, details)
    if "model" in condition:
        return capable(facts.capabilities.get(str(condition["model"])))
    raise ValueError(f"unknown rule condition {dict(condition)!r}")


def capable(value: Any) -> bool:
    """A capability is on when it is true, or a number above 0 (a count allowed)."""
    if isinstance(value, bool):
        return value
    return isinstance(value, (int, float)) and value > 0


def _is_set(facts: Facts, name: str) -> bool:
    return facts.fields.get(name) is not None


def _field_holds(condition: Json, facts: Facts, details: dict[str, Any]) -> bool:
    name = str(condition["field"])
    value = facts.fields.get(name)
    details.setdefault("value", value)
    if "is" in condition:
        if condition["is"] == "set":
            return value is not None
        if condition["is"] == "active":
            return value is not None and value != facts.neutral.get(name) and value != []
        raise ValueError(f"unknown 'is' in rule condition: {condition['is']!r}")
    if "equals" in condition:
        return value is not None and value == condition["equals"]
    if value is None:  # the remaining conditions hold for an unset field
        return True
    if "in_model" in condition:
        allowed = facts.capabilities.get(str(condition["in_model"])) or []
        return value in allowed
    if "in_model_range" in condition:
        bounds = facts.capabilities.get(str(condition["in_model_range"])) or {}
        if value == -1 and bounds.get("auto"):
            return True
        return _number(value) and bounds.get("min", value) <= value <= bounds.get("max", value)
    if "step" in condition:
        offset, step = int(condition["step"]["offset"]), int(condition["step"]["step"])
        return _number(value) and (value - offset) % step == 0
    raise ValueError(f"unknown field rule condition {dict(condition)!r}")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _count_holds(condition: Json, facts: Facts, details: dict[str, Any]) -> bool:
    found = sum(1 for item in facts.items if matches_item(condition["count"], item))
    low = condition.get("min")
    bound = condition.get("max")
    if isinstance(bound, Mapping):
        allowed = facts.capabilities.get(str(bound["model"]))
        bound = int(allowed) if isinstance(allowed, (int, float)) else 0
    high = None if bound is None else int(bound)
    if high is not None:
        details.setdefault("max", high)
    return (low is None or found >= int(low)) and (high is None or found <= high)


def matches_item(matcher: Json, item: Json) -> bool:
    """Whether a list item is of the matcher's type(s) and role(s)."""
    kinds = matcher.get("type")
    if kinds is not None:
        allowed = [kinds] if isinstance(kinds, str) else list(kinds)
        if item.get("type") not in allowed:
            return False
    roles = matcher.get("role")
    return roles is None or item.get("role") in roles


__all__ = ["Broken", "Facts", "capable", "first_broken", "holds", "matches_item"]
