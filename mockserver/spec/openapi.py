"""OpenAPI 3.1 export of a provider, generated from spec/ (never edited by hand).

Besides paths and schemas it carries the task lifecycle for tools that walk
it: a ``link`` from the submit answer's task id to the poll operation
(Schemathesis's stateful phase follows it), the webhook both as ``webhooks``
and as a ``callback`` of the submit operation on the body field that holds the
callback URL, and the provider document's own request and response examples
(what an example server such as Prism answers with).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mockserver.spec.loader import Operation, ProviderSpec

_COMPONENTS = "#/components/schemas/"


def _rewrite_refs(node: Any) -> Any:
    """Point ``#/$defs/X`` references at ``#/components/schemas/X``."""
    if isinstance(node, dict):
        return {
            key: (
                value.replace("#/$defs/", _COMPONENTS)
                if key == "$ref" and isinstance(value, str)
                else _rewrite_refs(value)
            )
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_rewrite_refs(item) for item in node]
    return node


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _COMPONENTS + name}


def _parameters(spec: ProviderSpec, op: Operation) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = []
    for header, rule in op.headers.items():
        if header == "Authorization":
            continue  # expressed as the bearer security scheme
        params.append(
            {
                "name": header,
                "in": "header",
                "required": bool(rule.get("required")),
                "schema": _ref(rule["schema"]),
            }
        )
    for location, def_name in (("path", op.path_parameters), ("query", op.query)):
        if def_name is None:
            continue
        definition = spec.schema["$defs"][def_name]
        required = set(definition.get("required", []))
        for name, schema in definition["properties"].items():
            params.append(
                {
                    "name": name,
                    "in": location,
                    "required": location == "path" or name in required,
                    "schema": _rewrite_refs(schema),
                }
            )
    return params


def _responses(spec: ProviderSpec, op: Operation) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for status, response in op.responses.items():
        if "error" in response:
            kind = spec.error(response["error"])
            entry: dict[str, Any] = {
                "description": kind.message,
                "content": {"application/json": {"schema": _ref("Error")}},
            }
            if kind.retry_after:
                entry["headers"] = {
                    "Retry-After": {"required": True, "schema": _ref("RetryAfterHeader")}
                }
        else:
            entry = {
                "description": response["description"],
                "content": {"application/json": {"schema": _ref(response["schema"])}},
            }
        examples = _examples(spec, "response", op, int(status))
        if examples:
            entry["content"]["application/json"]["examples"] = examples
        responses[status] = entry
    return responses


def _examples(
    spec: ProviderSpec, kind: str, op: Operation, status: int | None = None
) -> dict[str, Any]:
    """The provider document's own examples of ``op`` (what a mock server such
    as Prism answers with), named after their files; not an abridged one (elided
    with "…" as published), which no service sends."""
    return {
        entry["file"].removesuffix(".json"): {"summary": entry["source"], "value": entry["body"]}
        for entry in spec.example_index()
        if (entry["kind"], entry["operation"]) == (kind, op.name)
        and (status is None or entry.get("status") == status)
        and not entry.get("abridged")
    }


def _pointer(path: tuple[str, ...]) -> str:
    """A JSON pointer (RFC 6901) to ``path``."""
    return "".join("/" + part.replace("~", "~0").replace("/", "~1") for part in path)


def _links(spec: ProviderSpec) -> dict[str, dict[str, Any]]:
    """Each submit answer's link to its poll operation: the task id it answers
    becomes the poll's id parameter. The contract suite reads these facts from
    spec/ (contracts.dialect); the export reads them the same way."""
    from contracts.dialect import ProviderAPI  # contracts imports this package

    links: dict[str, dict[str, Any]] = {}
    for api in ProviderAPI.lifecycles(spec):
        location, name = api.poll_parameter
        link = {
            "operationId": api.poll.name,
            "parameters": {f"{location}.{name}": f"$response.body#{_pointer(api.task_id_at)}"},
            "description": f"Read the task just created ({api.poll.method} {api.poll.path}).",
        }
        status = str(api.success_status(api.submit))
        links.setdefault(api.submit.name, {})[status] = {api.poll.name: link}
    return links


def _webhook_path_item(webhook: Mapping[str, Any]) -> dict[str, Any]:
    """What the provider sends to the caller's URL (webhooks and callbacks alike)."""
    return {
        webhook["method"].lower(): {
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _ref(webhook["schema"])}},
            },
            "responses": {"200": {"description": "Any 2xx acknowledges the delivery."}},
        }
    }


def _callbacks(spec: ProviderSpec, op: Operation) -> dict[str, Any] | None:
    """The webhook as a callback of the submit operation, when a body field
    carries the callback URL (``field`` in api.json, or profile ``request_fields``)."""
    webhook = spec.api.get("webhook")
    if not webhook or not op.body:
        return None
    field = webhook.get("field") or spec.profile.request_fields.get("callback_url")
    if field not in spec.definition(op.body).get("properties", {}):
        return None
    url = "{$request.body#" + _pointer((str(field),)) + "}"
    return {webhook["name"]: {url: _webhook_path_item(webhook)}}


def _operation(
    spec: ProviderSpec, op: Operation, links: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    responses = _responses(spec, op)
    for status, found in links.get(op.name, {}).items():
        responses[status]["links"] = found
    document: dict[str, Any] = {
        "operationId": op.name,
        "summary": op.summary,
        "parameters": _parameters(spec, op),
        "responses": responses,
    }
    if op.body:
        content: dict[str, Any] = {"schema": _ref(op.body)}
        examples = _examples(spec, "request", op)
        if examples:
            content["examples"] = examples
        document["requestBody"] = {"required": True, "content": {"application/json": content}}
    callbacks = _callbacks(spec, op)
    if callbacks:
        document["callbacks"] = callbacks
    return document


def export_openapi(spec: ProviderSpec) -> dict[str, Any]:
    """The provider's OpenAPI 3.1 document."""
    paths: dict[str, dict[str, Any]] = {}
    links = _links(spec)
    for op in spec.operations.values():
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(spec, op, links)
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {
            "title": spec.api["title"],
            "version": spec.api["version"],
            "description": (
                f"Generated by seedance-mock from spec/{spec.name} "
                f"(profile: {spec.profile_name}). Do not edit by hand."
            ),
        },
        "servers": [{"url": server["url"]} for server in spec.api["servers"]],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": _rewrite_refs(spec.schema["$defs"]),
        },
    }
    webhook = spec.api.get("webhook")
    if webhook:
        document["webhooks"] = {webhook["name"]: _webhook_path_item(webhook)}
    return document
