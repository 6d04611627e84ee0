"""Metrics for Prometheus: the product's figures from the read model (GET /metrics on the API), checked
against rows whose numbers were worked out by hand, and the worker's Temporal SDK metrics.

"Now" is pinned to T; the windowed histograms look back one hour (db.metrics.WINDOW).

| lead | brand | stage | created | holdings (first dispatch) | lapsed clock runs (deadline; lapse; first alert) |
| --- | --- | --- | --- | --- | --- |
| L1 | Aurora | dispatched | T-40m | D1 T-40m+2.5s, D2 T-30m+1s | receipt T-5h (old); receipt T-30m, +0.5s, +0.8s (and +3s) |
| L2 | Aurora | dispatched | T-25h | D1 T-25h+10s (old), D2 T-20m | receipt T-20m, +40s, +42.5s; first_response T-10m, +2s, +700s |
| L3 | Aurora | acknowledged | T-50m | D1 T-50m+2000s (cleansed first) | regional_follow_through T-15m, +1s, +3s (regional_escalation) |
| L4 | Aurora | closed_lost | T-3h | D1 T-3h+5s (old) | receipt T-3h (old) |
| L5 | Borealis | new | T-50m | none | receipt T-5m, +1s, no alert row; nurture_touch T-5m (no alert) |

Besides: a met, a cancelled and a running receipt run (not lapsed), and notifications of other kinds
after a lapse (not its alert).
"""  # noqa: E501 - the scenario as a Markdown table, one row per lead: a row cannot wrap

from __future__ import annotations

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlmodel import Session
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.routes import metrics as metrics_route
from core.settings import Settings, get_settings
from db.metrics import ALERT_KIND, DISPATCH_BUCKETS, LATENESS_BUCKETS
from db.models import ClockRun, HoldingRow, Lead, Notification
from domain import lifecycle as lc
from domain.clocks import CLOCKS
from domain.models import AppealCase, ClockState
from domain.policy import load_policy
from domain.stages import LeadStage
from tests.conftest import _binary, free_port, token_for
from tests.fixtures import OPS, raw_lead
from tests.test_lifecycle_rules import NOW as RULES_NOW
from tests.test_lifecycle_rules import POLICY, REVIEWER, base_state
from worker import build_worker, connect_worker, metrics_runtime
from workflows import gateway
from workflows.search_attributes import register

T = datetime(2026, 11, 28, 4, 0, tzinfo=UTC)
S, M, H = timedelta(seconds=1), timedelta(minutes=1), timedelta(hours=1)
NO_TEMPORAL: Any = object()  # /metrics reads only the database: any use of this "client" would fail


def lead(lead_id: str, stage: str, created: datetime, updated: datetime, brand: str = "Aurora") -> Lead:
    return Lead(lead_id=lead_id, brand=brand, customer_key=f"c-{lead_id}", customer_name=f"Customer {lead_id}",
                phone="+8613812345678", city="Shanghai", series="A5", channel="website", stage=stage,
                furthest_stage=stage, region="East", dealer_id="D-SH-1", created_at=created, updated_at=updated,
                workflow_id=lead_id, run_id="run")


def lapsed(lead_id: str, clock: str, deadline: datetime, lapse_after: timedelta) -> ClockRun:
    return ClockRun(lead_id=lead_id, clock=clock, started_at=deadline - 2 * H, deadline=deadline,
                    ended_at=deadline + lapse_after, outcome="lapsed")


def notification(lead_id: str, kind: str, at: datetime, recipient: str = "someone") -> Notification:
    return Notification(idempotency_key=f"{lead_id}:{kind}:{at.isoformat()}:{recipient}", lead_id=lead_id, kind=kind,
                        recipient_role="dealer_ops_lead", recipient_user_id=recipient, message="deadline passed",
                        created_at=at)


def holding(lead_id: str, dealer: str, at: datetime) -> HoldingRow:
    return HoldingRow(lead_id=lead_id, dealer_id=dealer, started_at=at)


