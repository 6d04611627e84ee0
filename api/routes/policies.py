"""Policies as versioned data, and the what-if simulator (issue 16).

Lead ops draft a version (a whole document, or changes over the active one); the head of lead ops approves it (never
the draft's author) and it becomes active: new leads take it at intake. Running leads keep theirs unless lead ops
migrate a chosen set, picked by a Temporal visibility query, with a reason (each lead's timeline says so). Every
step is audited. A simulation runs a draft over a period's recorded facts (`ops/simulate.py`) in the background;
its progress and report are read back by id.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, TypeAdapter, model_validator
from sqlmodel import Session, col, select

from api.deps import ActorDep, ClientDep, LangDep, NowDep, SessionDep
from api.errors import Invalid, Problem, responses
from core.logging import get_logger
from db import policies as pol
from db.models import PolicySimulation, User
from domain.durations import parse_duration
from domain.messages import CATALOG, LABELS, CodedError, format_duration, label, render
from domain.models import Actor
from domain.policy_versions import PolicyProblem
from domain.simulate import readable
from domain.stages import Role
from workflows.messages import PolicyMigrationSignal

log = get_logger("api.policies")
router = APIRouter(prefix="/v1", tags=["policies"], responses=responses(403))
LEAD_OPS = frozenset({Role.LEAD_OPS, Role.HEAD_OF_LEAD_OPS})
Version = Annotated[int, Path(ge=1, le=1_000_000, description="a policy version number")]
MAX_MIGRATED = 10_000


def lead_ops(actor: ActorDep) -> Actor:
    if actor.role not in LEAD_OPS:
        raise Problem(403, "error.role_only", what="policies", roles=sorted(r.value for r in LEAD_OPS),
                      role=actor.role.value)
    return actor


def head_of_lead_ops(actor: ActorDep) -> Actor:
    if actor.role != Role.HEAD_OF_LEAD_OPS:
        raise Problem(403, "error.role_only", what="approve_policy", roles=[Role.HEAD_OF_LEAD_OPS.value],
                      role=actor.role.value)
    return actor


OpsDep = Annotated[Actor, Depends(lead_ops)]
HeadDep = Annotated[Actor, Depends(head_of_lead_ops)]


class VersionView(BaseModel):
    version: int
    status: Literal["draft", "active", "superseded", "rejected"]
    author: str
    author_name: str = Field(description="the author's name (the engine for the shipped version), for people")
    reason: str = Field(description="as typed; the shipped version's in the reader's language")
    created_at: datetime
    effective_from: datetime | None
    approved_by: str | None
    base_version: int | None
    diff: list[dict[str, Any]]
    document: dict[str, Any] | None = None


class DraftBody(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)
    changes: dict[str, Any] | None = Field(default=None, description="tables laid over the active version, e.g. "
                                           '{"clocks": {"receipt": "1h"}}')
    document: dict[str, Any] | None = Field(default=None, description="a whole policy document instead")

    @model_validator(mode="after")
    def _one(self) -> DraftBody:
        if (self.changes is None) == (self.document is None):
            raise CodedError("invalid.changes_or_document")
        return self


class Decision(BaseModel):
    note: str | None = Field(default=None, max_length=2000)


class Rejection(BaseModel):
    note: str = Field(min_length=1, max_length=2000)


class MigrationBody(BaseModel):
    query: str = Field(min_length=1, max_length=2000, description="a Temporal visibility query over the leads' "
                       "search attributes, e.g. Region='East' AND LeadStage='dispatched'")
    reason: str = Field(min_length=1, max_length=2000)


class MigrationView(BaseModel):
    version: int
    leads: int
    lead_ids: list[str]


class AuditView(BaseModel):
    version: int
    at: datetime
    actor: str
    action: str
    reason: str | None
    data: dict[str, Any]


def _view(row, session: Session, lang: str, document: bool = False) -> VersionView:
    """A version as people read it: the author's name, the engine's own reason in the reader's language, and each
    changed setting named (`label`) with its values in words (`before_text`, `after_text`) beside the key path."""
    author = session.get(User, row.author)
    diff = [d | {"label": setting_label(d["path"], lang), "before_text": value_text(d.get("before"), lang, d["path"]),
                 "after_text": value_text(d.get("after"), lang, d["path"])} for d in row.diff]
    return VersionView(version=row.version, status=row.status, author=row.author,
                       author_name=author.name if author else label("role", row.author, lang),
                       reason=_reason(row.author, row.reason, lang) or "",
                       created_at=row.created_at, effective_from=row.effective_from, approved_by=row.approved_by,
                       base_version=row.base_version, diff=diff, document=row.document if document else None)


def _reason(author: str, reason: str | None, lang: str) -> str | None:
    """As typed, except the engine's own reason for the shipped version (a code; a Chinese text before codes)."""
    if author == "system" and reason in (pol.SEED_REASON, pol.OLD_SEED_REASON):
        return render(pol.SEED_REASON, {}, lang)
    return reason


