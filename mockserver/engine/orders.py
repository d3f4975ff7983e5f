"""A provider request as one engine call: who calls, what counts against which
limit, the profile's quirks, the price, then the task.

A view parses and validates, and hands the outcome over as an ``Order``
(validation refusals included, since a refused request still counts against
the rate limits); ``Simulation.place`` and ``Simulation.look`` decide the rest
from the provider's profile.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from mockserver.engine.errors import InvalidRequest, SimulatorError
from mockserver.engine.model import Task
from mockserver.spec import Profile


@dataclass
class Caller:
    """Who sends a request; ``account_id`` is filled in once the key is accepted."""

    provider: str
    key: str | None
    client: str | None = None
    account_id: str | None = None


@dataclass(frozen=True)
class Order:
    """A submission as the view read it."""

    body: Mapping[str, Any]  # as sent ({} when unreadable)
    params: dict[str, Any] | None  # validated, defaults filled in; None when refused
    refusal: SimulatorError | None = None  # raised once the request has been counted
    idempotency_key: str | None = None
    origin: str = ""
    scenario: str | None = None
    operation: str | None = None  # the operation's name in api.json


def media_count(profile: Profile, body: Mapping[str, Any]) -> int:
    """How many reference media a body carries (its profile's ``media`` field)."""
    field = profile.request_fields.get("media")
    found = body.get(field) if field else None
    return len(found) if isinstance(found, list) else 0


def _urls(params: Mapping[str, Any], fields: Any) -> list[tuple[str, str]]:
    """(where, URL) for each URL the named fields carry, a list field item by item."""
    found: list[tuple[str, str]] = []
    for name in [fields] if isinstance(fields, str) else [str(f) for f in fields]:
        value = params.get(name)
        if isinstance(value, list):
            found += [(f"{name}[{i}]", str(item)) for i, item in enumerate(value)]
        elif value is not None:
            found.append((name, str(value)))
    return found


def refuse_media(profile: Profile, params: Mapping[str, Any]) -> None:
    """Reference media the profile refuses before anything is charged: more of one
    kind than its limit (``media_kinds``), or a format the observed service
    could not use (quirk ``media_refusal``: a URL path matching its pattern)."""
    field = profile.request_fields.get("media")
    if field and profile.media_kinds is not None:
        excess = profile.media_kinds.excess(params.get(field))
        if excess is not None:
            kind, count = excess
            limit = f"at most {kind.max} {kind.name} URLs"
            raise InvalidRequest(f"{field}: must hold {limit} (got {count})")
    rule = profile.quirks.get("media_refusal")
    if not rule:
        return
    pattern = re.compile(str(rule["pattern"]), re.IGNORECASE)
    for where, url in _urls(params, rule["fields"]):
        if pattern.search(urlsplit(url).path):
            raise InvalidRequest(str(rule["message"]).format(field=where, url=url))


def refuse_content(profile: Profile, params: Mapping[str, Any]) -> None:
    """The observed "real person" rejection: a marker in any URL of the listed
    fields stands for an image the service's check refuses; refused uncharged."""
    rule = profile.quirks.get("content_rejection")
    if not rule:
        return
    markers = [str(m) for m in rule.get("markers", [rule.get("marker")]) if m]
    for where, url in _urls(params, rule.get("fields", rule.get("field", []))):
        if any(marker in url for marker in markers):
            raise InvalidRequest(str(rule["message"]).format(field=where, url=url))


def needs_purchase(profile: Profile, params: Mapping[str, Any]) -> bool:
    """The purchase gate: every request of an operation (``every_request``), or
    some tiers, need an account that has bought credits."""
    rule = profile.quirks.get("purchase_required", {})
    if rule.get("every_request"):
        return True
    tier = profile.request_fields.get("tier")
    return tier is not None and params.get(tier) in rule.get("tiers", [])


def create_latency(profile: Profile, params: Mapping[str, Any]) -> float:
    """Observed slow creates: seconds per reference medium."""
    per_url = profile.quirks.get("create_latency", {}).get("per_media_url_seconds", 0.0)
    return float(per_url) * media_count(profile, params)


def field_value(profile: Profile, params: Mapping[str, Any], name: str) -> Any:
    """The value of the request field the profile names for ``name``, if any."""
    field = profile.request_fields.get(name)
    return None if field is None else params.get(field)


__all__ = ["Caller", "Order", "Task", "media_count"]
