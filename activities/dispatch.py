"""Dispatch (SPEC 5): master data and current load from the read model, ranking in domain.dispatch."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection, Text, cast, func
from sqlmodel import col, select
from temporalio import activity

from activities.db import UsesDatabase, aware, statement, table_of
from db import limits
from db.models import Dealer, DealerPenalty, HoldingRow, Lead, LimitCounter, LimitReservation, MasterDataVersion
from domain.dispatch import DealerProfile, rank_dealers
from domain.models import DeclineQuotaRequest, DeclineQuotaResult, DispatchRequest, DispatchResult
from domain.quota import check_decline
from domain.stages import END_STAGES


class DealerProfiles:
    """The brand's dealers as ranking profiles without their load, for scoring and dispatch (issue 15: each read
    220 dealer rows per lead). A decision reads one row, the dealers' change counter (`master_data_version`,
    moved by triggers on every write of `dealer`, whoever writes), and reads the dealers again only when it
    moved; then only a dealer whose row changed gets a new profile. So a change to the master data counts from
    the next decision on. The profiles answered are shared: read them, never change them."""

    def __init__(self) -> None:
        self._built: dict[str, tuple[tuple[Any, ...], DealerProfile]] = {}
        self._brands: dict[str, tuple[int, dict[str, DealerProfile]]] = {}
        self._lock = threading.Lock()  # activities run in a thread pool

    def of_brand(self, conn: Connection, brand: str) -> dict[str, DealerProfile]:
        key = brand.lower()
        version = conn.execute(statement(conn, ("dealer-version",), _version_query)).scalar()
        with self._lock:
            known = self._brands.get(key)
        if version is not None and known is not None and known[0] == version:
            return known[1]
        rows = conn.execute(statement(conn, ("dealer-profiles",), _profiles_query), {"brand": key}).all()
        out: dict[str, DealerProfile] = {}
        with self._lock:
            for row in rows:
                values = tuple(row)
                built = self._built.get(row.id)
                if built is None or built[0] != values:
                    built = (values, _base_profile(row))
                    self._built[row.id] = built
                out[row.id] = built[1]
            if version is not None:  # (no counter row: a schema without migration 0015's triggers; never cached)
                self._brands[key] = (version, out)
        return out


def _version_query() -> Any:
    t = table_of(MasterDataVersion).c
    return sa.select(t.version).where(t.name == "dealer")


def _brand_ids() -> Any:
    t = table_of(Dealer).c
    return sa.select(t.id).where(func.lower(t.brand) == sa.bindparam("brand"))


def _counters_query() -> Any:
    c = table_of(LimitCounter).c
    return sa.select(c.subject, c.open, c.last_reserved_at).where(c.scope == limits.DEALER, c.subject.in_(_brand_ids()))


def _penalties_query(windowed: bool) -> Any:
    p = table_of(DealerPenalty).c
    query = sa.select(p.dealer_id, func.count()).where(p.dealer_id.in_(_brand_ids()), p.revoked_at.is_(None))
    if windowed:
        query = query.where(p.created_at >= sa.bindparam("since"))
    return query.group_by(p.dealer_id)


def _profiles_query() -> Any:
    t = table_of(Dealer).c
    return sa.select(*_profile_columns(t)).where(func.lower(t.brand) == sa.bindparam("brand")).order_by(t.id)


_JSON_COLUMNS = ("service_cities", "series", "stock")


def _profile_columns(t) -> list:
    """The profile's columns; the JSON ones as their stored text (compared as it is, decoded only for a change)."""
    return [t.id, t.name, t.brand, t.active, t.region, t.city, t.latitude, t.longitude,
            *(cast(t[c], Text).label(c) for c in _JSON_COLUMNS),
            t.service_radius_km, t.conversion_90d, t.rating, t.capacity, t.choice_right,
            t.competitive_region, t.auto_assign]