def setting_label(path: str, lang: str) -> str:
    """A policy key path in words: its section, and the clock or dispatch factor it sets (`clocks.receipt` ->
    计时 · 接收确认); a key the catalog has no words for is named by its section only."""
    parts = path.split(".")
    section = f"policy.section.{parts[0]}"
    words = [render(section, {}, lang)] if section in CATALOG else []
    leaf = parts[1] if len(parts) > 1 else None
    if parts[0] in ("clocks", "working_days") and leaf in LABELS["clock"]:
        words.append(label("clock", leaf, lang) + (f" {parts[2]}" if len(parts) > 2 else ""))
    elif parts[:2] == ["dispatch", "weights"] and len(parts) == 3 and f"dispatch.factor.{parts[2]}" in CATALOG:
        words.append(render(f"dispatch.factor.{parts[2]}", {}, lang))
    return " · ".join(words)


_DURATION = TypeAdapter(timedelta)


def value_text(value: Any, lang: str, path: str = "") -> str:
    """A setting's value in words: durations (the document keeps ISO 8601, PT15M) as 15分钟 / 15 min, working days
    as 3个工作日, yes or no, lists item by item."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return render("policy.yes" if value else "policy.no", {}, lang)
    if path.startswith("working_days.") and isinstance(value, int | float):
        return format_duration(value * 86400, lang, working_days=True)
    if isinstance(value, str):
        for read in (parse_duration, _DURATION.validate_python):
            try:
                return format_duration(read(value).total_seconds(), lang)
            except ValueError:
                continue
        return value
    if isinstance(value, list):
        return ("、" if lang == "zh-CN" else ", ").join(value_text(v, lang) for v in value) or "—"
    if isinstance(value, dict):
        return "; ".join(f"{k} {value_text(v, lang)}" for k, v in value.items())
    return f"{value:g}" if isinstance(value, float) else str(value)


def _seeded(request: Request, session: Session, now: datetime) -> None:
    pol.ensure_seeded(session, request.app.state.policy, now)


def _problem(e: PolicyProblem, where: str, lang: str) -> JSONResponse:
    detail = [{"loc": ["body", where, *(p.split(".") if p else [])], "path": p, "msg": render(code, params, lang),
               "type": "value_error", "code": code, **({"params": params} if params else {})}
              for p, code, params in e.said]
    return JSONResponse({"detail": detail}, status_code=422)


def _get(session: Session, version: int):
    try:
        return pol.get(session, version)
    except pol.UnknownVersion:
        raise Problem(404, "error.not_found", thing="policy", id=version) from None


@router.get("/policies", summary="Every policy version, newest first (lead ops)")
def list_versions(request: Request, session: SessionDep, now: NowDep, lang: LangDep, _: OpsDep) -> list[VersionView]:
    _seeded(request, session, now)
    return [_view(row, session, lang) for row in pol.listing(session)]


@router.get("/policies/audit", summary="Every step on every version: drafted, approved, rejected, migrated")
def all_audit(request: Request, session: SessionDep, now: NowDep, lang: LangDep, _: OpsDep) -> list[AuditView]:
    _seeded(request, session, now)
    return [AuditView(version=a.version, at=a.at, actor=a.actor, action=a.action,
                      reason=_reason(a.actor, a.reason, lang), data=a.data)
            for a in pol.audit(session)]


@router.get("/policies/{version}", summary="One version with its document and its diff", responses=responses(404))
def get_version(version: Version, request: Request, session: SessionDep, now: NowDep, lang: LangDep,
                _: OpsDep) -> VersionView:
    _seeded(request, session, now)
    return _view(_get(session, version), session, lang, document=True)


@router.post("/policies/drafts", status_code=201, summary="Draft a version (lead ops): changes over the active one, "
             "or a whole document; 422 names the key path at fault")
def draft(body: DraftBody, request: Request, session: SessionDep, now: NowDep, lang: LangDep, actor: OpsDep):
    _seeded(request, session, now)
    try:
        row = pol.draft(session, actor.user_id, body.reason, now, document=body.document, changes=body.changes)
    except PolicyProblem as e:
        session.rollback()
        return _problem(e, "changes" if body.changes is not None else "document", lang)
    return _view(row, session, lang, document=True)


@router.post("/policies/{version}/approve", summary="Approve a draft (head of lead ops, not its author): it becomes "
             "the active version for new leads", responses=responses(404, 409))
def approve(version: Version, body: Decision, request: Request, session: SessionDep, now: NowDep, lang: LangDep,
            actor: HeadDep) -> VersionView:
    _seeded(request, session, now)
    try:
        row = pol.approve(session, version, actor.user_id, now, body.note)
    except pol.UnknownVersion:
        raise Problem(404, "error.not_found", thing="policy", id=version) from None
    except pol.PolicyForbidden:
        raise Problem(403, "error.policy_own_author") from None
    except pol.PolicyConflict as e:
        raise Problem(409, e.code, **e.params) from None
    return _view(row, session, lang, document=True)


@router.post("/policies/{version}/reject", summary="Reject a draft (head of lead ops)", responses=responses(404, 409))
def reject(version: Version, body: Rejection, request: Request, session: SessionDep, now: NowDep, lang: LangDep,
           actor: HeadDep) -> VersionView:
    _seeded(request, session, now)
    try:
        row = pol.reject(session, version, actor.user_id, now, body.note)
    except pol.UnknownVersion:
        raise Problem(404, "error.not_found", thing="policy", id=version) from None
    except pol.PolicyConflict as e:
        raise Problem(409, e.code, **e.params) from None
    return _view(row, session, lang)


@router.get("/policies/{version}/audit", summary="The version's audit", responses=responses(404))
def version_audit(version: Version, request: Request, session: SessionDep, now: NowDep, lang: LangDep,
                  _: OpsDep) -> list[AuditView]:
    _seeded(request, session, now)
    _get(session, version)
    return [AuditView(version=a.version, at=a.at, actor=a.actor, action=a.action,
                      reason=_reason(a.actor, a.reason, lang), data=a.data)
            for a in pol.audit(session, version)]


@router.post("/policies/{version}/migrations", summary="Move running leads picked by a visibility query to this "
             "(active) version, with a reason; each lead's timeline says so", responses=responses(404, 409))
async def migrate(version: Version, body: MigrationBody, request: Request, session: SessionDep, client: ClientDep,
                  now: NowDep, actor: OpsDep) -> MigrationView:
    _seeded(request, session, now)
    row = _get(session, version)
    if row.status != "active":
        raise Problem(409, "error.policy_not_active", version=version, status=row.status)
    policy = pol.policy_of(row, request.app.state.policy.time_scale)
    query = f"WorkflowType='LeadWorkflow' AND ExecutionStatus='Running' AND ({body.query})"
    try:
        lead_ids = [w.id async for w in client.list_workflows(query, limit=MAX_MIGRATED + 1)]
    except Exception as e:  # the visibility store refused the query (a syntax error, an unknown attribute)
        raise Invalid(("body", "query"), "invalid.visibility_query", error=str(e)) from None
    if len(lead_ids) > MAX_MIGRATED:
        raise Problem(409, "error.too_many_leads_to_migrate", limit=MAX_MIGRATED)
    await migrate_leads(client, lead_ids, policy, body.reason, actor)
    pol.record_migration(session, version, actor.user_id, now, body.reason, body.query, lead_ids)
    return MigrationView(version=version, leads=len(lead_ids), lead_ids=lead_ids[:1000])


async def migrate_leads(client, lead_ids: list[str], policy, reason: str, actor: Actor, batch: int = 50) -> None:
    signal = PolicyMigrationSignal(policy=policy, reason=reason, by=actor.user_id, role=actor.role)
    for i in range(0, len(lead_ids), batch):
        await asyncio.gather(*(client.get_workflow_handle(lead_id).signal("migrate_policy", signal)
                               for lead_id in lead_ids[i:i + batch]))


# --------------------------------------------------------------------------- the what-if simulator


class SimulationBody(BaseModel):
    version: int = Field(ge=1, description="the policy version to try (usually a draft)")
    days: float = Field(default=30, gt=0, le=366, description="the last N days, unless start/end are given")
    start: datetime | None = None
    end: datetime | None = None
    workers: int = Field(default=2, ge=1, le=8)


class SimulationView(BaseModel):
    id: str
    version: int
    status: Literal["running", "done", "failed"]
    done: int
    total: int
    started_at: datetime
    period: list[datetime]
    by: str
    error: str | None = Field(default=None, description="why it failed, in the reader's language")
    error_code: str | None = None
    report: dict[str, Any] | None = None


HEARTBEAT = timedelta(seconds=10)  # a running simulation's process says it is alive this often ...
STALE = timedelta(seconds=60)  # ... and one not heard of for this long died with its process: failed


def _save(engine, sim_id: str, **changes: Any) -> None:
    with Session(engine) as session:
        row = session.get(PolicySimulation, sim_id)
        if row is None:
            return
        for k, v in {**changes, "heartbeat_at": datetime.now(UTC)}.items():
            setattr(row, k, v)
        session.add(row)
        session.commit()


def _sim_view(row: PolicySimulation, lang: str, now: datetime) -> SimulationView:
    status, code = row.status, row.error
    if status == "running" and now - _aware(row.heartbeat_at) > STALE:  # its API process stopped mid-run
        status, code = "failed", "error.simulation_interrupted"
    return SimulationView(id=row.id, version=row.version, status=status, done=row.done, total=row.total,
                          started_at=row.started_at, period=[row.period_start, row.period_end], by=row.by,
                          error=render(code, {}, lang) if code else None, error_code=code,
                          report=readable(row.report, lang) if row.report is not None else None)


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


@router.post("/simulations", status_code=202, summary="Start a what-if simulation of a version over a period's "
             "recorded leads; read its progress and report by id", responses=responses(404))
def start_simulation(body: SimulationBody, request: Request, session: SessionDep, now: NowDep, lang: LangDep,
                     actor: OpsDep) -> SimulationView:
    """Runs in this API process's background; its progress and report are kept in the read model
    (`policy_simulation`), so any API process answers for it and it outlives a restart."""
    _seeded(request, session, now)
    row = _get(session, body.version)
    active = pol.active(session)
    end = (body.end or now).astimezone(UTC)
    start = (body.start or end - timedelta(days=body.days)).astimezone(UTC)
    if start >= end:
        raise Invalid(("body", "start"), "invalid.start_before_end")
    draft_policy, fallback = pol.policy_of(row), pol.policy_of(active) if active else request.app.state.policy
    engine = request.app.state.engine
    url = engine.url.render_as_string(hide_password=False)
    sim = PolicySimulation(id=uuid.uuid4().hex[:12], version=body.version, status="running", started_at=now,
                           period_start=start, period_end=end, by=actor.user_id, heartbeat_at=datetime.now(UTC))
    session.add(sim)
    session.commit()
    session.refresh(sim)
    sim_id, version = sim.id, str(body.version)

    def work():
        from ops.simulate import run as simulate

        stop = threading.Event()
        last = [0.0]

        def beat() -> None:
            while not stop.wait(HEARTBEAT.total_seconds()):
                _save(engine, sim_id)

        def progress(done: int, total: int) -> None:
            clock = datetime.now(UTC).timestamp()
            if clock - last[0] >= 0.5 or done >= total:  # a progress bar's worth, not a write per lead
                last[0] = clock
                _save(engine, sim_id, done=done, total=total)
        threading.Thread(target=beat, daemon=True, name=f"simulation-{sim_id}-beat").start()
        try:
            report = simulate(url, draft_policy, start, end, fallback, body.workers, progress, version)
            _save(engine, sim_id, status="done", report=report)
        except Exception as e:  # reported with the run, not lost in a thread
            log.warning("simulation failed", simulation=sim_id, error=repr(e))
            _save(engine, sim_id, status="failed", error="error.simulation_failed")
        finally:
            stop.set()

    threading.Thread(target=work, daemon=True, name=f"simulation-{sim_id}").start()
    return _sim_view(sim, lang, datetime.now(UTC))


@router.get("/simulations", summary="The latest simulations (newest first), without their reports")
def list_simulations(session: SessionDep, lang: LangDep, _: OpsDep,
                     limit: Annotated[int, Query(ge=1, le=100)] = 20) -> list[SimulationView]:
    rows = session.exec(select(PolicySimulation).order_by(col(PolicySimulation.started_at).desc()).limit(limit)).all()
    now = datetime.now(UTC)
    return [_sim_view(row, lang, now).model_copy(update={"report": None}) for row in rows]


@router.get("/simulations/{run_id}", summary="A simulation's progress, and its report when done",
            responses=responses(404))
def get_simulation(run_id: Annotated[str, Path(max_length=32)], session: SessionDep, lang: LangDep,
                   _: OpsDep) -> SimulationView:
    """The report's codes (why a lead differs, what was assumed) come with their text in the reader's language."""
    row = session.get(PolicySimulation, run_id)
    if row is None:
        raise Problem(404, "error.not_found", thing="simulation", id=run_id)
    return _sim_view(row, lang, datetime.now(UTC))
