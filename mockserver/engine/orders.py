"""A provider request as one engine call: who calls, what counts against which
limit, the profile's quirks, the price, then the task.

A view parses and validates, and hands the outcome over as an ``Order``
(validation refusals included, since a refused request still counts against
the rate limits); ``Simulation.place`` and ``Simulation.look`` decide the rest
from the provider's profile.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

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


def refuse_content(profile: Profile, params: Mapping[str, Any]) -> None:
    """The observed "real person" rejection: a marker in a field, refused uncharged."""
    rule = profile.quirks.get("content_rejection")
    if rule and str(rule["marker"]) in str(params.get(str(rule["field"]), "")):
        raise InvalidRequest(str(rule["message"]))


def needs_purchase(profile: Profile, params: Mapping[str, Any]) -> bool:
    """The observed purchase gate: some tiers need an account that bought credits."""
    tiers = profile.quirks.get("purchase_required", {}).get("tiers", [])
    tier = profile.request_fields.get("tier")
    return tier is not None and params.get(tier) in tiers


def create_latency(profile: Profile, params: Mapping[str, Any]) -> float:
    """Observed slow creates: seconds per reference medium."""
    per_url = profile.quirks.get("create_latency", {}).get("per_media_url_seconds", 0.0)
    return float(per_url) * media_count(profile, params)


def field_value(profile: Profile, params: Mapping[str, Any], name: str) -> Any:
    """The value of the request field the profile names for ``name``, if any."""
    field = profile.request_fields.get(name)
    return None if field is None else params.get(field)


__all__ = ["Caller", "Order", "Task", "media_count"]