def rows() -> list:
    return [
        lead("L1", "dispatched", T - 40 * M, T - 10 * M),
        holding("L1", "D-SH-1", T - 40 * M + 2.5 * S), holding("L1", "D-SH-2", T - 30 * M + S),
        lapsed("L1", "receipt", T - 5 * H, timedelta(0)), notification("L1", "receipt", T - 5 * H + 100 * S),
        lapsed("L1", "receipt", T - 30 * M, 0.5 * S),
        notification("L1", "receipt", T - 30 * M + 0.8 * S), notification("L1", "receipt", T - 30 * M + 3 * S, "other"),
        notification("L1", "lead_dispatched", T - 30 * M + 0.6 * S),

        lead("L2", "dispatched", T - 25 * H, T - 5 * M),
        holding("L2", "D-SH-1", T - 25 * H + 10 * S), holding("L2", "D-SH-2", T - 20 * M),
        lapsed("L2", "receipt", T - 20 * M, 40 * S), notification("L2", "receipt", T - 20 * M + 42.5 * S),
        lapsed("L2", "first_response", T - 10 * M, 2 * S), notification("L2", "first_response", T - 10 * M + 700 * S),

        lead("L3", "acknowledged", T - 50 * M, T - M),
        holding("L3", "D-SH-1", T - 50 * M + 2000 * S),
        lapsed("L3", "regional_follow_through", T - 15 * M, S),
        notification("L3", "regional_follow_through", T - 15 * M + 1.5 * S),  # not the escalation's kind
        notification("L3", "regional_escalation", T - 15 * M + 3 * S),

        lead("L4", "closed_lost", T - 3 * H, T - 2 * H),
        holding("L4", "D-SH-1", T - 3 * H + 5 * S),
        lapsed("L4", "receipt", T - 3 * H, S), notification("L4", "receipt", T - 3 * H + 2 * S),

        lead("L5", "new", T - 50 * M, T - 4 * M, brand="Borealis"),
        lapsed("L5", "receipt", T - 5 * M, S),
        lapsed("L5", "nurture_touch", T - 5 * M, S), notification("L5", "nurture_content", T - 5 * M + 2 * S),

        ClockRun(lead_id="L3", clock="receipt", started_at=T - 50 * M, deadline=T - 40 * M, ended_at=T - 45 * M,
                 outcome="met"),
        ClockRun(lead_id="L4", clock="receipt", started_at=T - 2 * H, deadline=T - 1.5 * H, ended_at=T - 1.9 * H,
                 outcome="cancelled"),
        ClockRun(lead_id="L2", clock="store_invitation", started_at=T - 20 * M, deadline=T - M),  # running (overdue)
    ]


def seed_rows(engine) -> None:
    with Session(engine) as session:
        session.add_all(rows())
        session.commit()


@asynccontextmanager
async def metrics_api(engine, now: datetime = T):
    app = create_app(client=NO_TEMPORAL, engine=engine, policy=load_policy(), task_queue="unused")
    app.dependency_overrides[metrics_route.current_time] = lambda: now
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://leadflow") as http:
            yield http


