"""Recorded traffic (cassettes) re-checked against today's schemas, without keys."""

from __future__ import annotations

from contracts import scenarios
from contracts.cassettes import Cassette
from contracts.drift import DriftLog
from contracts.target import Target


def test_recorded_exchanges_keep_the_contract(
    target: Target, drift: DriftLog, cassette: Cassette
) -> None:
    scenarios.recorded_exchanges_keep_the_contract(target, cassette, drift)
