"""``seedance-mock contract`` (mockserver/contract_cli.py): the pytest run it
makes, its exit code, the reports, and the suite working from the wheel."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from contracts.cassettes import SHIPPED, cassette_json, load_cassettes
from mockserver import cli, contract_cli
from mockserver.contract_cli import contract_args, contracts_dir

ROOT = Path(__file__).resolve().parents[2]
#: the provider these runs use (the command's mechanics, not every provider's contract)
ONE = "seedance2ai"


def _run(
    cwd: Path, pythonpath: Path | None = None, **options: object
) -> subprocess.CompletedProcess[str]:
    call = ", ".join(f"{k}={v!r}" for k, v in {
        "provider": None, "target": "replay", "base_url": None, "max_credits": 0, "record": None,
        "junit_xml": None, "drift_report": None, "extra": ["-q"], **options,
    }.items())  # fmt: skip
    code = (
        "from mockserver.contract_cli import contract_args, run_contract; "
        f"raise SystemExit(run_contract(contract_args({call})))"
    )
    env = {"PATH": "/usr/bin:/bin", **({"PYTHONPATH": str(pythonpath)} if pythonpath else {})}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd, capture_output=True, text=True, env=env, timeout=300, check=False,
    )  # fmt: skip


def test_the_pytest_command_line() -> None:
    args = contract_args(
        provider="seedance2ai", target="url", base_url="http://127.0.0.1:8000", max_credits=5,
        record=None, junit_xml="out.xml", drift_report="drift.md", extra=["-x"],
    )  # fmt: skip
    assert args == [
        str(contracts_dir()), "-p", "no:cacheprovider",
        "-W", "ignore::pytest.PytestAssertRewriteWarning", "--target", "url", "--max-credits", "5",
        "--provider", "seedance2ai", "--base-url", "http://127.0.0.1:8000",
        "--junitxml", "out.xml", "--drift-report", "drift.md", "-x",
    ]  # fmt: skip
    assert (contracts_dir() / "conftest.py").is_file()


def test_the_command_hands_each_suite_option_set_to_pytest(monkeypatch: pytest.MonkeyPatch) -> None:
    """`seedance-mock contract` and the suite's pytest options are one list
    (SUITE_OPTIONS): an option set on the command reaches pytest, a default does not."""
    ran: list[list[str]] = []

    def run(args: list[str]) -> int:
        ran.append(args)
        return 0

    monkeypatch.setattr(contract_cli, "run_contract", run)
    argv = [
        "contract",
        "--target",
        "url",
        "--base-url",
        "http://127.0.0.1:9",
        "--keep-going",
        "--task-timeout",
        "20",
        "--max-examples",
        "1",
        "--junit-xml",
        "j.xml",
        "--",
        "-x",
    ]
    assert cli.main(argv) == 0
    [args] = ran
    assert args[args.index("--target") :] == [
        "--target",
        "url",
        "--base-url",
        "http://127.0.0.1:9",
        "--keep-going",
        "--max-examples",
        "1",
        "--task-timeout",
        "20.0",
        "--junitxml",
        "j.xml",
        "-x",
    ]
    assert {o.flag for o in contract_cli.SUITE_OPTIONS} >= {"--pace", "--provider", "--record"}


@pytest.mark.slow
def test_a_replay_run_writes_junit_and_drift_reports(tmp_path: Path) -> None:
    result = _run(tmp_path, provider=ONE, junit_xml="junit.xml", drift_report="drift.md")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
    assert 'tests="' in (tmp_path / "junit.xml").read_text()
    assert "No drift" in (tmp_path / "drift.md").read_text()


@pytest.mark.slow
def test_a_run_that_finds_drift_fails_and_reports_it(tmp_path: Path) -> None:
    [cassette] = [c for c in load_cassettes(SHIPPED) if c.provider == "seedance2ai"]
    data = cassette_json(cassette)
    data["exchanges"][1]["response"]["body"]["status"] = "done"
    folder = tmp_path / "cassettes"
    (folder / "seedance2ai").mkdir(parents=True)
    (folder / "seedance2ai" / "drifted.json").write_text(json.dumps(data))
    result = _run(tmp_path, provider="seedance2ai", drift_report="drift.md",
                  junit_xml="junit.xml", extra=["-q", "--cassettes", str(folder)])  # fmt: skip
    assert result.returncode == 1
    report = (tmp_path / "drift.md").read_text()
    assert "| seedance2ai get_task: status breaks the Task schema (body_matches_schema) |" in report
    assert '`"done"`' in report
    junit = (tmp_path / "junit.xml").read_text()
    assert '<property name="get_task.body_matches_schema" value="status: documented' in junit


@pytest.mark.slow
def test_the_suite_runs_from_the_wheel(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--wheel-dir", str(tmp_path / "dist"), str(ROOT)],
        check=True,
    )  # fmt: skip
    [wheel] = (tmp_path / "dist").glob("seedance_mock-*.whl")
    installed = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        archive.extractall(installed)
    assert "contracts/cassettes/seedance2ai/document-examples.json" in names
    assert "contracts/conftest.py" in names
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = _run(elsewhere, pythonpath=installed, provider=ONE)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
    probe = "import contracts, mockserver.spec as s; print(contracts.__file__, s.spec_root())"
    where = subprocess.run(
        [sys.executable, "-c", probe], cwd=elsewhere, capture_output=True, text=True, check=True,
        env={"PYTHONPATH": str(installed)},
    ).stdout.split()  # fmt: skip
    assert all(Path(p).is_relative_to(installed) for p in where), where


@pytest.mark.slow
def test_recorded_cassettes_replay(tmp_path: Path) -> None:
    """--record writes what a run sent; --target replay re-checks it, keyless."""
    recorded = _run(tmp_path, target="inprocess", record="recorded", provider=ONE,
                    extra=["-q", "-k", "unknown_task or someone_else"])  # fmt: skip
    assert recorded.returncode == 0, recorded.stdout + recorded.stderr
    cassettes = sorted((tmp_path / "recorded").rglob("*.json"))
    assert len(cassettes) == 2  # two tests
    assert "sk_contract_" not in "".join(p.read_text() for p in cassettes)
    replayed = _run(tmp_path, extra=["-q", "--cassettes", "recorded"])
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert "2 passed" in replayed.stdout


def test_the_url_target_needs_a_base_url(tmp_path: Path) -> None:
    result = _run(tmp_path, target="url")
    assert result.returncode == 4
    assert "--target url needs --base-url" in result.stderr