def _base_profile(d) -> DealerProfile:
    decoded = {c: json.loads(getattr(d, c)) for c in _JSON_COLUMNS}
    return DealerProfile(
        dealer_id=d.id, name=d.name, brand=d.brand, active=d.active, region=d.region, city=d.city,
        latitude=d.latitude, longitude=d.longitude, service_cities=decoded["service_cities"],
        service_radius_km=d.service_radius_km, series=decoded["series"], stock=decoded["stock"],
        conversion_90d=d.conversion_90d, rating=d.rating, capacity=d.capacity,
        choice_right=d.choice_right, competitive_region=d.competitive_region, auto_assign=d.auto_assign,
    )


def _with_load(base: DealerProfile, open_leads: int, penalties: int, last_dispatched_at) -> DealerProfile:
    """The profile with this dispatch's load (a copy; the cached one stays without it)."""
    if not open_leads and not penalties and last_dispatched_at is None:
        return base
    return base.model_copy(update={"open_leads": open_leads, "penalties": penalties,
                                   "last_dispatched_at": last_dispatched_at})


class DispatchActivities(UsesDatabase):
    def __init__(self, engine, dealers: DealerProfiles | None = None) -> None:
        super().__init__(engine)
        self._dealers = dealers or DealerProfiles()
        # dealer id -> (its profile, its load, the profile with that load): a copy per dealer only when either moved
        self._loaded: dict[str, tuple[DealerProfile, tuple[int, int, Any], DealerProfile]] = {}

    @activity.defn
    def dispatch_lead(self, req: DispatchRequest) -> DispatchResult:
        if req.holding is not None:  # patch atomic-limits
            return self._dispatch_reserving(req)
        with self.session() as session:
            if req.forced_dealer_id:
                return self._forced(session, req)
            base = self._dealers.of_brand(session.connection(), req.brand)
            ids = list(base)
            load = dict(session.exec(
                select(Lead.dealer_id, func.count()).where(
                    col(Lead.dealer_id).in_(ids), col(Lead.stage).not_in([s.value for s in END_STAGES]),
                    Lead.lead_id != req.lead_id,
                ).group_by(Lead.dealer_id)
            ).all())
            since = req.as_of - timedelta(days=req.penalty_window_days) if req.as_of else None
            penalty_q = select(DealerPenalty.dealer_id, func.count()).where(
                col(DealerPenalty.dealer_id).in_(ids), col(DealerPenalty.revoked_at).is_(None))
            if since is not None:
                penalty_q = penalty_q.where(DealerPenalty.created_at >= since)
            penalties = dict(session.exec(penalty_q.group_by(DealerPenalty.dealer_id)).all())
            last = dict(session.exec(
                select(HoldingRow.dealer_id, func.max(HoldingRow.started_at))
                .where(col(HoldingRow.dealer_id).in_(ids)).group_by(HoldingRow.dealer_id)
            ).all())
        profiles = [_with_load(profile, load.get(dealer_id, 0), penalties.get(dealer_id, 0), aware(last.get(dealer_id)))
                    for dealer_id, profile in base.items()]
        result = rank_dealers(req, profiles)
        activity.logger.info("dispatch decided", extra={"lead_id": req.lead_id, "dealer_id": result.dealer_id})
        return result

    def _dispatch_reserving(self, req: DispatchRequest) -> DispatchResult:
        """Rank on the counters (no count of open leads: the cost stays flat as they grow), then spend a slot of
        the chosen dealer's capacity under its lock, all in one transaction under the lead's lock (issue 15: a
        transaction to read and another to reserve cost a connection checkout and three reads of the ledger
        row). If another lead took the chosen dealer's last slot between the ranking and its lock, the
        transaction ends (no counter lock is held while waiting for another) and the next one ranks again
        without that dealer. A retry finds its reservation and answers the same (db/limits.py)."""
        if req.holding is None:  # the reserving path runs with patch atomic-limits, whose requests carry it
            raise ValueError("a limit reservation needs the holding number")
        now = req.as_of or activity.info().current_attempt_scheduled_time
        full: set[str] = set()  # dealers found full under their lock
        while True:
            with limits.locked(self.engine, req.lead_id) as session:
                done = limits.reservation(session, req.lead_id, req.holding, limits.DEALER)
                if done is not None and done.answer.get("dealer_id"):
                    return DispatchResult.model_validate(done.answer)
                capacity: int | None = None
                if req.forced_dealer_id:  # lead ops named the dealer: its slot is spent whatever its load
                    result = self._forced(session, req)
                else:
                    profiles = self._loaded_profiles(session, req)
                    for dealer_id in full & profiles.keys():
                        profiles[dealer_id] = profiles[dealer_id].model_copy(
                            update={"open_leads": profiles[dealer_id].capacity})
                    result = rank_dealers(req, list(profiles.values()))
                    if result.dealer_id is not None:
                        capacity = profiles[result.dealer_id].capacity
                if result.dealer_id is None or self._spend_slot(session, req, result, done, capacity, now):
                    session.commit()
                    break
                full.add(result.dealer_id)  # ended without a counter lock held; rank again
        activity.logger.info("dispatch decided", extra={"lead_id": req.lead_id, "dealer_id": result.dealer_id})
        return result

    def _loaded_profiles(self, session, req: DispatchRequest) -> dict[str, DealerProfile]:
        """The brand's dealers' profiles with their load: the counters (open slots, last reservation) and the
        penalties in the window (statements built once; the brand's dealers as a subquery, not 220 ids bound
        anew in every statement)."""
        conn = session.connection()
        base = self._dealers.of_brand(conn, req.brand)
        brand = req.brand.lower()
        load = {row.subject: row for row in conn.execute(statement(conn, ("dealer-counters",), _counters_query),
                                                         {"brand": brand})}
        windowed = req.as_of is not None
        params: dict[str, Any] = {"brand": brand}
        if req.as_of is not None:
            params["since"] = req.as_of - timedelta(days=req.penalty_window_days)
        query = statement(conn, ("dealer-penalties", windowed), lambda: _penalties_query(windowed))
        penalties = dict(conn.execute(query, params).all())
        profiles = {}
        for dealer_id, profile in base.items():
            counter = load.get(dealer_id)
            values = (counter.open if counter else 0, penalties.get(dealer_id, 0),
                      aware(counter.last_reserved_at) if counter else None)
            known = self._loaded.get(dealer_id)  # most dealers' load has not moved since the last dispatch
            if known is None or known[0] is not profile or known[1] != values:
                known = self._loaded[dealer_id] = (profile, values, _with_load(profile, *values))
            profiles[dealer_id] = known[2]
        return profiles

    @staticmethod
    def _spend_slot(session, req: DispatchRequest, result: DispatchResult, done: LimitReservation | None,
                    capacity: int | None, now) -> bool:
        """Spend a slot of the chosen dealer's capacity for this lead and holding (`done`: the lead's row of this
        holding, read under the lead's lock this transaction holds), or False when it is full (capacity None:
        lead ops' choice, never full)."""
        if req.holding is None or result.dealer_id is None:  # (the caller checked both)
            raise ValueError("a dealer reservation needs the holding number and the chosen dealer")
        counter = limits.lock_counter(session, limits.DEALER, result.dealer_id)
        if capacity is not None and counter.open >= capacity:
            return False
        if done is not None and done.released_at is None:  # an adopted row of another dealer: give it back
            limits.give_back(session, done, now)
        limits.spend(session, counter, lead_id=req.lead_id, holding=req.holding, kind=limits.DEALER,
                     subject=result.dealer_id, counted_at=now, since_seq=req.since_seq, now=now,
                     answer=result.model_dump(mode="json"), row=done)
        counter.last_reserved_at = now
        session.add(counter)
        return True

    def _forced(self, session, req: DispatchRequest) -> DispatchResult:
        dealer = session.get(Dealer, req.forced_dealer_id)
        if dealer is None or not dealer.active or dealer.brand.lower() != req.brand.lower():
            return DispatchResult(dealer_id=None, reason=f"dealer {req.forced_dealer_id} named by lead ops is not an "
                                                         f"active dealer of {req.brand}")
        if dealer.id in req.exclude_dealer_ids:
            return DispatchResult(dealer_id=None, reason=f"dealer {dealer.id} held this lead before")
        return DispatchResult(
            dealer_id=dealer.id, dealer_name=dealer.name, region=dealer.region, choice_right=dealer.choice_right,
            competitive_region=dealer.competitive_region, auto_assign=dealer.auto_assign,
            reason=f"named by lead ops: {dealer.name} ({dealer.id})",
        )

    @activity.defn
    def reserve_decline(self, req: DeclineQuotaRequest) -> DeclineQuotaResult:
        """Patch atomic-limits: the quota check and the decline's spending in one transaction, under the dealer's
        lock, so declines of many leads at once are counted one after another. A decline counts at the time its
        lead was pushed (the seed: the share of *pushed* leads a dealer declines). Idempotent per lead and
        holding; a refusal spends nothing."""
        if req.holding is None:  # the reserving path runs with patch atomic-limits, whose requests carry it
            raise ValueError("a limit reservation needs the holding number")
        if req.pushed_at is None:
            raise ValueError("a decline reservation needs the time the lead was pushed")
        window = timedelta(days=req.window_days)
        since = req.as_of - window
        with limits.locked(self.engine, req.lead_id) as session:
            limits.lock_counter(session, limits.DEALER, req.dealer_id)
            done = limits.reservation(session, req.lead_id, req.holding, limits.DECLINE)
            if done is not None and done.released_at is None:
                return DeclineQuotaResult.model_validate(done.answer)
            held = session.exec(select(HoldingRow.lead_id, HoldingRow.started_at, HoldingRow.end_reason).where(
                HoldingRow.dealer_id == req.dealer_id, HoldingRow.started_at >= since)).all()
            pushed = {(lead, aware(started)) for lead, started, _ in held}
            pushed.add((req.lead_id, req.pushed_at))
            declined = {(lead, aware(started)) for lead, started, reason in held if reason == "declined"}
            ledger = session.exec(select(LimitReservation.lead_id, LimitReservation.counted_at).where(
                LimitReservation.subject == req.dealer_id, LimitReservation.kind == limits.DECLINE,
                col(LimitReservation.released_at).is_(None), LimitReservation.counted_at >= since)).all()
            declined |= {(lead, aware(at)) for lead, at in ledger}
            check = check_decline([at for _, at in pushed], [at for _, at in declined], req.as_of, window, req.quota)
            answer = DeclineQuotaResult(allowed=check.allowed, pushed=check.pushed, declined=check.declined,
                                        reason=check.reason)
            if check.allowed:
                limits.spend(session, None, lead_id=req.lead_id, holding=req.holding, kind=limits.DECLINE,
                             subject=req.dealer_id, counted_at=req.pushed_at, since_seq=req.since_seq, now=req.as_of,
                             answer=answer.model_dump(mode="json"))
                session.commit()
        return answer

    @activity.defn
    def check_decline_quota(self, req: DeclineQuotaRequest) -> DeclineQuotaResult:
        """A choice-right dealer may decline at most `quota` of the leads pushed to it in the window
        (the rule: domain.quota). A declined lead counts as declined when it was pushed."""
        window = timedelta(days=req.window_days)
        since = req.as_of - window
        with self.session() as session:
            rows = session.exec(
                select(HoldingRow.started_at, HoldingRow.end_reason).where(
                    HoldingRow.dealer_id == req.dealer_id, HoldingRow.started_at >= since)
            ).all()
        pushed_at = [aware(started) for started, _ in rows]
        declined_at = [aware(started) for started, reason in rows if reason == "declined"]
        check = check_decline(pushed_at, declined_at, req.as_of, window, req.quota)
        return DeclineQuotaResult(allowed=check.allowed, pushed=check.pushed, declined=check.declined,
                                  reason=check.reason)
