"""Typed views of a provider's profile.json (limits, prices, timings, formats).

Each class is built from one section of the profile and holds no facts of its
own: every number comes from spec/, so a change there changes the simulator,
the OpenAPI export and the contract suite together.
"""

from __future__ import annotations

import functools
import math
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from typing import Any
from urllib.parse import urlsplit

Json = Mapping[str, Any]

#: a resolution written as a size, WIDTHxHEIGHT ("1248x704")
_LITERAL_SIZE = re.compile(r"([1-9][0-9]*)x([1-9][0-9]*)")

#: how many prices a table remembers (distinct combinations of its fields' values)
_PRICES_KEPT = 4096
#: a request field that is not there (priced differently from one that is null)
_MISSING = object()
#: the types of the field values a remembered price may be keyed by
_REMEMBERED = frozenset({str, int, bool, type(None), object})


def _charge(billing: Json) -> str:
    charge = str(billing.get("charge", "on_submit"))
    if charge not in ("on_submit", "on_completion"):
        raise ValueError(f"billing.charge must be on_submit or on_completion, not {charge!r}")
    return charge


def _deadline(execution: Json) -> float | None:
    return _optional_seconds(execution.get("deadline_seconds"))


def _optional_seconds(seconds: Any) -> float | None:
    return None if seconds is None else float(seconds)


def provenance(section: Json) -> str:
    """The ``x-provenance`` note of a spec section ("" when absent)."""
    return str(section.get("x-provenance", ""))


@dataclass(frozen=True)
class IdFormat:
    """How task ids look: a prefix, optionally the creation time (``time_format``
    in strftime notation, at ``utc_offset_hours``) and a separator, then
    ``length`` characters of ``alphabet``."""

    prefix: str
    alphabet: str
    length: int
    time_format: str | None = None
    utc_offset_hours: float = 0.0
    separator: str = ""

    @classmethod
    def from_json(cls, data: Json) -> IdFormat:
        return cls(
            data["prefix"],
            data["alphabet"],
            int(data["length"]),
            data.get("timestamp_format"),
            float(data.get("timestamp_utc_offset_hours", 0)),
            str(data.get("separator", "")),
        )

    def generate(self, rng: random.Random, now: float | None = None) -> str:
        """A new id; ``now`` (simulated seconds, default the epoch) is the time it shows."""
        stamp = ""
        if self.time_format:
            zone = timezone(timedelta(hours=self.utc_offset_hours))
            shown = datetime.fromtimestamp(now or 0.0, zone).strftime(self.time_format)
            stamp = shown + self.separator
        choice, alphabet = rng.choice, self.alphabet
        return self.prefix + stamp + "".join([choice(alphabet) for _ in range(self.length)])

    def matches(self, value: str) -> bool:
        body = value.removeprefix(self.prefix)
        if self.time_format:
            stamp, _, body = body.rpartition(self.separator) if self.separator else ("", "", body)
            try:
                datetime.strptime(stamp, self.time_format)
            except ValueError:
                return False
        return (
            value.startswith(self.prefix)
            and len(body) == self.length
            and all(ch in self.alphabet for ch in body)
        )


@dataclass(frozen=True)
class RateLimitRule:
    """``limit`` admissions per sliding ``window_seconds``, per account, per
    account and model (the request field request_fields ``model``), or per
    client address (``scope``)."""

    name: str
    limit: int
    window_seconds: float
    counts: str
    scope: str = "account"

    @classmethod
    def from_json(cls, name: str, data: Json) -> RateLimitRule:
        scope = str(data.get("scope", "account"))
        if scope not in ("account", "account_model", "client"):
            raise ValueError(
                f"rate_limits.{name}.scope must be account, account_model or client, not {scope!r}"
            )
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
class MediaKind:
    """One kind of reference medium, told by its URL path (``pattern``, any case),
    and how many of that kind a request may carry (None: no own limit)."""

    name: str
    pattern: re.Pattern[str]
    max: int | None = None


@dataclass(frozen=True)
class MediaKinds:
    """The kinds of reference media (image, video, audio...) a profile tells apart
    by file extension, since the simulator never fetches a URL."""

    kinds: tuple[MediaKind, ...]

    @classmethod
    def from_json(cls, data: Json | None) -> MediaKinds | None:
        if not data:
            return None
        return cls(
            tuple(
                MediaKind(
                    str(name),
                    re.compile(str(kind["pattern"]), re.IGNORECASE),
                    None if kind.get("max") is None else int(kind["max"]),
                )
                for name, kind in data.items()
                if not str(name).startswith("x-")
            )
        )

    def kind_of(self, url: Any) -> str | None:
        """The kind of the medium at ``url`` (its path's extension), if known."""
        if not isinstance(url, str):
            return None
        path = urlsplit(url).path
        return next((k.name for k in self.kinds if k.pattern.search(path)), None)

    def count(self, urls: Any, kind: str) -> int:
        items = urls if isinstance(urls, Sequence) and not isinstance(urls, str) else []
        return sum(1 for url in items if self.kind_of(url) == kind)

    def excess(self, urls: Any) -> tuple[MediaKind, int] | None:
        """The first kind of which ``urls`` hold more than its limit, and how many."""
        for kind in self.kinds:
            found = self.count(urls, kind.name)
            if kind.max is not None and found > kind.max:
                return kind, found
        return None


