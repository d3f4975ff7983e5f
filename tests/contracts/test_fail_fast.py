"""A drifting server fails the suite fast, and each drift is one finding.

Part of the suite runs against a real ``seedance-mock serve`` behind a
DriftProxy (``--target url``, a dropped field) and against the in-process
target wrapped in a DriftMiddleware (a status going backwards), intact and
then drifting. The drifting run must report in at
most twice the work of the intact one (requests through the proxy; CPU time
in-process, which the machine's other load disturbs less than wall time), and
its drift report must show one cause. The full measurement, every
kind on the whole suite, is ``python -m tests.contracts.measure_drift``
(contracts/README.md has its table).
"""

from __future__ import annotations

import pytest

from tests.contracts.measure_drift import GOAL, Run, measure

#: the mechanism, not every provider's contract: one provider's tests
ONE = ("--provider", "seedance2ai")
#: tests that meet both kinds of drift below (polls; a finished task read twice)
PART = (
    "contracts/test_requests.py::test_valid_requests_are_accepted",
    "contracts/test_lifecycle.py::test_finished_task_stays_finished",
)


def _shown(run: Run) -> str:
    sent = f", {run.requests} requests" if run.requests is not None else ""
    return f"{run.seconds:.1f} s ({run.cpu:.1f} s CPU{sent})"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("target", "kind"), [("url", "dropped-field"), ("inprocess", "status-backwards")]
)
def test_a_drifting_server_fails_within_twice_an_intact_run(
    target: str, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    intact = measure(target, "none", ONE, paths=PART)
    drifting = measure(target, kind, ONE, paths=PART)
    with capsys.disabled():
        print(f"\n{target}: intact {_shown(intact)}; {kind} {_shown(drifting)}")
    assert (intact.failed, intact.causes) == (0, 0), intact
    assert drifting.failed > 0, f"{kind}: nothing failed"
    assert drifting.causes == 1, f"{kind}: {drifting.causes} causes for one drift"
    if drifting.requests is not None and intact.requests is not None:
        assert drifting.requests <= GOAL * intact.requests, (drifting, intact)
    assert drifting.cpu <= GOAL * intact.cpu, (drifting, intact)
