"""Typed views of a provider's profile.json (limits, prices, timings, formats).

Each class is built from one section of the profile and holds no facts of its
own: every number comes from spec/, so a change there changes the simulator,
the OpenAPI export and the contract suite together.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from typing import Any

Json = Mapping[str, Any]


def provenance(section: Json) -> str:
    """The ``x-provenance`` note of a spec section ("" when absent)."""
    return str(section.get("x-provenance", ""))


@dataclass(frozen=True)
class IdFormat:
    """How task ids look: a prefix and ``length`` characters of ``alphabet``."""

    prefix: str
    alphabet: str
    length: int

    @classmethod
    def from_json(cls, data: Json) -> IdFormat:
        return cls(data["prefix"], data["alphabet"], int(data["length"]))

    def generate(self, rng: random.Random) -> str:
        return self.prefix + "".join(rng.choice(self.alphabet) for _ in range(self.length))

    def matches(self, value: str) -> bool:
        body = value.removeprefix(self.prefix)
        return (
            value.startswith(self.prefix)
            and len(body) == self.length
            and all(ch in self.alphabet for ch in body)
        )


@dataclass(frozen=True)
class RateLimitRule:
    """``limit`` admissions per sliding ``window_seconds``, per account or per
    client address (``scope``)."""

    name: str
    limit: int
    window_seconds: float
    counts: str
    scope: str = "account"

    @classmethod
    def from_json(cls, name: str, data: Json) -> RateLimitRule:
        scope = str(data.get("scope", "account"))
        if scope not in ("account", "client"):
            raise ValueError(f"rate_limits.{name}.scope must be account or client, not {scope!r}")
        return cls(
            name, int(data["limit"]), float(data["window_seconds"]), str(data["counts"]), scope
        )


@dataclass(frozen=True)
class IdempotencyPolicy:
    enabled: bool
    required: bool
    ttl_seconds: float
    in_flight: str  # "request": 409 while the first request is handled; "task": while its task runs

    @classmethod
    def from_json(cls, data: Json) -> IdempotencyPolicy:
        in_flight = str(data["in_flight"])
        if in_flight not in ("request", "task"):
            raise ValueError(
                f"idempotency.in_flight must be 'request' or 'task', not {in_flight!r}"
            )
        return cls(
            bool(data["enabled"]), bool(data["required"]), float(data["ttl_seconds"]), in_flight
        )


@dataclass(frozen=True)
class Price:
    credits: int
    provenance: str
    estimate: bool


@dataclass(frozen=True)
class PriceTable:
    """Credits per request: an explicit cell when one matches, else the first
    per-second rate whose ``when`` matches, times the duration, rounded."""

    cells: tuple[Json, ...]
    rates: tuple[Json, ...]
    #: the request fields a cell is keyed by, besides "credits" and provenance
    keys: tuple[str, ...]
    #: the request field holding the clip's seconds
    duration_field: str = "duration"

    @classmethod
    def from_json(cls, data: Json, duration_field: str = "duration") -> PriceTable:
        cells = tuple(data.get("cells", ()))
        rates = tuple(data.get("rates", ()))
        keyed = [k for cell in cells[:1] for k in cell if k != "credits" and not k.startswith("x-")]
        conditions = [k for rate in rates for k in rate.get("when", {})]
        keys = tuple(dict.fromkeys([*keyed, *conditions]))
        return cls(cells, rates, keys, duration_field)

    def price(self, params: Mapping[str, Any]) -> Price:
        """The price of a request whose defaults are filled in."""
        for cell in self.cells:
            if all(_same(cell[key], params.get(key)) for key in cell if _is_field(key)):
                return Price(int(cell["credits"]), provenance(cell), estimate=False)
        for rate in self.rates:
            if all(_matches(want, params.get(key)) for key, want in rate.get("when", {}).items()):
                return self._per_second(rate, params)
        described = ", ".join(f"{k}={params.get(k)!r}" for k in self.keys)
        raise LookupError(f"no price for {described}")

    def _per_second(self, rate: Json, params: Mapping[str, Any]) -> Price:
        seconds = Decimal(str(params[self.duration_field]))
        credits = Decimal(str(rate["per_second"])) * seconds
        rounding = ROUND_CEILING if rate.get("rounding") == "ceil" else ROUND_HALF_UP
        rounded = int(credits.quantize(Decimal(1), rounding=rounding))
        estimate = bool(rate.get("estimate"))
        source = provenance(rate)
        return Price(rounded, f"estimate: {source}" if estimate else source, estimate=estimate)


def _is_field(key: str) -> bool:
    return key != "credits" and not key.startswith("x-")


def _same(documented: Any, sent: Any) -> bool:
    """A documented value and a request's are the same: booleans only as booleans,
    and a duration written "8" is 8 seconds."""
    if isinstance(documented, bool) or isinstance(sent, bool):
        return documented is sent
    if isinstance(documented, int) and isinstance(sent, str) and sent.isdigit():
        return documented == int(sent)
    return bool(documented == sent)


def _matches(want: Any, value: Any) -> bool:
    """A rate's condition: a value, or any of a list of values."""
    if isinstance(want, list):
        return any(_same(w, value) for w in want)
    return _same(want, value)


