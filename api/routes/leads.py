"""Leads: intake (single and batch), lists, detail with timeline, one endpoint per action."""

import asyncio
import json
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Body, Path, Query
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import ColumnElement, exists, func, union_all
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Mapped
from sqlmodel import Session, col, select

from api.access import lead_filter, visible_lead, visible_to
from api.deps import ActorDep, ClientDep, LangDep, NowDep, PolicyDep, SessionDep, TaskQueueDep
from api.edge import Moment
from api.errors import Problem, responses, said
from api.lapsed import lapsed_clocks
from api.schemas import (
    BatchAnswer,
    BatchItemAnswer,
    ClockView,
    CustomerView,
    HoldingView,
    IntakeAnswer,
    LeadDetail,
    LeadPage,
    LeadSummary,
    ScoreItemView,
    TimelineView,
)
from core.logging import get_logger
from db import intake_keys, referrals
from db.models import ClockRun, Dealer, HoldingRow, Lead, LeadLookup, RawLeadRow, ReferralCode, TimelineEntry, User
from db.statements import table_of
from domain import commands as c
from domain import places, search, visibility
from domain.clocks import CLOCKS
from domain.customers import InvalidPhone, customer_key, normalize_phone
from domain.lifecycle import allowed_actions
from domain.messages import CATALOG, render, render_entry
from domain.models import Actor, Channel, LeadState, RawLead
from domain.places import PlaceError
from domain.stages import DEALER_ROLES, LeadStage, Role
from workflows import gateway, lead_ids

log = get_logger("api.leads")
router = APIRouter(prefix="/v1/leads", tags=["leads"])
# not starting with a dot: "." and ".." are path segments clients collapse (another route would answer)
LeadId = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_:-][A-Za-z0-9_.:-]*$")]
INTAKE_ROLES = {Role.LEAD_OPS, Role.HEAD_OF_LEAD_OPS, Role.CALL_CENTER, Role.SYSTEM, *DEALER_ROLES}
MAX_BATCH = 1000
BATCH_CONCURRENCY = 32

# members built from CLOCKS / SORTS: mypy only reads literal ones
ClockName = StrEnum("ClockName", {name: name for name in CLOCKS})  # type: ignore[misc]
SORTS = {
    "updated_at": col(Lead.updated_at), "created_at": col(Lead.created_at), "score": col(Lead.score),
    "next_deadline": col(Lead.next_deadline), "grade": col(Lead.grade),
}
Sort = StrEnum("Sort", {k: k for k in [*SORTS, *(f"-{k}" for k in SORTS)]})  # type: ignore[misc]
DEFAULT_SORT = Sort("-updated_at")


def _may_take_in(actor: Actor) -> None:
    if actor.role not in INTAKE_ROLES:
        raise Problem(403, "error.role_only", what="submit_raw_leads", role=actor.role.value,
                      roles=sorted(r.value for r in INTAKE_ROLES))


def _placed(raw: RawLead) -> RawLead:
    """The city as its Chinese name and GB/T 2260 code (domain/places.py); an unknown place is a 422 on `city`."""
    name, code = places.placed(raw.city, raw.city_code)
    return raw.model_copy(update={"city": name, "city_code": code}) if name else raw


_LEADS = table_of(Lead).c
_KNOWN_IDS = sa.select(_LEADS.lead_id).where(_LEADS.lead_id.in_(sa.bindparam("ids", expanding=True)))  # built once


def _known_older_ids(session, raws: list[RawLead]) -> set[str] | None:
    """Which of these customers' older lead ids (older id keys, legacy) have a lead in the read model: the
    intake then needs no DescribeWorkflow per older id (workflows/lead_ids.resolve). None when the read model
    does not answer (the gateway asks Temporal instead). Ends its transaction, so the connection goes back to
    the pool before the Temporal wait."""
    older = sorted({i for raw in raws for i in lead_ids.older_ids(raw.brand, raw.phone)})
    try:
        found = set(session.connection().execute(_KNOWN_IDS, {"ids": older}).scalars()) if older else set()
    except SQLAlchemyError as err:
        log.warning("read model did not answer the older lead ids; asking Temporal", error=type(err).__name__)
        found = None
    session.rollback()
    return found


def _attribution(session: Session, code: ReferralCode | None, raw: RawLead,
                 now: datetime) -> Callable[[c.IntakeResult], None] | None:
    """Issue 17: what credits the referrer of a lead taken in with this code, whoever holds the lead; None without
    a code."""
    if code is None:
        return None

    def attribute(result: c.IntakeResult) -> None:
        referrals.attribute(session, code, result.lead_id, customer_key(raw.phone), now)
    return attribute


