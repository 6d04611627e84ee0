"""Habits (issue 15, section 3): ruff and mypy run inside the test command, and their configuration holds
domain/ and workflows/ to mypy's strict flags while the rest passes its default mode."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TEST_SH = (ROOT / "scripts" / "test.sh").read_text()
BIN = Path(sys.executable).parent

UNTYPED = "def double(x):\n    return x * 2\n"


def _tool(name: str) -> str:
    found = BIN / name if (BIN / name).exists() else shutil.which(name)
    if not found:
        pytest.skip(f"{name} is not installed (pip install -e '.[test]')")
    return str(found)


def test_the_test_command_runs_ruff_and_mypy_before_pytest_and_ci_cannot_skip_them():
    ruff, mypy, pytest_at = (TEST_SH.index(".venv/bin/ruff check ."), TEST_SH.index(".venv/bin/mypy"),
                             TEST_SH.index(".venv/bin/python -m pytest"))
    assert ruff < pytest_at and mypy < pytest_at
    skip = TEST_SH.index('if [ "${LEADFLOW_NO_LINT:-}" = "1" ] && ! $ci; then')
    assert skip < ruff, "LEADFLOW_NO_LINT skips the checks only outside CI"
    assert "bash scripts/test.sh" in (ROOT / ".ci" / "run").read_text()


def _mypy(tmp_path: Path, package: str) -> subprocess.CompletedProcess[str]:
    pkg = tmp_path / package
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "sample.py").write_text(UNTYPED)
    return subprocess.run([_tool("mypy"), "--config-file", str(ROOT / "pyproject.toml"), "--no-incremental",
                           f"{package}/sample.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "MYPYPATH": ""})


@pytest.mark.parametrize("package", ["domain", "workflows"])
def test_mypy_is_strict_for_the_decider_and_the_workflows(tmp_path, package):
    result = _mypy(tmp_path, package)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "[no-untyped-def]" in result.stdout


def test_mypy_default_mode_elsewhere(tmp_path):
    result = _mypy(tmp_path, "api")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_sorts_imports_and_runs_bugbear(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("import sys\nimport os\n\n\ndef f(x=[]):\n    return os, sys, x\n")
    result = subprocess.run([_tool("ruff"), "check", "--no-cache", "--config", str(ROOT / "pyproject.toml"),
                             str(sample)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "I001" in result.stdout and "B006" in result.stdout