@dataclass(frozen=True)
class TimingModel:
    """How long a task processes: lognormal around a median that grows with the clip."""

    base: float
    per_clip_second: float
    tier_factor: Mapping[str, float]
    sigma: float
    min_seconds: float
    max_seconds: float

    @classmethod
    def from_json(cls, data: Json) -> TimingModel:
        median = data["median_seconds"]
        return cls(
            float(median["base"]),
            float(median["per_clip_second"]),
            {k: float(v) for k, v in data.get("tier_factor", {}).items()},
            float(data["sigma"]),
            float(data["min_seconds"]),
            float(data["max_seconds"]),
        )

    def median(self, clip_seconds: int, tier: str | None = None) -> float:
        factor = self.tier_factor.get(tier, 1.0) if tier else 1.0
        return (self.base + self.per_clip_second * clip_seconds) * factor

    def sample(self, rng: random.Random, clip_seconds: int, tier: str | None = None) -> float:
        """Seconds of processing for one task, drawn reproducibly from ``rng``."""
        drawn = rng.lognormvariate(math.log(self.median(clip_seconds, tier)), self.sigma)
        return round(min(self.max_seconds, max(self.min_seconds, drawn)), 3)


@dataclass(frozen=True)
class MediaProfile:
    fps: int
    extra_frames: int
    audio_sample_rate: int
    adaptive_aspect_ratio: str
    geometry: Mapping[str, Mapping[str, tuple[int, int]]]

    @classmethod
    def from_json(cls, data: Json) -> MediaProfile:
        geometry = {
            res: {ratio: (int(w), int(h)) for ratio, (w, h) in sizes.items()}
            for res, sizes in data["geometry"].items()
        }
        return cls(
            int(data["fps"]),
            int(data["extra_frames"]),
            int(data["audio_sample_rate"]),
            str(data["adaptive_aspect_ratio"]),
            geometry,
        )

    def size(self, resolution: str, aspect_ratio: str) -> tuple[int, int]:
        """Width and height delivered for a requested resolution and ratio."""
        if aspect_ratio == "adaptive":
            aspect_ratio = self.adaptive_aspect_ratio
        return self.geometry[resolution][aspect_ratio]

    def frame_count(self, seconds: int) -> int:
        return seconds * self.fps + self.extra_frames


@dataclass(frozen=True)
class WebhookPolicy:
    max_attempts: int
    backoff_seconds: float
    backoff_factor: float
    timeout_seconds: float
    payload: str  # "envelope" (the GET status body) or "data" (its data object)

    @classmethod
    def from_json(cls, data: Json | None) -> WebhookPolicy | None:
        if not data:
            return None
        return cls(
            int(data["max_attempts"]),
            float(data["backoff_seconds"]),
            float(data["backoff_factor"]),
            float(data["timeout_seconds"]),
            str(data["payload"]),
        )

    def delay_before(self, attempt: int) -> float:
        """Seconds between the task's end and attempt number ``attempt`` (1-based)."""
        return sum(self.backoff_seconds * self.backoff_factor**i for i in range(attempt - 1))


@dataclass(frozen=True)
class FailurePolicy:
    rate: float
    code: str
    message: str
    refund: bool


@dataclass(frozen=True)
class Profile:
    """Everything about how a provider behaves, beyond its HTTP shape."""

    name: str
    timestamp_precision: str
    task_id: IdFormat
    max_body_bytes: int
    rate_limits: tuple[RateLimitRule, ...]
    idempotency: IdempotencyPolicy
    failure: FailurePolicy
    retention_seconds: float
    pricing: PriceTable
    timing: TimingModel
    media: MediaProfile
    webhooks: WebhookPolicy | None
    #: observed-only behaviours keyed by name (purchase_required, content_rejection, ...)
    quirks: Mapping[str, Json] = field(default_factory=dict)
    #: the account a fresh simulator starts with: {"id", "credits", "keys"}
    demo_account: Json | None = None
    #: which request field carries what the engine needs: duration, resolution,
    #: aspect_ratio, audio, and where present seed, tier, callback_url, media
    request_fields: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_json(cls, name: str, data: Json) -> Profile:
        quirk_names = ("purchase_required", "content_rejection", "create_latency")
        return cls(
            name=name,
            timestamp_precision=str(data["timestamps"]["precision"]),
            task_id=IdFormat.from_json(data["ids"]["task"]),
            max_body_bytes=int(data["limits"]["max_body_bytes"]),
            rate_limits=tuple(
                RateLimitRule.from_json(rule, body)
                for rule, body in data["rate_limits"].items()
                if not rule.startswith("x-")
            ),
            idempotency=IdempotencyPolicy.from_json(data["idempotency"]),
            failure=FailurePolicy(
                float(data["failure"]["rate"]),
                str(data["failure"]["code"]),
                str(data["failure"]["message"]),
                bool(data["refunds"]["on_failure"]),
            ),
            retention_seconds=float(data["retention"]["task_seconds"]),
            pricing=PriceTable.from_json(
                data["pricing"], str(data.get("request_fields", {}).get("duration", "duration"))
            ),
            timing=TimingModel.from_json(data["timing"]),
            media=MediaProfile.from_json(data["media"]),
            webhooks=WebhookPolicy.from_json(data.get("webhooks")),
            quirks={k: data[k] for k in quirk_names if k in data},
            demo_account=data.get("demo_account"),
            request_fields={
                k: str(v)
                for k, v in data.get("request_fields", {}).items()
                if not k.startswith("x-")
            },
        )