async def _take_in(client, task_queue: str, policy, raw: RawLead, actor: Actor,
                   known_ids: set[str] | None = None,
                   taken: Callable[[c.IntakeResult], None] | None = None) -> IntakeAnswer:
    if actor.role in DEALER_ROLES:  # entered on the dealer's portal: the dealer is the preferred one
        raw = raw.model_copy(update={"preferred_dealer_id": actor.dealer_id})
    result = await gateway.submit_raw_lead(client, task_queue, policy, raw, actor, known_ids)
    if taken is not None and not result.repeat:  # issue 17: a referral is attributed to the lead it reached
        taken(result)
    if not visible_to(actor, result):
        # taken in, but not a lead this caller may see (merged into a lead another dealer holds, dispatched
        # elsewhere, sent to cleansing): one answer for all, so it tells nothing about who follows the customer
        return IntakeAnswer(lead_id=None, outcome="accepted", stage=None, repeat=result.repeat)
    return IntakeAnswer.model_validate(result.model_dump())


@router.post("", response_model=IntakeAnswer, status_code=200, responses=responses(403, 409, 503))
async def take_in_raw_lead(raw: RawLead, actor: ActorDep, session: SessionDep, client: ClientDep, policy: PolicyDep,
                           task_queue: TaskQueueDep, now: NowDep):
    """One raw lead from any channel. Answers the lead id (= workflow id) and whether it was created or merged.
    The same channel and external id again gets the same answer and changes nothing; the same channel and
    external id with other content is refused (409, `kind: external_id_reused`, `field: external_id`) and
    creates nothing. A dealer's people get `outcome: accepted` and no lead id when the customer's lead is not
    theirs to see."""
    _may_take_in(actor)
    raw = _placed(raw.model_copy(update={"phone": normalize_phone(raw.phone)}))  # InvalidPhone, PlaceError: 422
    code = None
    if raw.referral_code:  # issue 17: unknown 422, expired or the customer's own 409; nothing claimed or created
        code = referrals.check(session, raw.referral_code, customer_key(raw.phone), now)
        raw = raw.model_copy(update={"referral_code": code.code, "channel": Channel.REFERRAL})
    claimed = await asyncio.to_thread(intake_keys.take, session, raw)
    known = await asyncio.to_thread(_known_older_ids, session, [raw])
    try:
        return await _take_in(client, task_queue, policy, raw, actor, known, _attribution(session, code, raw, now))
    except gateway.ActionRefused:
        if claimed:  # refused: nothing was created, so the id is free for the corrected submission
            await asyncio.to_thread(intake_keys.release, session, raw)
        raise


class Batch(BaseModel):
    items: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_BATCH,
                                        description=f"1 to {MAX_BATCH} raw leads; each is validated on its own")


