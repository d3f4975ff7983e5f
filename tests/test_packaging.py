"""The built wheel carries spec/: installed into a fresh virtual environment,
it loads every provider's schemas from outside the checkout."""

from __future__ import annotations

import json
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_carries_the_spec(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--wheel-dir", str(dist), str(ROOT)],
        check=True,
    )  # fmt: skip
    [wheel] = dist.glob("seedance_mock-*.whl")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    # The wheel alone goes into the fresh environment (this pip installs it there);
    # its dependencies are this environment's, seen after the fresh one's own
    # site-packages through a .pth file (whose own .pth files, the checkout's
    # editable install among them, are not read): only the wheel can answer
    # `import mockserver`.
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
         "--no-deps", str(wheel)],
        check=True,
    )  # fmt: skip
    [fresh_site] = (env_dir / "lib").glob("python3*/site-packages")
    ours = [p for p in sys.path if p.endswith("site-packages") and Path(p).is_dir()]
    (fresh_site / "dependencies.pth").write_text("\n".join(ours) + "\n")

    probe = (
        "import json, mockserver\n"
        "from mockserver.spec import PROVIDERS, load_provider, spec_root\n"
        "specs = [load_provider(p) for p in PROVIDERS]\n"
        "print(json.dumps({'module': mockserver.__file__, 'root': str(spec_root()),\n"
        "  'defs': {s.name: sorted(s.schema['$defs']) for s in specs},\n"
        "  'valid': [s.validator(e['schema']).is_valid(e['body'])\n"
        "            for s in specs for e in s.example_index() if not e.get('abridged')]}))\n"
    )
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    result = subprocess.run(
        [python, "-c", probe], cwd=outside, capture_output=True, text=True, check=True
    )
    report = json.loads(result.stdout)
    assert Path(report["module"]).is_relative_to(env_dir)
    assert Path(report["root"]).is_relative_to(env_dir)
    assert "SubmitRequest" in report["defs"]["seedance2ai"]
    assert "GenerateRequest" in report["defs"]["seedanceapi"]
    assert "CreateTaskRequest" in report["defs"]["ark"]
    assert report["valid"]
    assert all(report["valid"])

    cli = subprocess.run(
        [env_dir / "bin" / "seedance-mock", "openapi", "--provider", "seedanceapi"],
        cwd=outside, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert json.loads(cli.stdout)["openapi"] == "3.1.0"
