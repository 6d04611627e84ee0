"""Limits shared by many leads (issue 12.2): a reservation ledger under a per-dealer (per-consultant) lock.

Every decision that spends a dealer-wide or consultant-wide limit (a choice-right decline, a slot of the
dealer's capacity at dispatch, a slot of a consultant's max_open_leads at auto-assignment or a claim) is taken
by one transaction that

1. locks the limit's counter row (`limit_counter`: `SELECT ... FOR UPDATE` on PostgreSQL; SQLite has one
   writer, so the transaction starts with `BEGIN IMMEDIATE`),
2. reads what is spent (the counter, or for declines the ledger and the holdings in the window),
3. answers, and when the answer is yes writes the `limit_reservation` row (unique by lead, holding and kind)
   and moves the counter, then commits.

So two leads of one dealer deciding at once take turns, and each sees the other's spending. A retried activity
or a replayed workflow task finds its own row and gets the same answer: it never spends twice.

The projection gives slots back (`sync_lead`): when a lead leaves its dealer or consultant, or closes, its
row is released and the counter moves back, under the same lock. It also adopts a lead that holds a slot it
never reserved (a lead ops' forced dispatch, a manager's manual assignment, leads older than the ledger), so
the counters always say what the read model's open leads say; `ops.reconcile` checks that.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection, Engine, Row
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from db.models import LimitCounter, LimitReservation

DEALER, CONSULTANT, DECLINE = "dealer", "consultant", "decline"
SLOT_KINDS = (DEALER, CONSULTANT)  # kinds that hold a counter's slot while active (declines count in the ledger)


@contextmanager
def locked(engine: Engine) -> Iterator[Session]:
    """A session whose transaction may take limit locks (SQLite: the one writer's lock, taken at once)."""
    with Session(engine, expire_on_commit=False) as session:
        if engine.dialect.name == "sqlite":
            session.connection().exec_driver_sql("BEGIN IMMEDIATE")
        yield session


def lock_counter(session: Session, scope: str, subject: str) -> LimitCounter:
    """The counter row of (scope, subject), created if missing, locked until the transaction ends."""
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    session.exec(insert(LimitCounter).values(scope=scope, subject=subject, open=0).on_conflict_do_nothing())
    query = select(LimitCounter).where(LimitCounter.scope == scope, LimitCounter.subject == subject)
    if dialect == "postgresql":
        query = query.with_for_update()
    counter = session.exec(query.execution_options(populate_existing=True)).one()
    return counter


def counters(session: Session, scope: str, subjects: list[str] | sa.Select) -> dict[str, Row]:
    """The counters of many subjects (a list, or a query of them), as plain rows (subject, open,
    last_reserved_at), without locking (a dispatch's ranking; its choice is then locked)."""
    if isinstance(subjects, list) and not subjects:
        return {}
    t = LimitCounter.__table__.c  # type: ignore[attr-defined]  # set by SQLModel's metaclass
    rows = session.connection().execute(sa.select(t.subject, t.open, t.last_reserved_at).where(
        t.scope == scope, t.subject.in_(subjects)))
    return {c.subject: c for c in rows}


def reservation(session: Session, lead_id: str, holding: int, kind: str) -> LimitReservation | None:
    return session.get(LimitReservation, (lead_id, holding, kind), populate_existing=True)


def spend(session: Session, counter: LimitCounter | None, *, lead_id: str, holding: int, kind: str, subject: str,
          counted_at: datetime, since_seq: int, now: datetime, answer: dict[str, Any]) -> LimitReservation:
    """Write the reservation (new, or an earlier released/other-subject row of the same key moved here) and move
    the counter. The caller holds the lock of `counter` (and of the old subject's counter when it moves)."""
    row = reservation(session, lead_id, holding, kind)
    if row is None:
        row = LimitReservation(lead_id=lead_id, holding=holding, kind=kind,
                               scope=kind if kind in SLOT_KINDS else DEALER,
                               subject=subject, counted_at=counted_at, since_seq=since_seq, created_at=now,
                               answer=answer)
    else:
        row.subject, row.counted_at, row.since_seq = subject, counted_at, since_seq
        row.released_at, row.answer = None, answer
    session.add(row)
    if counter is not None and kind in SLOT_KINDS:
        counter.open += 1
        counter.updated_at = now
        session.add(counter)
    return row


def give_back(session: Session, row: LimitReservation, now: datetime) -> None:
    """Release the reservation; a slot goes back to its counter (locked here)."""
    if row.released_at is not None:
        return
    row.released_at = now
    session.add(row)
    if row.kind in SLOT_KINDS:
        counter = lock_counter(session, row.scope, row.subject)
        counter.open = max(0, counter.open - 1)
        counter.updated_at = now
        session.add(counter)


def open_reservations(conn: Connection, lead_id: str) -> list[Row]:
    """The lead's reservations not released (plain rows): what `sync_lead` starts from."""
    t = LimitReservation.__table__.c  # type: ignore[attr-defined]  # set by SQLModel's metaclass
    return list(conn.execute(sa.select(t.lead_id, t.holding, t.kind, t.scope, t.subject, t.since_seq).where(
        t.lead_id == lead_id, t.released_at.is_(None))).all())


def sync_lead(engine: Engine, state, now: datetime, held: list[Row] | None = None) -> None:
    """The projection's half: the lead's slots follow its state (see the module docstring).

    `state` is a LeadState. Reservations made at or after this state's event number (`since_seq`) are left alone:
    they belong to a decision this snapshot does not know yet. Locks are taken in (scope, subject) order. `held`:
    the lead's open reservations as the caller read them (`open_reservations`, in the projection's own
    transaction: no second connection); only a hint, as every change is checked again under the locks."""
    from domain.stages import END_STAGES

    holding = len(state.held_by) - 1
    is_open = state.stage not in END_STAGES
    want = {}
    if is_open and state.dealer_id and holding >= 0:
        want[DEALER] = state.dealer_id
    if is_open and state.consultant_id and holding >= 0:
        want[CONSULTANT] = state.consultant_id
    holdings = state.past_holdings + ([state.holding] if state.holding else [])
    if held is None:
        with engine.connect() as conn:
            held = open_reservations(conn, state.lead_id)
    rows = held
    release, adopt = [], []
    for r in rows:
        if r.since_seq >= state.seq:
            continue
        if r.kind == DECLINE:
            ended = holdings[r.holding] if r.holding < len(holdings) else None
            if ended is not None and ended.ended_at is not None and ended.end_reason != "declined":
                release.append(r)  # reserved, but the decline never happened (the lead moved on first)
        elif want.get(r.kind) != r.subject or r.holding != holding:
            release.append(r)
    for kind, subject in want.items():
        if not any(r.kind == kind and r.subject == subject and r.holding == holding and r not in release for r in rows):
            adopt.append((kind, subject))
    if not release and not adopt:
        return
    with locked(engine) as session:
        keys = sorted({(r.scope, r.subject) for r in release if r.kind in SLOT_KINDS} | set(adopt))
        locks = {key: lock_counter(session, *key) for key in keys}
        for r in release:
            row = reservation(session, r.lead_id, r.holding, r.kind)
            if row is not None and row.released_at is None and row.since_seq < state.seq:
                give_back(session, row, now)
        for kind, subject in adopt:
            row = reservation(session, state.lead_id, holding, kind)
            if row is not None and row.released_at is None and row.subject == subject:
                continue
            if row is not None and row.released_at is None:
                give_back(session, row, now)
            spend(session, locks[(kind, subject)], lead_id=state.lead_id, holding=holding, kind=kind, subject=subject,
                  counted_at=now, since_seq=state.seq, now=now, answer={"adopted": True})
        session.commit()


# --------------------------------------------------------------------------- reconciling (ops.reconcile)


def _open_leads(session: Session) -> list:
    from sqlalchemy import func

    from db.models import HoldingRow, Lead
    from domain.stages import END_STAGES

    holdings = (select(HoldingRow.lead_id, (func.count() - 1).label("n")).group_by(HoldingRow.lead_id).subquery())
    # sqlmodel types select() for 1-4 columns
    return list(session.exec(select(  # type: ignore[call-overload]
        Lead.lead_id, Lead.dealer_id, Lead.consultant_id, Lead.last_seq, holdings.c.n)
        .join(holdings, holdings.c.lead_id == Lead.lead_id, isouter=True)
        .where(col(Lead.stage).not_in([s.value for s in END_STAGES]))).all())


def counter_drift(engine: Engine) -> list[str]:
    """What the counters and the ledger say against the read model's open leads (one line per difference)."""
    from collections import Counter

    with Session(engine) as session:
        leads = _open_leads(session)
        active = session.exec(select(LimitReservation).where(col(LimitReservation.released_at).is_(None),
                                                             col(LimitReservation.kind).in_(SLOT_KINDS))).all()
        counted = {(c.scope, c.subject): c.open for c in session.exec(select(LimitCounter)).all()}
    want: Counter[tuple[str, str]] = Counter()
    for _lead_id, dealer_id, consultant_id, _, _ in leads:
        if dealer_id:
            want[(DEALER, dealer_id)] += 1
        if dealer_id and consultant_id:
            want[(CONSULTANT, consultant_id)] += 1
    ledger = Counter((r.scope, r.subject) for r in active)
    out = []
    for key in sorted(set(want) | set(ledger) | {k for k, v in counted.items() if v}):
        have, booked, held = counted.get(key, 0), ledger.get(key, 0), want.get(key, 0)
        if not have == booked == held:
            out.append(f"limit counter {key[0]} {key[1]}: counter {have}, ledger {booked}, open leads in the read "
                       f"model {held}")
    return out


def repair_counters(engine: Engine, now: datetime) -> None:
    """Make the ledger hold exactly the read model's open leads' slots, and each counter its ledger's count."""
    from collections import Counter

    with Session(engine) as session:
        leads = {lead_id: (dealer_id, consultant_id, seq, n or 0) for lead_id, dealer_id, consultant_id, seq, n
                 in _open_leads(session)}
        active = session.exec(select(LimitReservation).where(col(LimitReservation.released_at).is_(None),
                                                             col(LimitReservation.kind).in_(SLOT_KINDS))).all()
        subjects = {(c.scope, c.subject) for c in session.exec(select(LimitCounter)).all()}
    with locked(engine) as session:
        keys = sorted(subjects | {(r.scope, r.subject) for r in active}
                      | {(DEALER, d) for d, _, _, _ in leads.values() if d}
                      | {(CONSULTANT, c) for d, c, _, _ in leads.values() if d and c})
        locks = {key: lock_counter(session, *key) for key in keys}
        kept = set()
        for r in active:
            dealer_id, consultant_id, _, _ = leads.get(r.lead_id, (None, None, 0, 0))
            if (r.kind == DEALER and r.subject == dealer_id) or (r.kind == CONSULTANT and dealer_id
                                                                 and r.subject == consultant_id):
                kept.add((r.lead_id, r.kind))
                continue
            row = reservation(session, r.lead_id, r.holding, r.kind)
            if row is None:  # (listed as active just above)
                continue
            row.released_at = now
            session.add(row)
        for lead_id, (dealer_id, consultant_id, seq, n) in leads.items():
            for kind, subject in ((DEALER, dealer_id), (CONSULTANT, consultant_id if dealer_id else None)):
                if subject and (lead_id, kind) not in kept:
                    spend(session, None, lead_id=lead_id, holding=n, kind=kind, subject=subject, counted_at=now,
                          since_seq=seq, now=now, answer={"reconciled": True})
        session.flush()
        booked = Counter((r.scope, r.subject) for r in session.exec(select(LimitReservation).where(
            col(LimitReservation.released_at).is_(None), col(LimitReservation.kind).in_(SLOT_KINDS))).all())
        for key, counter in locks.items():
            counter.open, counter.updated_at = booked.get(key, 0), now
            session.add(counter)
        session.commit()