def samples(text: str) -> dict[tuple, float]:
    """(sample name, sorted labels) -> value."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def histogram(found: dict, name: str, bounds: tuple[float, ...], **labels) -> tuple[list[float], float, float]:
    """Cumulative bucket counts (bounds, then +Inf), the count and the sum of one histogram series."""
    def get(suffix: str, **extra) -> float:
        return found[(f"{name}{suffix}", tuple(sorted((labels | extra).items())))]

    buckets = [get("_bucket", le=str(b)) for b in bounds] + [get("_bucket", le="+Inf")]
    return buckets, get("_gcount"), get("_gsum")


def cumulative(bounds: tuple[float, ...], observations: list[float]) -> list[float]:
    return [float(sum(o <= b for o in observations)) for b in bounds] + [float(len(observations))]


async def scrape(engine) -> dict:
    async with metrics_api(engine) as http:
        answer = await http.get("/metrics")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    return samples(answer.text)


def check_figures(found: dict) -> None:
    def leads(brand: str, stage: str) -> float:
        return found[("leadflow_leads", (("brand", brand), ("stage", stage)))]

    assert leads("Aurora", "dispatched") == 2 and leads("Aurora", "acknowledged") == 1
    assert leads("Aurora", "closed_lost") == 1 and leads("Borealis", "new") == 1
    assert leads("Aurora", "new") == 0 and leads("Borealis", "dispatched") == 0  # every stage, 0 included
    assert sum(v for (name, _), v in found.items() if name == "leadflow_leads") == 5
    assert {labels for (name, labels) in found if name == "leadflow_leads"} == {
        (("brand", b), ("stage", s.value)) for b in ("Aurora", "Borealis") for s in LeadStage}

    lapsed_total = {dict(labels)["clock"]: v for (name, labels), v in found.items()
                    if name == "leadflow_clocks_lapsed_total"}
    assert lapsed_total == {name: 0.0 for name in CLOCKS} | {
        "receipt": 5.0, "first_response": 1.0, "regional_follow_through": 1.0, "nurture_touch": 1.0}

    name = "leadflow_alert_lateness_seconds"
    expected = {"receipt": [0.8, 42.5], "first_response": [700.0], "regional_follow_through": [3.0]}
    for clock in ALERT_KIND:
        observed = expected.get(clock, [])
        buckets, count, total = histogram(found, name, LATENESS_BUCKETS, clock=clock)
        assert buckets == cumulative(LATENESS_BUCKETS, observed), clock
        assert count == len(observed) and total == pytest.approx(sum(observed), abs=1e-3), clock
    assert not [labels for (n, labels) in found if n == f"{name}_bucket" and dict(labels)["clock"] not in ALERT_KIND]
    assert histogram(found, name, LATENESS_BUCKETS, clock="receipt")[0][:6] == [1, 1, 1, 1, 2, 2]  # le 1, 5 ... 120

    buckets, count, total = histogram(found, "leadflow_dispatch_latency_seconds", DISPATCH_BUCKETS)
    assert buckets == cumulative(DISPATCH_BUCKETS, [2.5, 2000.0]) == [0, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2]
    assert count == 2 and total == pytest.approx(2002.5, abs=1e-3)


async def test_the_product_figures_on_sqlite(engine):
    seed_rows(engine)
    check_figures(await scrape(engine))


@pytest.mark.postgres
async def test_the_same_figures_on_postgresql(pg_engine):
    seed_rows(pg_engine)
    check_figures(await scrape(pg_engine))


async def test_an_empty_read_model_reports_zeros_and_every_clock(engine):
    found = await scrape(engine)
    assert not [k for k in found if k[0] == "leadflow_leads"]  # no brand yet
    assert {dict(k[1])["clock"] for k in found if k[0] == "leadflow_clocks_lapsed_total"} == set(CLOCKS)
    assert found[("leadflow_dispatch_latency_seconds_gcount", ())] == 0
    assert found[("leadflow_alert_lateness_seconds_bucket", (("clock", "receipt"), ("le", "+Inf")))] == 0


async def test_the_histograms_slide_with_now(engine):
    seed_rows(engine)
    async with metrics_api(engine, now=T + 2 * H) as http:
        found = samples((await http.get("/metrics")).text)
    assert found[("leadflow_dispatch_latency_seconds_gcount", ())] == 0
    assert found[("leadflow_alert_lateness_seconds_gcount", (("clock", "receipt"),))] == 0
    assert found[("leadflow_clocks_lapsed_total", (("clock", "receipt"),))] == 5  # a counter: ever
    async with metrics_api(engine, now=T - 20 * M) as http:  # before L2's lapse, after L1's
        found = samples((await http.get("/metrics")).text)
    assert found[("leadflow_alert_lateness_seconds_gcount", (("clock", "receipt"),))] == 1
    assert found[("leadflow_dispatch_latency_seconds_gcount", ())] == 1  # L1's; L3's came at T-16m40s


def test_every_alerting_lapse_is_matched_by_its_alert_kind():
    """ALERT_KIND follows domain.lifecycle: lapsing each clock raises exactly that alert, or none."""
    for name in CLOCKS:
        state = base_state(LeadStage.CONTACTED, follow_ups=1, clocks={name: ClockState(
            name=name, started_at=RULES_NOW - 2 * H, deadline=RULES_NOW - M)})
        if name.startswith("appeal"):
            state.appeal = AppealCase(dealer_id="D-SH-1", defeat_reviewer=REVIEWER.user_id, penalty_id="p")
        t = lc.lapse(state, name, POLICY, RULES_NOW)
        alerts = [e.data["alert"] for e in t.events if e.kind == "alert_raised"]
        assert alerts == ([ALERT_KIND[name]] if name in ALERT_KIND else []), name


# ------------------------------------------------------------------ the endpoint


async def test_metrics_need_no_user_token_name_no_customer_and_stay_out_of_the_schema(engine):
    seed_rows(engine)
    async with metrics_api(engine) as http:
        ops = {"Authorization": f"Bearer {token_for('ops')}"}
        assert (await http.get("/v1/leads/L-404", headers=ops)).status_code == 404
        assert (await http.get("/v1/leads/L2")).status_code == 401
        answer = await http.get("/metrics")
        assert answer.status_code == 200
        for private in ("L1", "L2", "L-404", "Customer", "13812345678", "D-SH-1", "c-L1"):
            assert private not in answer.text, private
        found = samples(answer.text)
        requests = "leadflow_api_request_duration_seconds_count"
        assert found[(requests, (("method", "GET"), ("route", "/v1/leads/{lead_id}"), ("status", "404")))] == 1
        assert found[(requests, (("method", "GET"), ("route", "/v1/leads/{lead_id}"), ("status", "401")))] == 1
        await http.get("/no/such/path")
        found = samples((await http.get("/metrics")).text)
        assert found[(requests, (("method", "GET"), ("route", "unmatched"), ("status", "404")))] == 1
        assert found[(requests, (("method", "GET"), ("route", "/metrics"), ("status", "200")))] == 1
        assert "/metrics" not in (await http.get("/openapi.json")).json()["paths"]


async def test_openmetrics_when_the_scraper_asks_for_it(engine):
    async with metrics_api(engine) as http:
        answer = await http.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert answer.headers["content-type"].startswith("application/openmetrics-text")
    assert "# TYPE leadflow_dispatch_latency_seconds gaugehistogram" in answer.text
    assert answer.text.endswith("# EOF\n")


@pytest.fixture
def metrics_token(monkeypatch):
    monkeypatch.setenv("LEADFLOW_METRICS_TOKEN", "scrape-secret")
    get_settings.cache_clear()
    yield "scrape-secret"
    monkeypatch.delenv("LEADFLOW_METRICS_TOKEN")
    get_settings.cache_clear()


async def test_with_a_metrics_token_set_only_that_token_may_scrape(engine, metrics_token):
    async with metrics_api(engine) as http:
        assert (await http.get("/metrics")).status_code == 401
        wrong = await http.get("/metrics", headers={"Authorization": f"Bearer {token_for('ops')}"})
        assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
        right = await http.get("/metrics", headers={"Authorization": f"Bearer {metrics_token}"})
        assert right.status_code == 200 and "leadflow_clocks_lapsed_total" in right.text


# ------------------------------------------------------------------ the worker's SDK metrics


def test_the_worker_metrics_can_be_turned_off():
    assert metrics_runtime("off") is None and metrics_runtime("") is None
    assert Settings().worker_metrics_address == "off"  # many local workers (tests, benchmarks) never share a port


def test_the_local_stack_and_compose_turn_the_worker_metrics_on():
    from pathlib import Path

    import yaml

    from devtools import dev

    root = Path(__file__).resolve().parent.parent
    compose = yaml.safe_load((root / "docker-compose.yml").read_text())
    assert compose["services"]["worker"]["environment"]["LEADFLOW_WORKER_METRICS_ADDRESS"].endswith(":-0.0.0.0:9464}")
    assert "9464" in [str(port) for port in compose["services"]["worker"]["expose"]]
    assert 'env.setdefault("LEADFLOW_WORKER_METRICS_ADDRESS", "127.0.0.1:9464")' in Path(dev.__file__).read_text()


async def test_the_worker_serves_the_sdk_metrics_for_prometheus(engine):
    """The worker's client (worker.connect_worker, as worker.main uses it) runs on a runtime that
    serves the SDK's metrics: after one lead, they show its task queue, workflow tasks and (local) activities."""
    port = free_port()
    server = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=_binary("temporal-test-server"), data_converter=pydantic_data_converter)
    async with server:
        settings = Settings(TEMPORAL_ADDRESS=server.client.service_client.config.target_host,
                            LEADFLOW_WORKER_METRICS_ADDRESS=f"127.0.0.1:{port}")
        client = await connect_worker(settings)
        await register(client)
        task_queue = f"leads-{uuid.uuid4()}"
        with ThreadPoolExecutor(max_workers=4) as executor:
            async with build_worker(client, task_queue, engine, executor):
                result = await gateway.submit_raw_lead(client, task_queue, load_policy(time_scale=1), raw_lead(801),
                                                       OPS)
                assert (await gateway.current_state(client, result.lead_id)).stage == LeadStage.DISPATCHED
                async with httpx.AsyncClient() as http:
                    for _ in range(50):  # the SDK exports on its own schedule
                        text = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
                        if 'activity_type="record_lead"' in text:
                            break
                        await asyncio.sleep(0.1)
                await client.get_workflow_handle(result.lead_id).terminate("test finished")
    families = {f.name: f for f in text_string_to_metric_families(text)}
    for name in ("temporal_request", "temporal_worker_task_slots_available", "temporal_workflow_task_execution_latency",
                 "temporal_activity_execution_latency", "temporal_local_activity_execution_latency",
                 "temporal_num_pollers"):
        assert name in families, (name, sorted(families))
    slots = [s for s in families["temporal_worker_task_slots_available"].samples
             if s.labels.get("task_queue") == task_queue]
    assert {s.labels["worker_type"] for s in slots} >= {"WorkflowWorker", "ActivityWorker", "LocalActivityWorker"}
    remote = {s.labels.get("activity_type") for s in families["temporal_activity_execution_latency"].samples}
    local = {s.labels.get("activity_type") for s in families["temporal_local_activity_execution_latency"].samples}
    assert {"record_lead"} <= remote and {"score_lead", "dispatch_lead"} <= local  # alerts ride on record_lead


def test_compose_exposes_each_workers_metrics_port_without_a_host_port():
    """`--scale worker=N` needs no fixed host port; Prometheus reaches each worker on the compose network."""
    import re
    from pathlib import Path

    import yaml

    compose = yaml.safe_load((Path(__file__).resolve().parent.parent / "docker-compose.yml").read_text())
    worker = compose["services"]["worker"]
    setting = worker["environment"]["LEADFLOW_WORKER_METRICS_ADDRESS"]
    address = re.fullmatch(r"\$\{LEADFLOW_WORKER_METRICS_ADDRESS:-(.+)\}", setting)
    assert address and address.group(1) == "0.0.0.0:9464"  # every interface: reachable from the Prometheus container
    assert [str(p) for p in worker["expose"]] == ["9464"] and "ports" not in worker
