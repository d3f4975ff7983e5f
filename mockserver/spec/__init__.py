"""spec/ read one way: schemas, validators, profiles and the OpenAPI export."""

from mockserver.spec.loader import (
    PROFILES,
    PROVIDERS,
    ErrorKind,
    Operation,
    ProviderSpec,
    load_provider,
    spec_root,
)
from mockserver.spec.openapi import export_openapi
from mockserver.spec.profile import Price, Profile
from mockserver.spec.validation import RequestValidator, Violation

__all__ = [
    "PROFILES",
    "PROVIDERS",
    "ErrorKind",
    "Operation",
    "Price",
    "Profile",
    "ProviderSpec",
    "RequestValidator",
    "Violation",
    "export_openapi",
    "load_provider",
    "spec_root",
]
