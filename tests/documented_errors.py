"""Every error a fault can make each provider answer (the documents' error tables,
plus the statuses spec/DECISIONS.md adds): one list for the tests that produce
each of them, over HTTP (test_admin.py) and in-process (test_inprocess.py)."""

from __future__ import annotations

#: seedance2ai: (code, HTTP status)
S2_ERRORS = [
    ("unauthorized", 401),
    ("invalid_request", 400),
    ("insufficient_credits", 402),
    ("rate_limited", 429),
    ("idempotency_conflict", 409),
    ("service_busy", 503),
    ("not_found", 404),
    ("internal_error", 500),
]
#: seedanceapi: (condition, HTTP status, error code)
SA_ERRORS = [
    ("unauthorized", 401, "INVALID_API_KEY"),
    ("insufficient_credits", 402, "INSUFFICIENT_CREDITS"),
    ("not_found", 404, "TASK_NOT_FOUND"),
    ("internal_error", 500, "INTERNAL_ERROR"),
    ("invalid_request", 400, "INVALID_REQUEST"),
    ("rate_limited", 429, "RATE_LIMITED"),
    ("service_busy", 503, "SERVICE_UNAVAILABLE"),
]
#: document 004's error table rows that are answers to bad input
SA_FIELD_CODES = [
    "INVALID_PROMPT",
    "INVALID_ASPECT_RATIO",
    "INVALID_RESOLUTION",
    "INVALID_DURATION",
    "TOO_MANY_IMAGES",
]
