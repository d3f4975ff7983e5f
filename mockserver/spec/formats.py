"""Domain string formats named in the schemas, checked the same way everywhere.

The schemas say ``"format": "public-https-url"`` instead of repeating a regex;
the validator asserts these formats and the contract suite generates values for
them (contracts/strategies.py), so the rule lives here once.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from jsonschema import FormatChecker


def _host_of(value: str, schemes: tuple[str, ...]) -> str | None:
    """Return the host of an absolute URL with one of ``schemes``, else None."""
    if any(ch.isspace() or ord(ch) < 0x20 for ch in value):
        return None
    try:
        parts = urlsplit(value)
        port = parts.port  # raises ValueError on a malformed port
    except ValueError:
        return None
    del port
    if parts.scheme not in schemes or not parts.hostname:
        return None
    return parts.hostname


def _is_public_host(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        # A name: must look like a public DNS name, not localhost or a bare label.
        return "." in host and not host.endswith((".localhost", ".local", ".internal"))
    return address.is_global


def is_public_https_url(value: object) -> bool:
    """True for an absolute https URL whose host is a public name or address."""
    if not isinstance(value, str):
        return True  # type is checked by the "type" keyword, not the format
    host = _host_of(value, ("https",))
    return host is not None and _is_public_host(host)


def is_http_url(value: object) -> bool:
    """True for an absolute http or https URL with a host."""
    if not isinstance(value, str):
        return True
    return _host_of(value, ("http", "https")) is not None


#: Each custom format: its checker and the phrase used in error messages.
CUSTOM_FORMATS: dict[str, tuple[Callable[[object], bool], str]] = {
    "public-https-url": (is_public_https_url, "a public https URL"),
    "http-url": (is_http_url, "an absolute http or https URL"),
}


def format_checker() -> FormatChecker:
    """A checker asserting the standard formats plus the domain formats above."""
    from jsonschema import FormatChecker  # only needed to explain a refusal

    checker = FormatChecker()
    for name, (check, _phrase) in CUSTOM_FORMATS.items():
        checker.checks(name)(check)
    return checker


def describe_format(name: str) -> str:
    """The phrase for a format in an error message ("a public https URL")."""
    if name in CUSTOM_FORMATS:
        return CUSTOM_FORMATS[name][1]
    return f"a valid {name}"
