"""The one way spec/ is read.

``load_provider("seedance2ai")`` reads the provider's api.json, schema.json
and profile.json, applies the chosen profile ("documented" or "observed") and
any user overrides, and builds every validator once. The simulator, the OpenAPI
export and the contract suite all start here.
"""

from __future__ import annotations

import copy
import functools
import itertools
import json
import posixpath
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonpatch

from mockserver.spec.profile import Price, PriceTable, Profile
from mockserver.spec.validation import RequestValidator

PROFILES = ("documented", "observed")


def spec_root() -> Path:
    """The spec/ directory: inside the installed wheel, else the checkout's."""
    packaged = Path(str(resources.files("mockserver"))) / "_spec"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "spec"


def _built_in() -> tuple[str, ...]:
    """The registry of built-in providers: each folder of spec/ with an api.json
    whose skin module mockserver/providers/<name>.py exists. Adding a provider
    is adding both; nothing else names it."""
    skins = Path(__file__).resolve().parents[1] / "providers"
    return tuple(
        sorted(
            folder.name
            for folder in spec_root().iterdir()
            if (folder / "api.json").is_file() and (skins / f"{folder.name}.py").is_file()
        )
    )


PROVIDERS = _built_in()


def deep_merge(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``overlay`` merged in: mappings merge, anything else replaces."""
    merged = dict(base)
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


@dataclass(frozen=True)
class Operation:
    """One documented endpoint, as api.json describes it."""

    name: str
    method: str
    path: str
    summary: str
    headers: Mapping[str, Any]
    body: str | None  # the $defs name of the JSON body
    query: str | None  # the $defs name of the query object
    path_parameters: str | None
    responses: Mapping[str, Any]

    @property
    def flask_rule(self) -> str:
        return self.path.replace("{", "<").replace("}", ">")

    def requires_header(self, name: str) -> bool:
        return bool(self.headers.get(name, {}).get("required"))


@dataclass(frozen=True)
class ErrorKind:
    """How a provider renders one error condition."""

    condition: str
    status: int
    code: str
    message: str
    retry_after: bool


class ProviderSpec:
    """A provider's API, schemas and profile, with validators built once."""

    def __init__(
        self, name: str, profile_name: str, overrides: Mapping[str, Any], root: Path
    ) -> None:
        self.name = name
        self.root = root
        self.profile_name = profile_name
        self.api: dict[str, Any] = _read(root / "api.json")
        raw_profile = _read(root / "profile.json")
        chosen = raw_profile["profiles"][profile_name]
        merged = deep_merge(raw_profile, chosen.get("overlay", {}))
        self.profile_json: dict[str, Any] = deep_merge(merged, overrides)
        schema = _read(root / self.api["schema"])
        self.schema: dict[str, Any] = jsonpatch.apply_patch(schema, chosen.get("schema_patch", []))
        self.profile = Profile.from_json(name, self.profile_json)
        self._operation_profiles = {
            op: Profile.from_json(name, deep_merge(self.profile_json, overlay))
            for op, overlay in self.profile_json.get("operations", {}).items()
            if not op.startswith("x-")
        }
        self.path_prefix = _path_prefix(self.api, self.profile_json)
        self.operations = {
            op_name: Operation(
                name=op_name,
                method=op["method"],
                path=self.path_prefix + op["path"],
                summary=op["summary"],
                headers=op.get("headers", {}),
                body=op.get("body"),
                query=op.get("query"),
                path_parameters=op.get("path_parameters"),
                responses=op["responses"],
            )
            for op_name, op in self.api["operations"].items()
        }
        self.errors = {
            condition: ErrorKind(
                condition,
                int(e["status"]),
                str(e["code"]),
                str(e["message"]),
                bool(e.get("retry_after")),
            )
            for condition, e in self.api["errors"].items()
        }
        self._validators: dict[str, RequestValidator] = {}
        self._validators_lock = threading.Lock()  # one spec serves every app of the process

    def __repr__(self) -> str:
        return f"<ProviderSpec {self.name} ({self.profile_name})>"

    @property
    def base_url(self) -> str:
        return str(self.api["servers"][0]["url"])

    @functools.cached_property
    def path_prefixes(self) -> tuple[str, ...]:
        """The paths under which this provider answers: api.json ``prefixes`` (an
        API with several versions side by side: "/v1", "/v2"), else its path
        prefix, else the path every operation starts with ("/api/v1")."""
        declared = self.api.get("prefixes")
        if declared:
            return tuple((self.path_prefix + str(p)).rstrip("/") for p in declared)
        if self.path_prefix:
            return (self.path_prefix,)
        return (posixpath.commonpath([op.path for op in self.operations.values()]),)

    @property
    def hosts(self) -> tuple[str, ...]:
        """Every host clients call for this provider: its servers, then the hosts
        its output files come from (api.json ``media_hosts``)."""
        servers = [urlsplit(s["url"]).hostname or "" for s in self.api["servers"]]
        media = [str(h["host"]) for h in self.api.get("media_hosts", [])]
        return tuple(dict.fromkeys(h for h in (*servers, *media) if h))

    def definition(self, name: str) -> dict[str, Any]:
        """A standalone schema for ``$defs[name]`` (its references still resolve)."""
        defs = self.schema["$defs"]
        if name not in defs:
            raise KeyError(f"{self.name} has no schema named {name!r}")
        return {"$schema": self.schema["$schema"], **defs[name], "$defs": defs}

    def resolve_ref(self, ref: str) -> Any:
        """What a local ``$ref`` ("#/$defs/Task") points at in this spec's schema."""
        found: Any = self.schema
        for part in ref.removeprefix("#/").split("/"):
            found = found[part.replace("~1", "/").replace("~0", "~")]
        return found

    def validator(self, name: str) -> RequestValidator:
        """The validator of ``$defs[name]``, built on first use and kept."""
        found = self._validators.get(name)
        if found is None:
            with self._validators_lock:
                found = self._validators.get(name)
                if found is None:
                    found = self._validators[name] = RequestValidator(self.definition(name))
        return found

    def error(self, condition: str, code: str | None = None) -> ErrorKind:
        """How ``condition`` is rendered; a ``code`` the errors table knows brings its
        own status (a missing task_id is TASK_NOT_FOUND, hence 404)."""
        own = self.errors[condition]
        if code is None or code == own.code:
            return own
        return next((kind for kind in self.errors.values() if kind.code == code), own)

    def error_codes(self) -> set[str]:
        """Every code this provider can put in an error body."""
        codes = {e.code for e in self.errors.values()}
        codes.update(_error_codes_in(self.schema))
        return codes

    def profile_for(self, operation: str | None) -> Profile:
        """The profile an operation runs under: profile.json, with the operation's
        own overlay (``operations.<name>`` in profile.json) merged in."""
        if not operation or operation not in self._operation_profiles:
            return self.profile
        return self._operation_profiles[operation]

    def price(self, params: Mapping[str, Any], operation: str | None = None) -> Price:
        """The price of a request whose defaults are already filled in."""
        return self.profile_for(operation).pricing.price(params)

    def price_grid(self, operation: str) -> Iterator[tuple[dict[str, Any], Price]]:
        """Every valid combination of the priced fields, with its price (for a
        table priced per unit, each rate for ``grid_quantity`` units, as each factor
        scales it)."""
        table = self.profile_for(operation).pricing
        if table.per_unit:
            yield from _unit_grid(table)
            return
        op = self.operations[operation]
        assert op.body is not None
        validator = self.validator(op.body)
        props = validator.schema["properties"]
        keys = self.profile_for(operation).pricing.keys
        choices = [_choices(props.get(k, {})) for k in keys]
        example = next(iter(self.examples("request", operation)))
        sample = {k: v for k, v in example.items() if k not in keys}
        for combo in itertools.product(*choices):
            chosen = {k: v for k, v in zip(keys, combo, strict=True) if v is not None}
            request = {**sample, **chosen}
            if validator.is_valid(request):
                priced = {**validator.defaults(), **request}
                yield dict(zip(keys, combo, strict=True)), self.price(priced, operation)

    def examples(self, kind: str, operation: str | None = None) -> Iterator[dict[str, Any]]:
        """The verbatim examples from the provider document, filtered by kind/operation."""
        for entry in self.example_index():
            if entry["kind"] == kind and operation in (None, entry["operation"]):
                yield entry["body"]

    def example_index(self) -> list[dict[str, Any]]:
        folder = self.root / "examples"
        index = _read(folder / "index.json")["examples"]
        return [{**entry, "body": _read(folder / entry["file"])} for entry in index]


def _unit_grid(table: PriceTable) -> Iterator[tuple[dict[str, Any], Price]]:
    """One row per rate of a per-unit table and per value of each factor (a field
    a rate does not name shows "any"; a factor not applied, None)."""
    factor_values = [[None, *values] for values in table.factors.values()]
    for rate in table.rates:
        when = rate.get("when", {})
        for chosen in itertools.product(*factor_values):
            row: dict[str, Any] = {k: when.get(k, "any") for k in table.keys}
            row.update(zip(table.factors, chosen, strict=True))
            row[str(rate["quantity"])] = table.grid_quantity
            yield row, table.rate_price(rate, row)


def _path_prefix(api: Mapping[str, Any], profile: Mapping[str, Any]) -> str:
    """What every operation path (and api.json ``prefixes``) starts with: profile
    ``paths.prefix`` when set (a reseller serving the API under its own prefix),
    else api.json ``path_prefix``, else nothing."""
    chosen = profile.get("paths", {}).get("prefix", api.get("path_prefix", ""))
    prefix = str(chosen or "").rstrip("/")
    if prefix and (not prefix.startswith("/") or any(c in prefix for c in "{}?# ")):
        raise ValueError(f"paths.prefix must be a path such as /api/v3, not {chosen!r}")
    return prefix


def _choices(schema: Mapping[str, Any]) -> list[Any]:
    """The values a priced field can take: its enum, its integer range, a list
    field left out (None) or sent as its first example, or a boolean."""
    if "enum" in schema:
        return list(schema["enum"])
    if schema.get("type") == "integer" and "minimum" in schema and "maximum" in schema:
        return list(range(int(schema["minimum"]), int(schema["maximum"]) + 1))
    if schema.get("type") == "array":
        return [None, *schema.get("examples", [])[:1]]
    return [False, True]


def _read(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        data: dict[str, Any] = json.load(handle)
    return data


def _error_codes_in(node: Any) -> Iterator[str]:
    if isinstance(node, Mapping):
        mapping = node.get("x-error-code")
        if isinstance(mapping, str):
            yield mapping
        elif isinstance(mapping, Mapping):
            yield from (str(v) for v in mapping.values())
        for value in node.values():
            yield from _error_codes_in(value)
    elif isinstance(node, list):
        for item in node:
            yield from _error_codes_in(item)


@functools.cache
def _load(name: str, profile: str, overrides_json: str, root: str) -> ProviderSpec:
    return ProviderSpec(name, profile, json.loads(overrides_json), Path(root))


def load_provider(
    name: str,
    profile: str = "documented",
    overrides: Mapping[str, Any] | None = None,
    root: Path | None = None,
) -> ProviderSpec:
    """The spec of provider ``name`` under ``profile``, with ``overrides`` merged
    into its profile.json (e.g. ``{"refunds": {"on_failure": False}}``): from
    spec/<name>/ for a built-in provider, else from the folder ``root``.

    Loaded once per distinct argument set; treat the result as read-only.
    """
    if root is None and name not in PROVIDERS:
        raise ValueError(f"unknown provider {name!r}; choose one of {', '.join(PROVIDERS)}")
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")
    folder = root if root is not None else spec_root() / name
    return _load(name, profile, json.dumps(overrides or {}, sort_keys=True), str(folder))