@router.post("/batch", response_model=BatchAnswer, responses=responses(403))
async def take_in_batch(batch: Batch, actor: ActorDep, session: SessionDep, client: ClientDep, policy: PolicyDep,
                        task_queue: TaskQueueDep, now: NowDep, lang: LangDep):
    """Up to 1,000 raw leads in one request, answered item by item (`index` is the item's position).

    One customer's items (same phone and brand) are taken one after another in the batch's order, so the
    first of them creates the lead and the later ones merge into it; other customers' items run alongside.
    A bad item (`invalid`, with the fields at fault) or one the engine refuses (`refused`) does not stop the
    others. `error` means the engine could not be reached for that item: sending the batch again is safe,
    as every item is idempotent on its channel and external id. `conflict`: the item's channel and external id
    came before with other content (in an earlier request or earlier in this batch); nothing was created."""
    _may_take_in(actor)
    gate = asyncio.Semaphore(BATCH_CONCURRENCY)
    results: list[BatchItemAnswer | None] = [None] * len(batch.items)
    same_customer: dict[str, list[tuple[int, RawLead]]] = {}
    codes: dict[int, ReferralCode] = {}  # index -> the referral code the item carries (issue 17)
    for index, item in enumerate(batch.items):
        try:
            raw = RawLead.model_validate_json(json.dumps(item), strict=True)  # JSON's own types, as POST /v1/leads
            phone = normalize_phone(raw.phone)
            raw = _placed(raw.model_copy(update={"phone": phone}))
            if raw.referral_code:
                codes[index] = referrals.check(session, raw.referral_code, customer_key(phone), now)
                raw = raw.model_copy(update={"referral_code": codes[index].code, "channel": Channel.REFERRAL})
        except RequestValidationError as err:
            results[index] = BatchItemAnswer(index=index, status="invalid", errors=[
                said(dict(e) | {"loc": list(e["loc"])[1:]}, lang) for e in err.errors()])
            continue
        except referrals.ReferralRefused as refused:
            results[index] = BatchItemAnswer(index=index, status="refused", errors=[
                said({"loc": ["referral_code"], "error": refused, "kind": refused.kind}, lang)])
            continue
        except ValidationError as err:
            results[index] = BatchItemAnswer(index=index, status="invalid", errors=[
                said(dict(e), lang) for e in err.errors(include_url=False, include_input=False)])
        except InvalidPhone as err:
            results[index] = BatchItemAnswer(index=index, status="invalid",
                                             errors=[said({"loc": ["phone"], "error": err}, lang)])
        except PlaceError as err:
            results[index] = BatchItemAnswer(index=index, status="invalid",
                                             errors=[said({"loc": ["city"], "error": err}, lang)])
        else:
            # claimed in the batch's order, so of two items with one external id the first one wins
            if await asyncio.to_thread(intake_keys.claim, session, raw) == "reused":
                results[index] = BatchItemAnswer(index=index, status="conflict", errors=[
                    said({"loc": ["external_id"], "error": intake_keys.ExternalIdReused(raw.channel.value),
                          "kind": "external_id_reused"}, lang)])
                continue
            same_customer.setdefault(customer_key(phone) + "|" + " ".join(raw.brand.split()).casefold(), []).append(
                (index, raw))

    known = await asyncio.to_thread(_known_older_ids, session, [raw for items in same_customer.values()
                                                                for _, raw in items])

    async def one(index: int, raw: RawLead) -> BatchItemAnswer:
        try:
            answer = await _take_in(client, task_queue, policy, raw, actor, known,
                                    _attribution(session, codes.get(index), raw, now))
        except gateway.ActionRefused as refused:
            return BatchItemAnswer(index=index, status="refused", errors=[
                said({"code": refused.code, "params": refused.params} if refused.code in CATALOG
                     else {"code": "error.http.409"}, lang)])
        except Exception as err:  # noqa: BLE001 - one item's failure is that item's answer
            log.warning("batch item failed", index=index, error=repr(err))
            return BatchItemAnswer(index=index, status="error",
                                   errors=[said({"code": "error.engine_unavailable"}, lang)])
        return BatchItemAnswer(index=index, status=answer.outcome, lead_id=answer.lead_id, stage=answer.stage,
                               dealer_id=answer.dealer_id, repeat=answer.repeat)

    async def in_order(items: list[tuple[int, RawLead]]) -> None:
        # one customer's items one after another, in the batch's order: the first one creates the lead
        async with gate:
            for index, raw in items:
                results[index] = await one(index, raw)

    await asyncio.gather(*(in_order(items) for items in same_customer.values()))
    answers = [r for r in results if r is not None]  # every item has its answer by now
    return BatchAnswer(results=answers, counts=dict(Counter(r.status for r in answers)))


