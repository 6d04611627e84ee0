"""Logs are JSON events carrying the lead, workflow and run ids; replaying a workflow logs nothing."""

from __future__ import annotations

import io
import json
import logging
from contextlib import contextmanager

import httpx
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from api.app import create_app
from core.logging import configure_logging
from domain import commands as c
from tests.conftest import suite_converter, token_for
from tests.fixtures import manager, raw_lead
from tests.harness import lab
from workflows.lead import LeadWorkflow


@contextmanager
def captured_json():
    """Every log line of the process, rendered as the worker and the API render it."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    configure_logging("INFO")
    stream = io.StringIO()
    root.handlers[0].setStream(stream)
    lines: list[dict] = []
    try:
        yield lines
    finally:
        lines.extend(json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{"))
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)


async def test_workflow_and_activity_lines_carry_lead_workflow_and_run_ids(env, engine):
    async with lab(env, engine) as L:
        with captured_json() as lines:
            lead_id = (await L.intake(raw_lead(901))).lead_id
            await L.act(lead_id, manager("D-SH-1"), c.Acknowledge())
        run_id = (await L.handle(lead_id).describe()).run_id
    events = [line for line in lines if line["event"] == "lead event"]
    assert [e["kind"] for e in events][:3] == ["lead_created", "scored", "dispatched"]
    assert all(e["lead_id"] == e["workflow_id"] == lead_id and e["run_id"] == run_id for e in events)
    projected = [line for line in lines if line["event"] == "lead projected"]
    assert projected and all(p["lead_id"] == lead_id and p["run_id"] == run_id and p["activity"] == "record_lead"
                             for p in projected)


async def test_replaying_a_history_logs_nothing(env, engine):
    async with lab(env, engine) as L:
        lead_id = (await L.intake(raw_lead(902))).lead_id
        history = await L.handle(lead_id).fetch_history()
    with captured_json() as lines:
        replayer = Replayer(workflows=[LeadWorkflow], data_converter=suite_converter())
        await replayer.replay_workflow(WorkflowHistory.from_json(lead_id, history.to_json()))
    assert not [line for line in lines if line["event"] == "lead event"]


async def test_api_request_lines_carry_the_lead_id(env, engine):
    async with lab(env, engine) as L:
        lead_id = (await L.intake(raw_lead(903))).lead_id
        app = create_app(client=L.client, engine=engine, policy=L.policy, task_queue=L.task_queue)
        async with app.router.lifespan_context(app):
            with captured_json() as lines:
                async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://x") as http:
                    await http.get(f"/v1/leads/{lead_id}", headers={"Authorization": f"Bearer {token_for('ops')}"})
    [request] = [line for line in lines if line["event"] == "request"]
    assert request["lead_id"] == lead_id == request["workflow_id"] and request["status"] == 200
    assert request["request_id"] and request["level"] == "info"


def test_an_exception_is_logged_with_its_traceback_and_phones_masked():
    with captured_json() as lines:
        try:
            raise ValueError("customer +8613800138000 refused")
        except ValueError:
            logging.getLogger("leadflow.test").exception("projection failed")
    line = next(line for line in lines if line.get("event") == "projection failed")
    assert "Traceback (most recent call last)" in line["exception"] and "ValueError" in line["exception"]
    assert "13800138000" not in json.dumps(line) and "138****8000" in line["exception"]
