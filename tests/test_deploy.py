"""The production files stay in step with the code: the image holds every module, compose sets real settings."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

from core.settings import Settings

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
    ours = {name: svc for name, svc in compose["services"].items() if "build" in svc
            or "leadflow" in str(svc.get("image", ""))}
    assert {"api", "worker", "setup"} <= set(ours)
    for name, service in ours.items():
        env = service.get("environment", {})
        names = set(env) if isinstance(env, dict) else {re.split(r"[=:]", item)[0] for item in env}
        unknown = {n for n in names if n.startswith(("TEMPORAL_", "LEADFLOW_", "DATABASE_"))} - known
        assert not unknown, f"{name} sets {sorted(unknown)} that core/settings.py does not read"
        assert {"TEMPORAL_ADDRESS", "DATABASE_URL"} <= names or name == "setup"


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _default(value: str) -> str:
    """`${VAR:-default}` -> default (what compose uses when the environment leaves VAR unset)."""
    return re.sub(r"\$\{[A-Z0-9_]+:-([^}]*)\}", r"\1", value)


def test_compose_dependencies_exist_and_one_shots_are_awaited_to_completion():
    services = _compose()["services"]
    one_shots = {name for name, svc in services.items() if svc.get("restart") == "no"}
    assert {"temporal-schema", "temporal-namespace", "setup"} <= one_shots
    for name, service in services.items():
        for dependency, condition in (service.get("depends_on") or {}).items():
            assert dependency in services, f"{name} depends on unknown service {dependency}"
            wanted = "service_completed_successfully" if dependency in one_shots else "service_healthy"
            assert condition["condition"] == wanted, f"{name} waits for {dependency} with {condition}"
            if wanted == "service_healthy":
                assert "healthcheck" in services[dependency], f"{dependency} has no healthcheck to wait for"


def test_compose_mounts_files_that_exist_and_scripts_that_parse():
    import subprocess

    services = _compose()["services"]
    for name, service in services.items():
        for volume in service.get("volumes", []):
            host = volume.split(":")[0]
            if host.startswith("."):
                assert (ROOT / host).exists(), f"{name} mounts {host}, which is not in the repository"
        command = service.get("command") or []
        for part in command if isinstance(command, list) else command.split():
            if part.startswith("/leadflow/"):
                script = ROOT / "deploy/temporal" / part.removeprefix("/leadflow/")
                assert script.exists(), f"{name} runs {part}, which deploy/temporal/ lacks"
                checked = subprocess.run(["sh", "-n", str(script)], capture_output=True, text=True)
                assert checked.returncode == 0, checked.stderr
    temporal = services["temporal"]
    config = Path(temporal["environment"]["DYNAMIC_CONFIG_FILE_PATH"]).name
    mounted = next(v for v in temporal["volumes"] if v.endswith("/etc/temporal/config/dynamicconfig:ro"))
    assert isinstance(yaml.safe_load((ROOT / mounted.split(":")[0] / config).read_text()), dict)


def test_compose_runs_a_postgresql_backed_temporal_with_matching_tool_versions():
    services = _compose()["services"]
    server = services["temporal"]
    assert server["environment"]["DB"] == "postgres12" and server["environment"]["POSTGRES_SEEDS"] == "postgresql"
    version = _default(server["image"]).split(":")[1]
    for tool in ("temporal-schema", "temporal-namespace"):
        assert _default(services[tool]["image"]) == f"temporalio/admin-tools:{version}"
    assert _default(services["temporal-ui"]["environment"]["TEMPORAL_ADDRESS"]) == "temporal:7233"


def test_the_worker_scales_and_setup_migrates_and_registers_before_anything_starts():
    services = _compose()["services"]
    worker = services["worker"]
    assert "container_name" not in worker, "a fixed container name stops `--scale worker=N`"
    assert all(":" not in str(port) for port in worker.get("ports", [])), "a fixed host port stops `--scale worker=N`"
    setup = " ".join(services["setup"]["command"])
    assert "python -m db.migrate" in setup and "python -m ops.register_search_attributes" in setup
    for name in ("api", "worker"):
        assert services[name]["depends_on"]["setup"]["condition"] == "service_completed_successfully"


def test_no_access_log_writes_the_stream_token_in_clear():
    """The live stream takes `?token=` (EventSource cannot send headers); uvicorn's access log would
    print it. Our request log (api/app.py) names the path only, so every way we start uvicorn turns
    the access log off."""
    from devtools import dev

    api = _compose()["services"]["api"]["command"]
    assert "--no-access-log" in api
    assert '"--no-access-log"' in Path(dev.__file__).read_text()
    assert '"--no-access-log"]' in (ROOT / "Dockerfile").read_text()