@router.get("", response_model=LeadPage)
def list_leads(
    actor: ActorDep, session: SessionDep,
    q: Annotated[str | None, Query(max_length=search.MAX_QUERY, description="find a customer: a name (its beginning), "
                                   "a phone in any format (the whole number or its last 4 digits), a lead id or an "
                                   "external id")] = None,
    stage: Annotated[list[LeadStage] | None, Query(description="one or more stages")] = None,
    grade: Annotated[list[str] | None, Query(max_length=8)] = None,
    dealer_id: Annotated[str | None, Query(max_length=64)] = None,
    region: Annotated[str | None, Query(max_length=64)] = None,
    series: Annotated[str | None, Query(max_length=64)] = None,
    channel: Channel | None = None,
    brand: Annotated[str | None, Query(max_length=64)] = None,
    consultant_id: Annotated[str | None, Query(max_length=64)] = None,
    sla_breached: bool | None = None,
    breached_clock: Annotated[ClockName | None, Query(description="leads on which this clock has lapsed")] = None,
    created_from: Annotated[Moment | None, Query(
        description="created at or after; without an offset: Asia/Shanghai")] = None,
    created_to: Annotated[Moment | None, Query(description="created before; without an offset: Asia/Shanghai")] = None,
    sort: Annotated[Sort, Query(
        description="a field, `-` first for descending; next_deadline = most urgent first")] = DEFAULT_SORT,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
):
    """The leads the caller may see, filtered, sorted and paginated (a dealer's people: their dealer's only)."""
    where = [lead_filter(actor)]
    if q is not None and (wanted := search.parse(q)) is not None:
        where.append(col(Lead.lead_id).in_(_found(wanted)))
    for column, value in ((col(Lead.dealer_id), dealer_id), (col(Lead.region), region), (col(Lead.series), series),
                          (col(Lead.channel), channel), (col(Lead.brand), brand),
                          (col(Lead.consultant_id), consultant_id), (col(Lead.sla_breached), sla_breached)):
        if value is not None:
            where.append(column == (value.value if isinstance(value, StrEnum) else value))
    if stage:
        where.append(col(Lead.stage).in_([s.value for s in stage]))
    if grade:
        where.append(col(Lead.grade).in_(grade))
    if breached_clock is not None:
        where.append(exists().where(col(ClockRun.lead_id) == Lead.lead_id, col(ClockRun.clock) == breached_clock.value,
                                    col(ClockRun.outcome) == "lapsed"))
    if created_from is not None:
        where.append(col(Lead.created_at) >= created_from)
    if created_to is not None:
        where.append(col(Lead.created_at) < created_to)
    total = session.exec(select(func.count()).select_from(Lead).where(*where)).one()
    key = sort.value.lstrip("-")
    by = SORTS[key]
    order: list[ColumnElement[Any] | Mapped[Any]] = [by.is_(None),
                                                     by.desc() if sort.value.startswith("-") else by.asc(),
                                                     col(Lead.lead_id)]
    rows = session.exec(select(Lead).where(*where).order_by(*order).offset(offset).limit(limit)).all()
    return LeadPage(items=[LeadSummary.of(r) for r in rows], total=total, limit=limit, offset=offset,
                    next_offset=offset + limit if offset + limit < total else None)


