"""Providers as plug-ins: a provider is a spec folder plus one skin module.

A built-in provider is ``spec/<name>/`` and ``mockserver/providers/<name>.py``
(spec/loader.py's registry finds them; nothing else names a provider). A
plug-in is any importable module that sets ``NAME`` and ``SPEC_DIR`` (its spec
folder) and is named in ``Config.plugins`` (``serve --plugin MODULE``) or in
the ``seedance_mock.providers`` entry-point group.

A skin module holds only its HTTP shape (see ``Skin``): one view per operation
of its api.json, bound to the function of the same name; ``render_error`` for
every condition the engine raises; and, if it sends webhooks,
``webhook_payload``; and, if it refuses bodies for more than their schema says
(a model catalogue, rules over several fields), ``refusal(spec, definition,
body)`` naming the error code, so the contract suite can tell valid bodies
(``documented_refusal``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol, cast

if TYPE_CHECKING:
    from flask import Response

    from mockserver.engine.errors import SimulatorError
    from mockserver.engine.model import Task
    from mockserver.runtime import Runtime
    from mockserver.spec import ProviderSpec

ENTRY_POINTS = "seedance_mock.providers"


class Skin(Protocol):
    """What a skin module offers (besides one view function per operation)."""

    NAME: str

    def render_error(self, runtime: Runtime, error: SimulatorError) -> Response: ...


@dataclass(frozen=True)
class Plugin:
    """Where a provider's spec and skin are."""

    name: str
    skin: str  # the module's import path
    spec_dir: Path | None = None  # None: spec/<name>/ of this package


@dataclass(frozen=True)
class Provider:
    """A loaded provider: its spec and its skin module."""

    name: str
    spec: ProviderSpec
    skin: ModuleType

    def owns(self, path: str) -> bool:
        """Whether ``path`` falls under this provider's paths."""
        return any(_under(path, prefix) for prefix in self.spec.path_prefixes)

    def view(self, operation: str) -> Callable[..., Response]:
        return cast("Callable[..., Response]", getattr(self.skin, operation))

    def render_error(self, runtime: Runtime, error: SimulatorError) -> Response:
        return cast("Skin", self.skin).render_error(runtime, error)

    def webhook_payload(self, runtime: Runtime, task: Task) -> Any:
        return self.skin.webhook_payload(runtime, task)

    def banner(self, base_url: str) -> list[str]:
        """Start-up banner lines: where it answers and what it offers there."""
        lines = []
        for prefix in self.spec.path_prefixes:
            operations = [op for op in self.spec.operations.values() if _under(op.path, prefix)]
            offered = ", ".join(f"{op.method} {op.path.removeprefix(prefix)}" for op in operations)
            lines.append(f"  {self.name:<12} {base_url}{prefix}   ({offered})")
        return lines


def _under(path: str, prefix: str) -> bool:
    return path.startswith(prefix) and (len(path) == len(prefix) or path[len(prefix)] == "/")


def built_in(name: str) -> Plugin:
    return Plugin(name, f"mockserver.providers.{name}")


def plugin(module: str) -> Plugin:
    """The plug-in a module declares with ``NAME`` and ``SPEC_DIR``."""
    loaded = importlib.import_module(module)
    name, spec_dir = getattr(loaded, "NAME", None), getattr(loaded, "SPEC_DIR", None)
    if not isinstance(name, str) or spec_dir is None:
        raise ValueError(f"provider plug-in {module!r} must set NAME and SPEC_DIR")
    return Plugin(name, module, Path(spec_dir))


def plugins(named: Iterable[str]) -> list[Plugin]:
    """The plug-ins named (modules) and those installed under the entry-point group."""
    installed = [point.value for point in entry_points(group=ENTRY_POINTS)]
    return [plugin(module) for module in dict.fromkeys([*named, *installed])]


def load_skin(found: Plugin) -> ModuleType:
    return importlib.import_module(found.skin)


def documented_refusal(spec: ProviderSpec, definition: str, body: Any) -> str | None:
    """The error code a request body meets before any state is read: its schema's
    first violation, then what its skin checks beyond the schema (the skin's
    optional ``refusal(spec, definition, body)``: a model catalogue, rules over
    several fields); None for a body the provider documents as valid. The
    contract suite draws its valid bodies through this."""
    from mockserver.spec.loader import PROVIDERS  # the registry imports this package

    violations = spec.validator(definition).violations(body)
    if violations:
        return violations[0].code or "invalid"
    skin = load_skin(built_in(spec.name)) if spec.name in PROVIDERS else None
    check: Callable[..., str | None] | None = getattr(skin, "refusal", None)
    return check(spec, definition, body) if check else None