@dataclass(frozen=True)
class AutoDuration:
    """A duration value (``value``, e.g. "auto") that leaves the length to the
    model: ``reserve_seconds`` are charged at submission, the clip's length is
    drawn between ``min_seconds`` and ``max_seconds``, and what the unused
    seconds cost comes back when the task completes."""

    value: str
    reserve_seconds: int
    min_seconds: int
    max_seconds: int

    @classmethod
    def from_json(cls, data: Json | None) -> AutoDuration | None:
        if not data:
            return None
        auto = cls(
            str(data["value"]),
            int(data["reserve_seconds"]),
            int(data["min_seconds"]),
            int(data["max_seconds"]),
        )
        if not auto.min_seconds <= auto.max_seconds <= auto.reserve_seconds:
            raise ValueError("auto_duration needs min_seconds <= max_seconds <= reserve_seconds")
        return auto


#: the name under which ``pricing.table`` selects the cells and rates written
#: directly in the pricing section (the others are ``pricing.tables.<name>``)
OWN_TABLE = "document"


@dataclass(frozen=True)
class PriceTable:
    """Credits per request: an explicit cell when one matches, else the first
    rate whose ``when`` matches, times the duration (``per_second``) or times the
    request field the rate names as its ``quantity`` (``per_unit``), rounded;
    every price times ``multiplier`` and the ``factors`` its values select
    ({field: {value: factor}}), rounded half up."""

    cells: tuple[Json, ...]
    rates: tuple[Json, ...]
    #: the request fields a cell is keyed by, besides "credits" and provenance
    keys: tuple[str, ...]
    #: the request field holding the clip's seconds
    duration_field: str = "duration"
    multiplier: Decimal = Decimal(1)
    #: a duration value priced at its reserved seconds (None: every duration is a number)
    auto: AutoDuration | None = None
    #: how conditions such as {"includes_kind": "video"} tell media apart
    kinds: MediaKinds | None = None
    #: {field: {value: factor}}: a request whose field has that value pays price × factor
    factors: Mapping[str, Mapping[str, Decimal]] = field(default_factory=dict)
    #: the quantity a per-unit table's rates are listed for (``grid_quantity``)
    grid_quantity: int = 1

    @classmethod
    def from_json(
        cls,
        data: Json,
        duration_field: str = "duration",
        auto: AutoDuration | None = None,
        kinds: MediaKinds | None = None,
    ) -> PriceTable:
        chosen = str(data.get("table", OWN_TABLE))
        tables = {k: v for k, v in data.get("tables", {}).items() if not k.startswith("x-")}
        if chosen != OWN_TABLE and chosen not in tables:
            known = ", ".join([OWN_TABLE, *tables])
            raise ValueError(f"pricing.table must be one of {known}, not {chosen!r}")
        table = data if chosen == OWN_TABLE else tables[chosen]
        cells = tuple(table.get("cells", ()))
        rates = tuple(table.get("rates", ()))
        keyed = [k for cell in cells[:1] for k in cell if k != "credits" and not k.startswith("x-")]
        conditions = [k for rate in rates for k in rate.get("when", {})]
        # a rate's price grows with the seconds, or with the quantity it names
        quantities = [str(rate.get("quantity", duration_field)) for rate in rates]
        factors = {
            str(name): {str(v): Decimal(str(f)) for v, f in by_value.items() if v[:2] != "x-"}
            for name, by_value in data.get("factors", {}).items()
            if not str(name).startswith("x-")
        }
        keys = tuple(dict.fromkeys([*keyed, *conditions, *quantities, *factors]))
        multiplier = Decimal(str(data.get("multiplier", 1)))
        grid = int(data.get("grid_quantity", 1))
        return cls(cells, rates, keys, duration_field, multiplier, auto, kinds, factors, grid)

    @property
    def per_unit(self) -> bool:
        """Whether every price is a rate times a quantity other than the seconds
        (tokens, say): such a table is listed rate by rate (``ProviderSpec.price_grid``)."""
        return not self.cells and all("quantity" in rate for rate in self.rates)

    @functools.cached_property
    def _read_fields(self) -> tuple[str, ...]:
        """Every request field a price reads: the cells' and the rates' conditions,
        the rates' quantities (the seconds by default) and the factors."""
        names = [key for cell in self.cells for key in cell if _is_field(key)]
        names += [key for rate in self.rates for key in rate.get("when", {})]
        names += [str(rate.get("quantity", self.duration_field)) for rate in self.rates]
        return tuple(dict.fromkeys([*names, *self.factors]))

    @functools.cached_property
    def _prices(self) -> dict[tuple[Any, ...], Price]:
        """Prices found, by the values of the fields they read (a table is read-only)."""
        return {}

    def price(self, params: Mapping[str, Any]) -> Price:
        """The price of a request whose defaults are filled in.

        A table is read-only and a price depends on the fields in ``_read_fields``
        alone, so a price is worked out once per combination of their values (a
        rate-priced request takes ~20 µs to work out). Only values whose type and
        equality say everything about them (strings, integers, booleans, None, or
        missing) are remembered: 1, 1.0 and True stay apart, and a list of URLs is
        priced each time."""
        values = [params.get(name, _MISSING) for name in self._read_fields]
        if not all(type(value) in _REMEMBERED for value in values):
            return self._price(params)
        key = tuple(zip(map(type, values), values, strict=True))
        found = self._prices.get(key)
        if found is None:
            found = self._price(params)
            if len(self._prices) < _PRICES_KEPT:
                self._prices[key] = found
        return found

    def _price(self, params: Mapping[str, Any]) -> Price:
        for cell in self.cells:
            fields = [key for key in cell if _is_field(key)]
            if all(_matches(cell[key], params.get(key), self.kinds) for key in fields):
                credits = Decimal(int(cell["credits"]))
                return self._scaled(credits, ROUND_HALF_UP, cell, False, params)
        for rate in self.rates:
            when = rate.get("when", {})
            if all(_matches(want, params.get(key), self.kinds) for key, want in when.items()):
                return self.rate_price(rate, params)
        described = ", ".join(f"{k}={params.get(k)!r}" for k in self.keys)
        raise LookupError(f"no price for {described}")

    def rate_price(self, rate: Json, params: Mapping[str, Any]) -> Price:
        """What ``rate`` charges for a request (whether or not its ``when`` matches)."""
        if "quantity" in rate:
            amount = Decimal(str(rate["per_unit"])) * Decimal(str(params[rate["quantity"]]))
        else:
            amount = Decimal(str(rate["per_second"])) * self.seconds(params[self.duration_field])
        rounding = ROUND_CEILING if rate.get("rounding") == "ceil" else ROUND_HALF_UP
        return self._scaled(amount, rounding, rate, bool(rate.get("estimate")), params)

    def seconds(self, duration: Any) -> Decimal:
        """The seconds a duration value is priced at (the reserve for "auto")."""
        if self.auto is not None and duration == self.auto.value:
            return Decimal(self.auto.reserve_seconds)
        return Decimal(str(duration))

    def _scaled(
        self, credits: Decimal, rounding: str, entry: Json, estimate: bool, params: Json
    ) -> Price:
        source = provenance(entry)
        factor = self.multiplier
        if self.multiplier != 1:
            source += f" (× {self.multiplier}: pricing.multiplier)"
        for name, by_value in self.factors.items():
            found = by_value.get(str(params.get(name)))
            if found is not None and found != 1:
                factor *= found
                source += f" (× {found}: pricing.factors.{name}.{params.get(name)})"
        rounded = int((credits * factor).quantize(Decimal(1), rounding=rounding))
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


