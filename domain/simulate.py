"""The what-if simulator (issue 16): a lead's recorded facts through the same pure decider, under another policy.

Pure: no Temporal, no database, no clock reads. The workflow records the *facts* it gave the decider
(`LeadFact` rows, written with the timeline by the projection): every intake and behaviour event, every person's
action and ops signal with its time, and every answer of the lead's reads (score, dispatch, consultant pick,
working-day deadline). `simulate_lead()` replays them the way `workflows/lead.py` runs a lead: decide, carry out the
effects at once (each read answered by the next recorded answer of its kind), and lapse every clock whose deadline
comes before the next fact. Under the policy the lead ran with, that reproduces what happened (the oracle test).

Under a draft, what the draft changes is decided again:
- scoring: the recorded items are re-weighted with the draft's points and graded with its thresholds;
- dispatch: the recorded candidates (with their factor scores, the dealer network as it was then) are ranked
  again with the draft's weights, skipping dealers that held the lead;
- clocks: deadlines come from the draft's durations, so clocks lapse earlier or later.

People act at their recorded times. Where the draft asks for something nobody recorded (a re-dispatch after a lapse
that did not happen, a consultant pick), the answer is made from what was recorded (the next candidate; no
consultant) and counted as an *assumption*; a recorded action the draft's lead no longer allows (the dealer it was
taken away from acknowledges) is skipped and counted. Assumptions are stated in the report, never taken as facts.

Speed: the state is built once per lead and each step copies it shallowly (`_SimState`), since nothing keeps the
previous state; the facts arrive as plain dicts and are turned into models only when the decider needs them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Self, TypeVar

from pydantic import BaseModel

from domain import commands as c
from domain import lifecycle as lc
from domain.messages import CATALOG, render
from domain.models import (
    Actor,
    BehaviourEvent,
    ConsultantResult,
    DispatchResult,
    LeadState,
    RawLead,
    ScoreItem,
    ScoreResult,
)
from domain.policy import Policy
from domain.scoring import grade_for
from domain.stages import FUNNEL, funnel_rank

# Timeline events that put something in front of a reviewer (the review queues' work).
REVIEW_EVENTS = frozenset({"transfer_requested", "defeat_submitted", "appeal_filed", "cancel_requested"})
# What an outcome counts (`_Run._commit`): every other event kind passes by.
_COUNTED = frozenset({"clock_lapsed", "penalty_recorded", "dispatched", "alert_raised"}) | REVIEW_EVENTS
READS = ("scored", "dispatched", "deadline", "consultant")
READ_SLACK = timedelta(minutes=1)
M = TypeVar("M", bound=BaseModel)


# --------------------------------------------------------------------------- recording (called by the workflow)


def fact(kind: str, at: datetime, **data: Any) -> dict[str, Any]:
    """A fact as the workflow records it: plain JSON (models dumped), with its time."""
    return {"kind": kind, "at": at.isoformat(), "data": {k: _plain(v) for k, v in data.items()}}


def _plain(v: Any) -> Any:
    if isinstance(v, RawLead):  # which fields were given matters (a merge takes only those)
        return v.model_dump(mode="json", exclude_unset=True)
    if hasattr(v, "model_dump"):
        return v.model_dump(mode="json")
    if isinstance(v, datetime):
        return v.isoformat()
    if isinstance(v, list):
        return [_plain(x) for x in v]
    return v


# --------------------------------------------------------------------------- the lean state


class _SimState(LeadState):
    """A LeadState whose copies are shallow: the simulator keeps no previous state, so the decider's defensive deep
    copy per step (the ~650 s of the first attempt) is not needed."""

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:  # noqa: D102
        if update:
            return super().model_copy(update=update, deep=False)
        copy = _new(type(self))  # what pydantic's shallow copy does, without its generic bookkeeping
        values = self.__dict__.copy()
        values["recent"] = values["recent"].copy()  # (`emit` appends in place: a refused step leaves this one's)
        _set(copy, "__dict__", values)
        _set(copy, "__pydantic_fields_set__", self.__pydantic_fields_set__)  # (shared: only a dump reads it)
        _set(copy, "__pydantic_extra__", None)
        _set(copy, "__pydantic_private__", None)
        return copy


_new, _set = object.__new__, object.__setattr__


_STATE_FIELDS = frozenset(LeadState.model_fields)
# plain attribute writes (into __dict__): no pydantic bookkeeping per write
_SimState.__setattr__ = object.__setattr__  # type: ignore[method-assign]  # replaced on purpose, for speed (above)

# The models the decider builds for every step (events, clocks, alerts, holdings) from values that are valid already.
_FAST = ("TimelineEvent", "ClockState", "ClockEnd", "NotifyRequest", "NotifyEffect", "Holding", "DefeatCase",
         "AppealCase", "TransferRequest")


# The effects the simulator tells apart by class: built unchecked, still instances of their class.
_UNCHECKED = ("ScoreEffect", "DispatchEffect", "DeadlineEffect", "AssignEffect")


def fast_decider() -> None:
    """In a simulator process only (never in the API or the worker): the decider's modules build those models
    without validation (the same values): plain stand-ins for `_FAST`, unchecked subclasses for the effects, and a
    new lead's state as a `_SimState`. Called by `ops.simulate`'s worker processes."""
    import sys

    unchecked: dict[type, type] = {}
    for name, module in list(sys.modules.items()):
        if name != "domain.lifecycle" and not name.startswith("domain.lifecycle."):
            continue
        for cls_name in _FAST:
            cls = getattr(module, cls_name, None)
            if isinstance(cls, type) and issubclass(cls, BaseModel):
                setattr(module, cls_name, _plain_class(cls))
        for cls_name in _UNCHECKED:
            cls = getattr(module, cls_name, None)
            if isinstance(cls, type) and issubclass(cls, BaseModel) and name != "domain.lifecycle.effects" \
                    and name != "domain.lifecycle":  # (those two keep the class the simulator checks against)
                if cls not in unchecked:
                    unchecked[cls] = _unchecked(cls)
                setattr(module, cls_name, unchecked[cls])
        if name == "domain.lifecycle.intake":
            module.LeadState = _new_state  # type: ignore[attr-defined]  # (start_lead's constructor, above)


def _new_state(**values: Any) -> _SimState:
    """`LeadState(...)` in `start_lead`, built without validation as a `_SimState` (the values are the decider's):
    the defaults, each mutable one a fresh copy, then the values."""
    d = dict(_STATE_DEFAULTS)
    for n in _STATE_MUTABLE:
        d[n] = d[n].copy()  # (a list, dict or set; or a model of plain values, e.g. the behaviour counts: a copy)
    for n in _STATE_MODELS:
        d[n] = d[n].model_copy()
    d.update(values)
    state = _new(_SimState)
    _set(state, "__dict__", d)
    _set(state, "__pydantic_fields_set__", set(values))
    _set(state, "__pydantic_extra__", None)
    _set(state, "__pydantic_private__", None)
    return state


_STATE_DEFAULTS = {n: f.get_default(call_default_factory=True) for n, f in LeadState.model_fields.items()
                   if not f.is_required()}
_STATE_MUTABLE = [n for n, v in _STATE_DEFAULTS.items() if isinstance(v, (list, dict, set))]
_STATE_MODELS = [n for n, v in _STATE_DEFAULTS.items() if isinstance(v, BaseModel)]
# a shallow copy of those is a fresh one: their values are plain (numbers, strings)
assert all(isinstance(x, (int, float, str, bool, type(None))) for n in _STATE_MODELS
           for x in _STATE_DEFAULTS[n].__dict__.values())


def _unchecked(cls: type[M]) -> type[M]:
    """A subclass of `cls` whose constructor takes the values as given: `isinstance(x, cls)` holds, nothing is
    validated (for values that are valid already: the decider's own, or the simulator's). A mutable default is
    copied."""
    defaults = {n: f.get_default(call_default_factory=True) for n, f in cls.model_fields.items() if not f.is_required()}
    mutable = [n for n, v in defaults.items() if isinstance(v, (list, dict, set))]

    def __init__(self: Any, **kw: Any) -> None:
        d = dict(defaults)
        d.update(kw)
        for n in mutable:
            if n not in kw:
                d[n] = d[n].copy()
        _set(self, "__dict__", d)
        _set(self, "__pydantic_fields_set__", set(kw))
        _set(self, "__pydantic_extra__", None)
        _set(self, "__pydantic_private__", None)

    return type(f"Unchecked{cls.__name__}", (cls,), {"__init__": __init__})


# A policy (by id, kept alive here) -> a recorded score item (name, dimension, points, max, reason) -> that item
# re-weighted under the policy's points, or None where the policy gives the item none.
_REWEIGHTED: dict[int, tuple[Policy, dict[tuple[Any, ...], ScoreItem | None]]] = {}

# What the simulator builds itself, from values it computed (a re-scoring, a re-ranked dispatch).
_ScoreItem, _ScoreResult, _DispatchResult = _unchecked(ScoreItem), _unchecked(ScoreResult), _unchecked(DispatchResult)


def _plain_class(cls: type[BaseModel]) -> type:
    """A stand-in for a pydantic model: the same fields, defaults and properties, as a plain object. Its constructor
    is generated (keyword arguments, one attribute store each; a mutable default copied), the fastest Python has."""
    params, body, namespace = [], [], {"_MISSING": _MISSING, "_copy": _copy}
    for n, f in cls.model_fields.items():
        if f.is_required():
            params.append(n)
            body.append(f"self.{n} = {n}")
            continue
        default = namespace[f"_d_{n}"] = f.get_default(call_default_factory=True)
        if isinstance(default, (list, dict, set)):
            params.append(f"{n}=_MISSING")
            body.append(f"self.{n} = _copy(_d_{n}) if {n} is _MISSING else {n}")
        else:
            params.append(f"{n}=_d_{n}")
            body.append(f"self.{n} = {n}")
    exec(f"def __init__(self, *, {', '.join(params)}):\n    " + "\n    ".join(body), namespace)  # noqa: S102
    props = {n: v for n, v in vars(cls).items() if isinstance(v, property)}
    return type(f"Sim{cls.__name__}", (), {"__init__": namespace["__init__"], **props})


_MISSING = object()


def _copy(value: Any) -> Any:
    return value.copy()


def _lean(state: LeadState) -> _SimState:
    if isinstance(state, _SimState):  # (built so by `fast_decider`'s start_lead)
        return state
    return _SimState.model_construct(_fields_set=state.model_fields_set, **state.__dict__)


# --------------------------------------------------------------------------- one lead


@dataclass
class Outcome:
    """What one lead came to under one policy."""

    lead_id: str
    stage: str = "new"
    furthest: str = "new"
    grade: str | None = None
    dealers: list[str] = field(default_factory=list)  # dispatches in order
    lapses: Counter[str] = field(default_factory=Counter)  # clock -> lapses
    penalties: Counter[str] = field(default_factory=Counter)  # dealer -> penalties
    reviews: int = 0
    alerts: int = 0
    assumptions: Counter[str] = field(default_factory=Counter)  # kind -> count

    def key(self) -> tuple[Any, ...]:
        return (self.stage, self.furthest, self.grade, tuple(self.dealers), tuple(sorted(self.lapses.items())),
                tuple(sorted(self.penalties.items())), self.reviews)

    def to_json(self) -> dict[str, Any]:
        return {"stage": self.stage, "furthest_stage": self.furthest, "grade": self.grade, "dealers": self.dealers,
                "lapses": dict(self.lapses), "penalties": dict(self.penalties), "reviews": self.reviews,
                "alerts": self.alerts, "assumptions": dict(self.assumptions)}


class _Run:
    def __init__(self, lead_id: str, facts: list[dict[str, Any]], policy: Policy, changed: frozenset[str],
                 until: datetime | None):
        self.lead_id, self.facts, self.policy, self.changed, self.until = lead_id, facts, policy, changed, until
        self.i = 0
        self.state: LeadState | None = None
        self.out = Outcome(lead_id)
        self.last_candidates: list[dict[str, Any]] = []
        self.last_score: dict[str, Any] | None = None
        self.weighted: dict[int, float] = {}  # a recorded candidate (by id) -> its total under this policy's weights

    def _live(self) -> LeadState:
        """The state, for what runs once the lead's intake started it (every caller but `run` and `_apply`)."""
        if self.state is None:
            raise RuntimeError(f"lead {self.lead_id}: its state was read before its intake")
        return self.state

    # -- the workflow's loop
    def run(self) -> Outcome:
        facts = self.facts
        while self.i < len(facts):
            here = self.i
            f = facts[here]
            at = _at(f)
            if self.state is not None:
                self._lapse_until(at)  # a lapse's effects may take this very fact (the re-dispatch's answer)
                if self.i != here:
                    continue
            self.i += 1
            self._apply(f, at)
        if self.state is not None and self.until is not None:
            self._lapse_until(self.until)
        s = self.state
        if s is not None:
            self.out.stage, self.out.furthest, self.out.grade = s.stage.value, s.furthest_stage.value, s.grade
        return self.out

    def _lapse_until(self, at: datetime) -> None:
        while True:
            state = self._live()
            due = lc.earliest_due(state, at)
            if due is None or lc.is_finished(state):
                return
            deadline, names = due
            for name in names:
                state = self._live()  # (each lapse commits a new state)
                if lc.is_due(state, name, deadline):
                    self._commit(lc.lapse(state, name, self.policy, deadline))

    def _commit(self, t: lc.Transition) -> None:
        self.state = t.state
        out = self.out
        for e in t.events:
            kind = e.kind
            if kind not in _COUNTED:
                continue
            if kind == "clock_lapsed":
                out.lapses[e.data["clock"]] += 1
            elif kind == "penalty_recorded":
                out.penalties[e.data["penalized_dealer_id"]] += 1
            elif kind == "dispatched" and e.dealer_id is not None:  # (a dispatched event names its dealer)
                out.dealers.append(e.dealer_id)
            elif kind == "alert_raised":
                out.alerts += 1
            elif kind in REVIEW_EVENTS:
                out.reviews += 1
        for effect in t.effects:
            self._carry_out(effect)

    def _assume(self, kind: str) -> None:
        self.out.assumptions[kind] += 1

    def _next_read(self, kind: str, clock: str | None = None) -> dict[str, Any] | None:
        """The next recorded answer of this kind, if it is the next fact and was given at the moment the simulated
        lead asks (the workflow asks at once; a minute covers its latency): reality asked the same question then."""
        if self.i < len(self.facts):
            f = self.facts[self.i]
            if f["kind"] == kind and (clock is None or f["data"].get("clock") == clock) \
                    and abs(_at(f) - self._live().updated_at) <= READ_SLACK:
                self.i += 1
                return f
        return None

    # -- effects: the recorded answers, decided again where the draft changes them
    def _carry_out(self, effect: lc.Effect) -> None:
        s, p = self._live(), self.policy
        if isinstance(effect, lc.ScoreEffect):
            f = self._next_read("scored")
            if f is None:
                if self.last_score is None:
                    return self._assume("score_not_recorded")
                self._assume("score_reused")
                raw, at = self.last_score, s.updated_at
            else:
                raw, at = f["data"]["result"], _at(f)
                self.last_score = raw
            scored = _model(f, "result", ScoreResult) if f is not None and "scoring" not in self.changed \
                else self._score(raw)
            self._commit(lc.on_scored(s, scored, effect.then, p, at))
        elif isinstance(effect, lc.DispatchEffect):
            f = self._next_read("dispatched")
            at = _at(f) if f is not None else s.updated_at
            dispatched = self._dispatch(f, effect)
            self._commit(lc.on_dispatched(s, dispatched, p, at))
        elif isinstance(effect, lc.DeadlineEffect):
            f = self._next_read("deadline", effect.clock)
            if f is not None and "working_days" not in self.changed:
                deadline, at = datetime.fromisoformat(f["data"]["deadline"]), _at(f)
            else:  # not recorded, or the draft counts other working days: calendar days (an assumption)
                self._assume("working_day_deadline_estimated")
                deadline, at = effect.started_at + timedelta(days=effect.working_days * 7 / 5), s.updated_at
            self._commit(lc.on_deadline(s, effect.clock, effect.started_at, deadline, p, at))
        elif isinstance(effect, lc.AssignEffect):
            f = self._next_read("consultant")
            if f is None:
                self._assume("consultant_pick_not_recorded")
                picked, at = ConsultantResult(consultant_id=None, reason="not recorded"), s.updated_at
            else:
                picked, at = _model(f, "result", ConsultantResult), _at(f)
            self._commit(lc.on_consultant_picked(s, picked, p, at))
        # NotifyEffect: an alert or message; counted from the events

    def _score(self, raw: dict[str, Any]) -> ScoreResult:
        if "scoring" not in self.changed:
            return ScoreResult.model_validate(raw)
        items_points = self.policy.scoring.items
        # a recorded item re-weighted: the same for every lead with that item (the decider never changes one)
        known = _REWEIGHTED.setdefault(id(self.policy), (self.policy, {}))[1]
        items, total, got = [], 0.0, 0.0
        for item in raw.get("items", []):
            key = (item["name"], item["dimension"], item.get("points", 0.0), item.get("max_points"),
                   item.get("reason", ""))
            if key not in known:
                old_max = item.get("max_points") or 0.0
                fraction = (item.get("points", 0.0) / old_max) if old_max else 0.0
                new_max = max(0.0, float(items_points.get(item["name"], 0.0)))
                known[key] = _ScoreItem(name=item["name"], dimension=item["dimension"],
                                        points=min(new_max, round(new_max * fraction, 2)), max_points=new_max,
                                        reason=item.get("reason", "")) if new_max else None
            made = known[key]
            if made is None:  # (the draft gives the item no points: it is left out)
                continue
            total, got = total + made.max_points, got + made.points
            items.append(made)
        score = min(100.0, max(0.0, round(100 * got / total, 1))) if total else 0.0
        grade = grade_for(score, self.policy.scoring.thresholds)
        return _ScoreResult(score=score, grade=grade, items=items, region=raw.get("region"),
                            complete=raw.get("complete", True), missing=raw.get("missing", []))

    def _dispatch(self, f: dict[str, Any] | None, effect: lc.DispatchEffect) -> DispatchResult:
        raw: dict[str, Any] | None = None
        held = set(self._live().held_by)
        if f is not None:
            raw = f["data"]["result"]
            self.last_candidates = raw.get("candidates", []) or self.last_candidates
            if "dispatch" not in self.changed and raw.get("dealer_id") not in held:
                return _recorded_dispatch(f)
        else:
            self._assume("dispatch_from_recorded_candidates")
        weights = self.policy.dispatch.weights
        pool = [cand for cand in self.last_candidates if cand["dealer_id"] not in held]
        if effect.forced_dealer_id:
            pool = [cand for cand in pool if cand["dealer_id"] == effect.forced_dealer_id] or pool
        if not pool:
            return _DispatchResult(dealer_id=None, reason="no recorded candidate left (simulated)")
        weight = weights.get
        totals = self.weighted  # (a draft re-ranks the same recorded candidates at every re-dispatch)
        for cand in pool:
            if id(cand) not in totals:  # (the candidates live as long as the run: their facts hold them)
                totals[id(cand)] = round(sum([weight(k, 0.0) * v for k, v in cand["factors"].items()]), 4)
        win = min(pool, key=lambda cand: (-totals[id(cand)], cand["dealer_id"]))
        template = raw or {}
        if raw is not None and win["dealer_id"] != raw.get("dealer_id"):
            self._assume("dealer_attributes_from_recorded_dispatch")
        return _DispatchResult(dealer_id=win["dealer_id"], dealer_name=win.get("dealer_name"),
                               region=template.get("region"), choice_right=template.get("choice_right", False),
                               competitive_region=template.get("competitive_region", False),
                               auto_assign=template.get("auto_assign", False),
                               reason="simulated: top score under the draft's weights")

    # -- the recorded inputs
    def _apply(self, f: dict[str, Any], at: datetime) -> None:
        kind, d, s, p = f["kind"], f["data"], self.state, self.policy
        if kind == "intake":
            raw, actor = _model(f, "raw", RawLead), _model(f, "actor", Actor)
            if s is None:
                t = lc.start_lead(self.lead_id, d.get("customer_key", ""), raw, p, at, actor,
                                  previous_lead_id=d.get("previous_lead_id"))
                t.state = _lean(t.state)
                return self._commit(t)
            try:
                return self._commit(lc.merge_raw_lead(s, raw, p, at, actor))
            except lc.Refused:
                return self._assume("recorded_intake_refused")
        if s is None:
            return self._assume("fact_before_intake")
        if kind == "behaviour":
            try:
                counted = lc.record_behaviour(s, _model(f, "event", BehaviourEvent), p, at, _model(f, "actor", Actor))
            except lc.Refused:
                return self._assume("recorded_behaviour_refused")
            if counted is not None:
                self._commit(counted)
        elif kind in ("act", "signal"):
            envelope = _model(f, "envelope", c.CommandEnvelope)
            try:
                t = lc.decide(s, envelope, p, at)
            except lc.Refused as refused:
                if kind == "signal":
                    return self._commit(lc.refuse_signal(s, envelope, refused, p, at))
                return self._assume(f"recorded_action_not_allowed:{envelope.command.action}")
            self._commit(t)
        elif kind == "migrated":
            pass  # the simulator runs every lead under the one policy it was given
        elif kind in READS:
            self._assume(f"recorded_{kind}_not_asked")  # reality asked for it, the draft did not


def _recorded_dispatch(f: dict[str, Any]) -> DispatchResult:
    """The recorded dispatch, without its candidates (they only go into the timeline's dispatched event, not into any
    outcome); decoded once for both runs (the decider never changes its inputs in place)."""
    cache: dict[str, Any] = f.setdefault("_models", {})
    made = cache.get("dispatch")
    if not isinstance(made, DispatchResult):
        made = cache["dispatch"] = DispatchResult.model_validate({**f["data"]["result"], "candidates": []})
    return made


def _model(f: dict[str, Any], key: str, cls: type[M]) -> M:
    """The fact's `key` as a model, decoded once for both runs (the decider never changes its inputs in place)."""
    cache: dict[str, BaseModel] = f.setdefault("_models", {})
    m = cache.get(key)
    if isinstance(m, cls):  # (a key is always decoded as the same class)
        return m
    made = cache[key] = cls.model_validate(f["data"][key])
    return made


def _at(f: dict[str, Any]) -> datetime:
    at = f["at"]
    return at if isinstance(at, datetime) else datetime.fromisoformat(at)


def recorded_outcome(lead_id: str, summary: Mapping[str, Any]) -> Outcome:
    """What happened to a lead, from its recorded timeline up to the period's end (`db.facts.stream_leads_with_reality`
    sums it up: the last event's stage, every stage an event saw, the last score's grade, the dealers dispatched to,
    the clocks lapsed, the dealers penalized, the alerts and reviews). By the oracle (tests/test_simulate.py) it is
    what simulating the lead's facts under its own policy gives, so the simulator takes it instead of simulating
    reality again. The furthest stage is the furthest in the funnel any event saw (a move is always followed by its
    event)."""
    out = Outcome(lead_id, stage=summary["stage"], grade=summary.get("grade"),
                  furthest=max(["new", *(summary.get("stages") or [])], key=funnel_rank),
                  dealers=list(summary.get("dealers") or []), reviews=int(summary.get("reviews") or 0),
                  alerts=int(summary.get("alerts") or 0))
    out.lapses.update(summary.get("lapses") or [])
    out.penalties.update(summary.get("penalties") or [])
    return out


def changed_sections(base: Policy, draft: Policy) -> frozenset[str]:
    """Which tables of the policy differ (the simulator decides those again)."""
    return frozenset(name for name in ("clocks", "working_days", "rules", "scoring", "dispatch")
                     if getattr(base, name) != getattr(draft, name))


def simulate_lead(lead_id: str, facts: list[dict[str, Any]], policy: Policy, changed: frozenset[str] = frozenset(),
                  until: datetime | None = None) -> Outcome:
    """One lead's facts (in order) under `policy`; clocks lapse up to `until` (the end of the period)."""
    return _Run(lead_id, facts, policy, changed, until).run()


# --------------------------------------------------------------------------- the report


STAGES = [s.value for s in FUNNEL]


@dataclass
class Totals:
    leads: int = 0
    lapses: Counter[str] = field(default_factory=Counter)
    penalties: Counter[str] = field(default_factory=Counter)
    dispatches: Counter[str] = field(default_factory=Counter)  # dealer -> leads dispatched to it
    reviews: int = 0
    alerts: int = 0
    grades: Counter[str] = field(default_factory=Counter)
    reached: Counter[str] = field(default_factory=Counter)  # stage -> leads that reached it (furthest stage rank)
    assumptions: Counter[str] = field(default_factory=Counter)

    def add(self, o: Outcome) -> None:
        self.leads += 1
        self.lapses.update(o.lapses)
        self.penalties.update(o.penalties)
        self.dispatches.update(o.dealers)
        self.reviews += o.reviews
        self.alerts += o.alerts
        self.grades[o.grade or "-"] += 1
        if o.furthest in STAGES:
            for stage in STAGES[: STAGES.index(o.furthest) + 1]:
                self.reached[stage] += 1
        self.assumptions.update(o.assumptions)

    def merge(self, other: Totals) -> None:
        self.leads += other.leads
        for name in ("lapses", "penalties", "dispatches", "grades", "reached", "assumptions"):
            getattr(self, name).update(getattr(other, name))
        self.reviews += other.reviews
        self.alerts += other.alerts

    def to_json(self) -> dict[str, Any]:
        return {"leads": self.leads, "sla_lapses": dict(self.lapses), "penalties_per_dealer": dict(self.penalties),
                "leads_per_dealer": dict(self.dispatches), "reviews_due": self.reviews, "alerts": self.alerts,
                "grade_mix": dict(self.grades), "stage_reach": {s: self.reached.get(s, 0) for s in STAGES},
                "assumptions": dict(self.assumptions)}


def _dealers(dealers: list[str]) -> str:
    return " > ".join(dealers) or "—"


def _penalties(penalties: Counter[str]) -> str:
    return ", ".join(f"{dealer} ×{n}" for dealer, n in sorted(penalties.items()) if n) or "—"


def why(base: Outcome, draft: Outcome) -> list[dict[str, Any]]:
    """What differs for one lead: message codes with their parameters (`sim.why.*` in domain/messages.py), rendered
    in the reader's language by `readable`."""
    out: list[dict[str, Any]] = []

    def say(code: str, **params: Any) -> None:
        out.append({"code": f"sim.why.{code}", "params": params})

    if base.grade != draft.grade:
        say("grade", grade_before=base.grade or "—", grade_after=draft.grade or "—")
    for clock in sorted(set(base.lapses) | set(draft.lapses)):
        if base.lapses[clock] != draft.lapses[clock]:
            say("lapses", clock=clock, n_before=base.lapses[clock], n_after=draft.lapses[clock])
    if base.dealers != draft.dealers:
        say("dispatched", dealers_before=_dealers(base.dealers), dealers_after=_dealers(draft.dealers))
    if base.penalties != draft.penalties:
        say("penalties", penalties_before=_penalties(base.penalties), penalties_after=_penalties(draft.penalties))
    if base.reviews != draft.reviews:
        say("reviews", n_before=base.reviews, n_after=draft.reviews)
    if base.stage != draft.stage:
        say("stage", stage_before=base.stage, stage_after=draft.stage)
    if base.furthest != draft.furthest:
        say("furthest", stage_before=base.furthest, stage_after=draft.furthest)
    if draft.assumptions:
        say("assumed", n=sum(draft.assumptions.values()))
    return out


def assumption(kind: str) -> dict[str, Any]:
    """An assumption's kind as a message code with its parameters (`sim.assumption.*`)."""
    if kind.startswith("recorded_action_not_allowed:"):
        return {"code": "sim.assumption.recorded_action_not_allowed", "params": {"action": kind.split(":", 1)[1]}}
    if kind.startswith("recorded_") and kind.endswith("_not_asked"):
        return {"code": "sim.assumption.recorded_not_asked", "params": {}}
    if f"sim.assumption.{kind}" in CATALOG:
        return {"code": f"sim.assumption.{kind}", "params": {}}
    return {"code": "sim.assumption.other", "params": {"kind": kind}}


def readable(report: Mapping[str, Any], lang: str) -> dict[str, Any]:
    """The report with its codes rendered in `lang` beside them: each differing lead's `why` item gets `text`, each
    assumption its `assumption` sentence."""
    out = dict(report)
    out["assumptions"] = [a | {"assumption": render(a["code"], a.get("params"), lang)} if "code" in a else a
                          for a in report.get("assumptions", [])]
    out["differing"] = [d | {"why": [w | {"text": render(w["code"], w.get("params"), lang)} if isinstance(w, dict)
                                     else {"text": str(w)} for w in d.get("why", [])]}
                        for d in report.get("differing", [])]
    return out


@dataclass
class Chunk:
    """The result of simulating some leads: totals under each policy and the leads that differ."""

    base: Totals = field(default_factory=Totals)
    draft: Totals = field(default_factory=Totals)
    differing: list[dict[str, Any]] = field(default_factory=list)
    differing_count: int = 0
    reality_recorded: int = 0  # leads whose reality came from their recorded timeline (the rest: simulated)

    def merge(self, other: Chunk, keep: int = 500) -> None:
        self.base.merge(other.base)
        self.draft.merge(other.draft)
        self.differing_count += other.differing_count
        self.reality_recorded += other.reality_recorded
        self.differing.extend(other.differing[: max(0, keep - len(self.differing))])


Leads = Iterable[tuple[str, list[dict[str, Any]]] | tuple[str, list[dict[str, Any]], Outcome | None]]


def compare(leads: Leads, base_of: Callable[[str, list[dict[str, Any]]], Policy], draft: Policy,
            until: datetime | None, keep: int = 500) -> Chunk:
    """Every lead under its recorded policy (`base_of(lead_id, facts)`, reality by the oracle) and under the draft.
    A lead given with its recorded outcome (`recorded_outcome`) takes that as reality instead of simulating it."""
    chunk = Chunk()
    changes: dict[int, tuple[Policy, frozenset[str]]] = {}  # a lead's policy (by id) -> what the draft changes
    for item in leads:
        lead_id, facts = item[0], item[1]
        known = item[2] if len(item) > 2 else None
        base_policy = base_of(lead_id, facts)
        if id(base_policy) not in changes:
            changes[id(base_policy)] = (base_policy, changed_sections(base_policy, draft))
        changed = changes[id(base_policy)][1]
        if known is not None:
            base = known
            chunk.reality_recorded += 1
        else:
            base = simulate_lead(lead_id, facts, base_policy, frozenset(), until)
        new = simulate_lead(lead_id, facts, draft, changed, until) if changed else base
        chunk.base.add(base)
        chunk.draft.add(new)
        if new.key() != base.key():
            chunk.differing_count += 1
            if len(chunk.differing) < keep:
                chunk.differing.append({"lead_id": lead_id, "reality": base.to_json(), "draft": new.to_json(),
                                        "why": why(base, new)})
    return chunk


def report(chunk: Chunk, draft_version: str | None, period: tuple[datetime, datetime] | None) -> dict[str, Any]:
    """The side-by-side report (JSON), with the assumptions stated."""
    base, new = chunk.base.to_json(), chunk.draft.to_json()
    assumptions = [{"kind": kind, "count": n, **assumption(kind)} for kind, n in sorted(new["assumptions"].items())]
    return {
        "draft_version": draft_version,
        "period": [period[0].isoformat(), period[1].isoformat()] if period else None,
        "leads": base["leads"],
        "differing_leads": chunk.differing_count,
        # where reality came from: the leads' recorded timelines (read model), or simulated under their own policy
        "reality_from": {"timeline": chunk.reality_recorded, "simulated": base["leads"] - chunk.reality_recorded},
        "reality": base,
        "draft": new,
        "assumptions": assumptions,
        "differing": chunk.differing,
    }
