"""The worker compiles the workflow modules once at start: the sandbox imports them afresh for every workflow
run, and without bytecode on disk (PYTHONDONTWRITEBYTECODE, set by our image) each run compiled them again."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

from worker import cache_workflow_bytecode

ROOT = Path(__file__).resolve().parent.parent


def test_the_workflow_modules_bytecode_is_on_disk_after_the_worker_starts(tmp_path, monkeypatch):
    monkeypatch.setattr("sys.dont_write_bytecode", True)  # as in the image
    shutil.copytree(ROOT / "workflows", tmp_path / "workflows", ignore=shutil.ignore_patterns("__pycache__"))
    modules = sorted((tmp_path / "workflows").glob("*.py"))
    assert not any(Path(importlib.util.cache_from_source(str(m))).exists() for m in modules)
    cache_workflow_bytecode(tmp_path)
    missing = [m.name for m in modules if not Path(importlib.util.cache_from_source(str(m))).exists()]
    assert not missing, missing