def _matches(want: Any, value: Any, kinds: MediaKinds | None = None) -> bool:
    """A price's condition: a value, any of a list of values, or on a list of
    media URLs {"includes_kind": K} / {"excludes_kind": K} (kinds by extension)."""
    if isinstance(want, (str, int, float)):  # the common case, before the slower ABC check
        return _same(want, value)
    if isinstance(want, Mapping):
        kind = str(want.get("includes_kind", want.get("excludes_kind")))
        has = kinds is not None and kinds.count(value, kind) > 0
        return has if "includes_kind" in want else not has
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
class Wait:
    """How long a queued task waits before it may start: lognormal around a median."""

    median_seconds: float
    sigma: float
    min_seconds: float
    max_seconds: float

    @classmethod
    def from_json(cls, data: Json) -> Wait:
        return cls(
            float(data["median_seconds"]),
            float(data.get("sigma", 0.0)),
            float(data.get("min_seconds", 0.0)),
            float(data.get("max_seconds", data["median_seconds"])),
        )

    def sample(self, rng: random.Random) -> float:
        if self.median_seconds <= 0:
            return 0.0
        drawn = rng.lognormvariate(math.log(self.median_seconds), self.sigma)
        return round(min(self.max_seconds, max(self.min_seconds, drawn)), 3)


