"""A process sending a push is SIGKILLed while the provider holds its request: the ledger stays consistent (the
claimed row becomes `uncertain`, its request too) and the message is never sent a second time."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.fernet import Fernet, MultiFernet
from sqlmodel import Session, select

import channels.secrets
from activities.notify import NotifyActivities
from channels.delivery import PushActivities
from db.models import PushDelivery, PushRequest
from domain.push import FlushRequest, notice_key
from tests.push_fixtures import add_target, notice
from tests.push_receivers import Receiver

ROOT = Path(__file__).resolve().parent.parent
T0 = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)


def test_a_worker_killed_mid_send_never_sends_twice(engine, monkeypatch, tmp_path):
    key = Fernet.generate_key().decode()
    monkeypatch.setattr(channels.secrets, "_fernet", MultiFernet([Fernet(key)]))
    r = Receiver(delay=30)  # the provider holds the request: the sender is inside its send when killed
    try:
        add_target(engine, "wc-1", "wecom", {"webhook_url": f"{r.url}/send?key=K"})
        req = notice(1, T0)
        NotifyActivities(engine).notify(req)
        plan = PushActivities(engine)._plan(req)  # noqa: SLF001 - the flush runs in the process killed
        flush = FlushRequest(notice=notice_key(req), target_ids=plan.targets, now=T0)
        script = textwrap.dedent(f"""
            from sqlalchemy import create_engine
            from channels.delivery import PushActivities
            from domain.push import FlushRequest
            PushActivities(create_engine({str(engine.url)!r})).push_flush(FlushRequest.model_validate_json({flush.model_dump_json()!r}))
        """)
        env = {**os.environ, "LEADFLOW_CHANNEL_KEYS": key}
        worker = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, env=env, start_new_session=True)
        try:
            assert r.arrived.wait(30), "the request never left"
            os.killpg(worker.pid, signal.SIGKILL)
        finally:
            worker.wait(10)
        assert worker.returncode == -signal.SIGKILL
        with Session(engine) as session:
            row = session.exec(select(PushDelivery)).one()
            assert row.status == "sending" and row.attempts == 1  # claimed before the request left
        # the activity is retried (same input), then the workflow comes back once the claim is stale
        again = PushActivities(engine).push_flush(flush)
        assert again.pending_until == T0 + timedelta(seconds=90) and len(r.requests) == 1
        final = PushActivities(engine).push_flush(flush.model_copy(update={"now": again.pending_until}))
        assert final.pending_until is None
        with Session(engine) as session:
            row = session.exec(select(PushDelivery)).one()
            request = session.exec(select(PushRequest)).one()
        assert (row.status, request.status, row.attempts) == ("uncertain", "uncertain", 1)
        assert len(r.requests) == 1 and json.loads(r.requests[0]["body"])["markdown"]["content"]
    finally:
        r.close()