def _like_prefix(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _found(wanted: search.Search):
    """The ids of the leads a search matches, each way on an index (never the phone in clear)."""
    ways = [select(Lead.lead_id).where(Lead.lead_id == wanted.text),
            select(RawLeadRow.lead_id).where(RawLeadRow.external_id == wanted.text)]
    if wanted.customer_key:
        ways.append(select(Lead.lead_id).where(Lead.customer_key == wanted.customer_key))
    if wanted.phone4:
        ways.append(select(LeadLookup.lead_id).where(LeadLookup.kind == "phone4", LeadLookup.value == wanted.phone4))
    if wanted.name_prefix:
        ways.append(select(LeadLookup.lead_id).where(
            LeadLookup.kind == "name", col(LeadLookup.value).like(_like_prefix(wanted.name_prefix), escape="\\")))
    return union_all(*ways)


@router.get("/{lead_id}", response_model=LeadDetail, responses=responses(404))
def lead_detail(lead_id: LeadId, actor: ActorDep, session: SessionDep, lang: LangDep):
    """Everything about one lead: customer, score explanation, open clocks, holdings, the whole timeline,
    and the actions the caller may take now."""
    lead = visible_lead(session, actor, lead_id)
    state = LeadState.model_validate(
        {k: v for k, v in lead.detail.items() if k != "phone_masked"}
        | {"clocks": {c["name"]: c for c in lead.clocks}, "score_items": lead.score_items})
    entries = session.exec(select(TimelineEntry).where(col(TimelineEntry.lead_id) == lead_id)
                           .order_by(col(TimelineEntry.seq))).all()
    rows = session.exec(select(HoldingRow).where(col(HoldingRow.lead_id) == lead_id)
                        .order_by(col(HoldingRow.started_at))).all()
    # what of it the caller may see: one place decides (domain/visibility.py)
    everything = [TimelineView.model_validate(e, from_attributes=True).model_dump() for e in entries]
    timeline = [v for e in everything if (v := visibility.timeline_entry(actor.role, actor.dealer_id, e)) is not None]
    holdings = visibility.holdings(actor.role, actor.dealer_id,
                                   [HoldingView.model_validate(h, from_attributes=True).model_dump() for h in rows],
                                   everything, lang=lang)
    dispatches = iter([e for e in timeline if e["kind"] == "dispatched"])  # the i-th dispatch started the i-th holding
    for h in holdings if visibility.sees_everything(actor.role) else []:  # the OEM: the explanation from its code
        e = next(dispatches, None)
        if e is not None and (e["data"] or {}).get("reason_code") in CATALOG:
            h["dispatch_reason"] = render(e["data"]["reason_code"], e["data"].get("reason_params") or {}, lang)
    p = state.profile
    ids = {e["actor"] for e in timeline} | {lead.consultant_id}
    ids |= {(e["data"] or {}).get("consultant_id") for e in timeline}
    names = {u.id: u.name for u in session.exec(select(User).where(col(User.id).in_([i for i in ids if i]))).all()}
    for i, e in enumerate(timeline):  # one sentence each; a lapse names whom the alert decided with it told
        e["text"] = render_entry(e, lang, names=names, consultant_id=lead.consultant_id,
                                 following=[x for x in timeline[i + 1:i + 6] if x["at"] == e["at"]])
    dealer = session.get(Dealer, lead.dealer_id) if lead.dealer_id else None
    return LeadDetail(
        **LeadSummary.of(lead).model_dump(),
        workflow_id=lead.workflow_id, furthest_stage=lead.furthest_stage,
        dealer_name=dealer.name if dealer else None, consultant_name=names.get(lead.consultant_id or ""),
        customer=CustomerView(name=p.customer_name, phone=p.phone, city=p.city, series=p.series, model=p.model,
                              budget=p.budget, timeframe=p.timeframe.value, wechat_id=getattr(p, "wechat_id", None),
                              referral_code=p.referral_code),
        score_items=[ScoreItemView(**i.model_dump(), text=render(i.code, i.params, lang) if i.code else i.reason)
                     for i in state.score_items],
        clocks=lapsed_clocks(session, [lead]).get(lead.lead_id, []) + [
            ClockView(name=k.name, title=CLOCKS[k.name].title, started_at=k.started_at, deadline=k.deadline,
                      paused=k.paused_remaining_s is not None) for k in state.clocks.values()],
        dispatch=visibility.own_dispatch(actor.role, actor.dealer_id, everything),
        holdings=[HoldingView.model_validate(h) for h in holdings],
        timeline=[TimelineView.model_validate(e) for e in timeline],
        allowed_actions=allowed_actions(state, actor),
    )


async def _knows(client, lead_id: str, actor: Actor) -> bool:
    """May this dealer-side caller learn anything about the lead (even why an action is refused)?"""
    try:
        state = await gateway.current_state(client, lead_id)
    except gateway.LeadNotFound:
        return False
    return visible_to(actor, state) or visibility.was_judged(actor.dealer_id, state)


async def _act(client, lead_id: str, actor: Actor, command) -> c.ActionResult:
    try:
        result = await gateway.act(client, lead_id, c.CommandEnvelope(actor=actor, command=command))
    except gateway.ActionRefused as refused:
        # a dealer-side caller refused on a lead it may not see learns exactly what an unknown lead answers
        # (except the consultant whose claim lost to a colleague's: the lead was in their own dealer's pool)
        if actor.role in DEALER_ROLES and refused.kind != "claimed" and not await _knows(client, lead_id, actor):
            raise gateway.LeadNotFound(lead_id) from None
        raise
    if not visible_to(actor, result):
        # e.g. an appeal by the judged dealer, or a transfer that took the lead away: nothing of where it is now
        return result.model_copy(update={"stage": None, "dealer_id": None, "consultant_id": None,
                                         "message": f"{command.action} done"})
    return result


def _action_route(name: str, model: type[BaseModel]) -> Callable[..., Awaitable[c.ActionResult]]:
    # `model` is a class chosen at run time (one route per command): FastAPI reads it, mypy cannot
    async def with_body(lead_id: LeadId, actor: ActorDep, client: ClientDep,
                        command: Annotated[model, Body()]) -> c.ActionResult:  # type: ignore[valid-type]
        return await _act(client, lead_id, actor, command)

    # nothing to say (e.g. acknowledge): the body may be left out
    async def body_optional(lead_id: LeadId, actor: ActorDep, client: ClientDep,
                            command: Annotated[model | None, Body()] = None  # type: ignore[valid-type]
                            ) -> c.ActionResult:
        return await _act(client, lead_id, actor, command or model())

    perform = with_body if any(f.is_required() for f in model.model_fields.values()) else body_optional
    perform.__name__ = name
    perform.__doc__ = (model.__doc__ or name.replace("_", " ")).strip()
    return perform


for _name, _model in c.COMMAND_TYPES.items():
    router.add_api_route(
        f"/{{lead_id}}/{_name.replace('_', '-')}", _action_route(_name, _model), methods=["POST"],
        response_model=c.ActionResult, name=_name, summary=_name.replace("_", " "),
        responses=responses(403, 404, 409, 503),
    )