@dataclass(frozen=True)
class QueuePolicy:
    """Tasks wait in a queue for one of a pool's running slots.

    A pool is the account's (``pool: account``), or the account's per model
    (``account_model``, the model from request_fields ``model``). Each task waits
    at least its drawn ``wait``, then starts when a slot is free, best priority
    first, then first come. A service tier (request_fields ``service_tier``) may
    have its own slots and wait (``tiers``). An account has at most
    ``max_queued`` queued tasks (QueueFull beyond).
    """

    running_at_once: int
    pool: str
    max_queued: int | None
    wait: Wait
    tiers: Mapping[str, tuple[int, Wait]]

    @classmethod
    def from_json(cls, data: Json | None) -> QueuePolicy | None:
        if not data:
            return None
        pool = str(data.get("pool", "account"))
        if pool not in ("account", "account_model"):
            raise ValueError(f"queue.pool must be account or account_model, not {pool!r}")
        wait = Wait.from_json(data.get("wait", {"median_seconds": 0}))
        tiers = {
            str(name): (
                int(tier.get("running_at_once", data["running_at_once"])),
                Wait.from_json(tier["wait"]) if "wait" in tier else wait,
            )
            for name, tier in data.get("tiers", {}).items()
            if not str(name).startswith("x-")
        }
        cap = data.get("max_queued")
        return cls(
            int(data["running_at_once"]), pool, None if cap is None else int(cap), wait, tiers
        )

    def for_tier(self, tier: str | None) -> tuple[int, Wait]:
        return self.tiers.get(tier or "", (self.running_at_once, self.wait))


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
        """Width and height delivered for a requested resolution and ratio; a
        resolution written WIDTHxHEIGHT ("1248x704") is that size, whatever the ratio."""
        literal = _LITERAL_SIZE.fullmatch(resolution)
        if literal:
            return int(literal.group(1)), int(literal.group(2))
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
    #: the task statuses (engine words) whose change is notified
    statuses: tuple[str, ...] = ("completed", "failed")
    #: of those, the ones retried up to max_attempts (the others are sent once)
    retried: tuple[str, ...] = ("completed", "failed")

    @classmethod
    def from_json(cls, data: Json | None) -> WebhookPolicy | None:
        if not data:
            return None
        statuses = tuple(data.get("statuses", ("completed", "failed")))
        return cls(
            int(data["max_attempts"]),
            float(data["backoff_seconds"]),
            float(data["backoff_factor"]),
            float(data["timeout_seconds"]),
            str(data["payload"]),
            statuses,
            tuple(data.get("retried_statuses", statuses)),
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
    #: tasks wait for running slots (None: every task starts at once)
    queue: QueuePolicy | None = None
    #: "on_submit" (credits charged when a task is created) or "on_completion"
    charge: str = "on_submit"
    #: seconds after creation that an open task expires (None: never), unless the
    #: request field request_fields ``deadline`` says otherwise
    execution_deadline_seconds: float | None = None
    #: kinds of reference media told apart by extension, with per-kind limits
    media_kinds: MediaKinds | None = None
    #: a duration value that leaves the clip's length to the model (None: none)
    auto_duration: AutoDuration | None = None
    #: False: the operation answers like an unknown path (an alias switched off)
    served: bool = True
    #: seconds after a task ends that its output files are still served (None: as
    #: long as the task is kept)
    output_url_seconds: float | None = None

    @classmethod
    def from_json(cls, name: str, data: Json) -> Profile:
        quirk_names = ("purchase_required", "content_rejection", "create_latency", "media_refusal")
        auto = AutoDuration.from_json(data.get("auto_duration"))
        kinds = MediaKinds.from_json(data.get("media_kinds"))
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
                data["pricing"],
                str(data.get("request_fields", {}).get("duration", "duration")),
                auto,
                kinds,
            ),
            timing=TimingModel.from_json(data["timing"]),
            media=MediaProfile.from_json(data["media"]),
            webhooks=WebhookPolicy.from_json(data.get("webhooks")),
            queue=QueuePolicy.from_json(data.get("queue")),
            charge=_charge(data.get("billing", {})),
            execution_deadline_seconds=_deadline(data.get("execution", {})),
            media_kinds=kinds,
            auto_duration=auto,
            served=bool(data.get("served", True)),
            output_url_seconds=_optional_seconds(data["retention"].get("output_url_seconds")),
            quirks={k: data[k] for k in quirk_names if k in data},
            demo_account=data.get("demo_account"),
            request_fields={
                k: str(v)
                for k, v in data.get("request_fields", {}).items()
                if not k.startswith("x-")
            },
        )
