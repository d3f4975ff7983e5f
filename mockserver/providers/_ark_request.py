"""Ark's create body read the way the service reads it, for the Ark skin.

The schema has already passed. What is left depends on the model: which model
or endpoint the body names (and whether the account may use it), the family's
rules (profile.json ``rules``, evaluated by mockserver/spec/rules.py), the
legacy ``--flag value`` text commands, the moderation markers, and the
effective request: every setting the task runs with, the pixel size from the
family's geometry table, and the tokens it will be billed for. Everything is
read from spec/ark/profile.json; nothing here is a number of its own.

The effective request becomes the task's params. Besides the request's own
fields (nulls dropped, defaults and text commands applied, ``adaptive``
resolved), it holds what the engine and the skin derive (profile.json
``request_fields``): ``_model``, ``_endpoint``, ``_platform``, ``_family``,
``_seconds``, ``_frames``, ``_size``, ``_video_input`` and ``_tokens``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from mockserver.engine.errors import SimulatorError
from mockserver.spec import ProviderSpec
from mockserver.spec.loader import deep_merge
from mockserver.spec.rules import Broken, Facts, first_broken

Json = Mapping[str, Any]
BODY = "CreateTaskRequest"
#: an image without a role, or with one of these, is a frame of the clip
FRAME_ROLES = (None, "first_frame", "last_frame")
_FLAG = re.compile(r"(?:^|\s)(--[a-z]+)\s+(\S+)")
_SECONDS = re.compile(r"(?:^|[#&])t=([0-9]+(?:\.[0-9]+)?)")


class ArkError(SimulatorError):
    """A refusal in Ark's words: an errors-table ``condition`` of spec/ark/api.json,
    the ``param`` at fault, and a message template ({request_id} and ``values``
    are filled in when it is rendered; None: the table's message)."""

    def __init__(
        self,
        condition: str,
        message: str | None = None,
        *,
        code: str | None = None,
        param: str = "",
        values: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.condition = condition
        self.param = param
        self.values = dict(values or {})


@dataclass(frozen=True)
class Model:
    """What a body's ``model`` names: a model of the catalogue, maybe through an endpoint."""

    id: str
    name: str  # the ID without its version, as messages show it
    platform: str
    family: str
    capabilities: Json
    endpoint: str | None = None


@dataclass(frozen=True)
class Effective:
    """The request as the task runs it, and whether a marker asks it to fail."""

    params: dict[str, Any]
    fails: bool


def read_create(spec: ProviderSpec, body: Json, account_id: str | None) -> Effective:
    """The effective request of a create body that passed the schema; ArkError
    for an unknown or closed model, a model the account may not use, a broken
    rule, a strict text command out of range, or a moderation marker."""
    settings = spec.profile_json
    model = resolve_model(settings, str(body["model"]), account_id)
    present = {k: v for k, v in body.items() if v is not None}
    items: list[Json] = list(body["content"])
    broken = first_broken(settings.get("rules", []), _facts(settings, present, items, model))
    if broken is not None:
        raise _refusal(broken, broken.param, model)
    commands = text_commands(spec, body, items, model)
    fails = moderate(settings, items)
    return Effective(_effective(spec, present, commands, items, model), fails)


# the model ---------------------------------------------------------------------------------
def account_settings(settings: Json, account_id: str | None) -> Json:
    """profile.json ``accounts``: its defaults with the account's own entry merged in."""
    accounts = settings.get("accounts", {})
    own = accounts.get("by_account", {}).get(account_id or "", {})
    return deep_merge(accounts.get("defaults", {}), own)


def resolve_model(settings: Json, named: str, account_id: str | None) -> Model:
    """The catalogue model a body's ``model`` names, directly or through an endpoint."""
    account = account_settings(settings, account_id)
    endpoints = settings["endpoints"]
    if re.fullmatch(str(endpoints["pattern"]), named):
        if named in endpoints.get("closed", []):
            raise ArkError("endpoint_closed", param="model", values={"model": named})
        pinned = {**endpoints.get("map", {}), **account.get("endpoints", {})}.get(named)
        if pinned is None and endpoints.get("accept_any"):
            pinned = endpoints["default_model"][endpoints["default_platform"]]
        if pinned is None:
            raise ArkError("model_not_found", param="model", values={"model": named})
        model = _catalogue(settings, str(pinned), named)
    else:
        model = _catalogue(settings, named, None)
        if account_id is not None and not account.get("model_id_access", True):
            raise ArkError("model_id_access_disabled", param="model", values={"model": named})
    if account_id is not None and model.id in account.get("not_activated_models", []):
        values = {"model": named, "model_name": model.name, "account_id": account_id}
        raise ArkError("model_not_open", param="model", values=values)
    return model


def _catalogue(settings: Json, model_id: str, endpoint: str | None) -> Model:
    entry = settings["models"].get(model_id)
    served = settings["platforms"].get("served", "both")
    if (
        not isinstance(entry, Mapping)
        or model_id.startswith("x-")
        or served not in ("both", entry["platform"])
    ):
        raise ArkError("model_not_found", param="model", values={"model": endpoint or model_id})
    family = str(entry["family"])
    own = {k: v for k, v in entry.items() if k not in ("platform", "family", "name")}
    capabilities = {**settings["families"][family], **own}
    return Model(
        model_id, str(entry["name"]), str(entry["platform"]), family, capabilities, endpoint
    )


# rules -------------------------------------------------------------------------------------
def _facts(settings: Json, fields: Json, items: Sequence[Json], model: Model) -> Facts:
    neutral = settings.get("validation", {}).get("neutral_values", {})
    return Facts(fields, items, model.capabilities, model.family, neutral)


def _refusal(broken: Broken, param: str, model: Model) -> ArkError:
    values = {"model_name": model.name, "model": model.id, **broken.details}
    condition = "invalid_request"
    return ArkError(condition, broken.message, code=broken.code, param=param, values=values)


# legacy text commands ------------------------------------------------------------------------
def text_commands(
    spec: ProviderSpec, body: Json, items: Sequence[Json], model: Model
) -> dict[str, Any]:
    """The settings the first text item's ``--flag value`` commands give, each
    checked like the body field of that name: a bad one is ignored (loose) or
    refused with param ``contents[N].text.<field>`` (strict, per family)."""
    index = next((i for i, item in enumerate(items) if item.get("type") == "text"), None)
    if index is None:
        return {}
    config = spec.profile_json["text_commands"]
    strict = model.capabilities.get("text_command_validation") == "strict"
    found: dict[str, Any] = {}
    for flag, raw in _FLAG.findall(str(items[index].get("text", ""))):
        field = config["flags"].get(flag)
        if field is None:
            continue
        value = _command_value(spec, field, raw)
        broken = _check_command(spec, body, model, field, value)
        if broken is None:
            if field != "framespersecond":
                found[field] = value
            continue
        if strict:
            param = str(config["strict_param_path"]).format(index=index, field=field)
            raise _refusal(broken, param, model)
    return found


def _command_value(spec: ProviderSpec, field: str, raw: str) -> Any:
    """A command's text as the body field's type (unchanged when it does not parse)."""
    types = spec.schema["$defs"][BODY]["properties"].get(field, {}).get("type", "integer")
    if "integer" in types or field == "framespersecond":
        return int(raw) if re.fullmatch(r"-?[0-9]+", raw) else raw
    if "boolean" in types:
        return {"true": True, "false": False}.get(raw.lower(), raw)
    return raw


def _check_command(
    spec: ProviderSpec, body: Json, model: Model, field: str, value: Any
) -> Broken | None:
    """The rule a command's value breaks, as if sent as that body field (None: fine)."""
    config = spec.profile_json["text_commands"]
    reason = {
        "code": "InvalidParameter",
        "param": field,
        "message": "The parameter `{param}` specified in the request is not valid: the specified "
        f"{field} is not supported for model {{model_name}}. Request id: {{request_id}}",
    }
    if field == "framespersecond":
        fine = value in config["framespersecond_values"]
        return None if fine else Broken(reason, {"value": value})
    sent = {"model": body["model"], "content": body["content"], field: value}
    if spec.validator(BODY).violations(sent):
        return Broken(reason, {"value": value})
    rules = [r for r in spec.profile_json.get("rules", []) if r.get("param") == field]
    facts = _facts(spec.profile_json, {field: value}, body["content"], model)
    return first_broken(rules, facts)


# moderation --------------------------------------------------------------------------------
def moderate(settings: Json, items: Sequence[Json]) -> bool:
    """Raise the moderation error a marker stands for; True when a marker asks
    the task to be accepted and then fail."""
    fails = False
    for trigger in settings.get("moderation", {}).get("triggers", []):
        for index, item in enumerate(items):
            if not _flagged(trigger, item):
                continue
            if trigger.get("task_fails"):
                fails = True
                continue
            param = f"content[{index}]"
            raise ArkError(str(trigger["error"]), param=param, values={"param": param})
    return fails


def _flagged(trigger: Json, item: Json) -> bool:
    where = trigger["where"]
    if item.get("type") != where:
        return False
    if where == "text":
        return str(trigger["marker"]) in str(item.get("text", ""))
    url = str((item.get(where) or {}).get("url", ""))
    exempt = any(url.startswith(scheme) for scheme in trigger.get("exempt_schemes", []))
    return not exempt and str(trigger["marker"]) in url


# the effective request -----------------------------------------------------------------------
def _effective(
    spec: ProviderSpec,
    present: Json,
    commands: Json,
    items: Sequence[Json],
    model: Model,
) -> dict[str, Any]:
    settings = spec.profile_json
    caps = model.capabilities
    text_first = settings["text_commands"].get("precedence") == "text"
    chosen = {**present, **commands} if text_first else {**commands, **present}
    defaults = spec.validator(BODY).defaults()

    def pick(field: str, fallback: Any) -> Any:
        return chosen.get(field, fallback)

    resolution = str(pick("resolution", caps["default_resolution"]))
    ratio = str(pick("ratio", caps["default_ratio"][_mode(items)]))
    shown_ratio = settings["media"]["adaptive_aspect_ratio"] if ratio == "adaptive" else ratio
    fps = int(settings["media"]["fps"])
    frames = pick("frames", None) if caps.get("frames") else None
    duration = int(pick("duration", caps["duration"]["default"]))
    if duration == -1:
        duration = int(settings["timing"]["auto_duration_seconds"])
    seconds = max(1, round(frames / fps)) if frames else duration
    width, height = settings["media"]["geometry_tables"][caps["geometry"]][resolution][shown_ratio]
    video_seconds = sum(_video_seconds(settings, item) for item in items)
    shown_frames = frames if frames else fps * seconds + 1
    tokens = math.floor(width * height * (shown_frames + fps * video_seconds) / 1024)
    params = {**defaults, **chosen}
    params.update(
        resolution=resolution,
        ratio=shown_ratio,
        duration=duration,
        generate_audio=bool(caps.get("generate_audio")) and bool(pick("generate_audio", True)),
        _model=model.id,
        _endpoint=model.endpoint,
        _platform=model.platform,
        _family=model.family,
        _seconds=seconds,
        _frames=frames,
        _size=f"{width}x{height}",
        _video_input=video_seconds > 0,
        _tokens=tokens,
    )
    return params


def _mode(items: Sequence[Json]) -> str:
    """Which default ratio applies: "image" (a frame), "reference" or "text"."""
    images = [item for item in items if item.get("type") == "image_url"]
    if any(item.get("role") in FRAME_ROLES for item in images):
        return "image"
    if any(item.get("type") in ("image_url", "video_url") for item in items):
        return "reference"
    return "text"


def _video_seconds(settings: Json, item: Json) -> float:
    """A reference video's seconds: its URL's #t=<seconds> fragment, else the
    documented minimum clip (the simulator never fetches media)."""
    if item.get("type") != "video_url":
        return 0.0
    fragment = urlsplit(str((item.get("video_url") or {}).get("url", ""))).fragment
    found = _SECONDS.search(fragment)
    if found:
        return float(found.group(1))
    return float(settings["limits"]["video_clip_seconds"]["min"])


__all__ = ["ArkError", "Effective", "Model", "read_create", "resolve_model"]
