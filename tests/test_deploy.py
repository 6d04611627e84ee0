"""The production files stay in step with the code: the image holds every module, compose sets real settings."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

from settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def test_the_image_copies_every_module_and_package_the_project_installs():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    wanted = set(project["py-modules"]) | {p.rstrip("*") for p in project["packages"]["find"]["include"]}
    copied = set()
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY "):
            copied |= {Path(part).stem for part in line.split()[1:-1]}
    assert wanted <= copied, f"Dockerfile does not copy {sorted(wanted - copied)}"


def test_compose_gives_our_services_only_settings_the_code_reads():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    known = {field.alias for field in Settings.model_fields.values()}
    ours = {name: svc for name, svc in compose["services"].items() if "build" in svc or "leadflow" in str(svc.get("image", ""))}
    assert {"api", "worker", "setup"} <= set(ours)
    for name, service in ours.items():
        env = service.get("environment", {})
        names = set(env) if isinstance(env, dict) else {re.split(r"[=:]", item)[0] for item in env}
        unknown = {n for n in names if n.startswith(("TEMPORAL_", "LEADFLOW_", "DATABASE_"))} - known
        assert not unknown, f"{name} sets {sorted(unknown)} that settings.py does not read"
        assert {"TEMPORAL_ADDRESS", "DATABASE_URL"} <= names or name == "setup"
