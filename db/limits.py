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

Before any of that, a transaction that writes a lead's reservations takes the lead's own lock (`locked(engine,
lead_id)`; see there for the race it closes), so it reads the lead's rows, decides and writes them with no
other writer of those rows in between: a counter moves exactly when a row starts or stops holding its slot,
and each counter stays the count of its active rows, whatever order the reservations and the projection run in.

The projection gives slots back (`sync_lead`): when a lead leaves its dealer or consultant, or closes, its
row is released and the counter moves back, under the same lock. It also adopts a lead that holds a slot it
never reserved (a lead ops' forced dispatch, a manager's manual assignment, leads older than the ledger), so
the counters always say what the read model's open leads say; `ops.reconcile` checks that.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection, Engine, Row, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from db.models import LimitCounter, LimitReservation

DEALER, CONSULTANT, DECLINE = "dealer", "consultant", "decline"
SLOT_KINDS = (DEALER, CONSULTANT)  # kinds that hold a counter's slot while active (declines count in the ledger)


LEAD_LOCK_SPACE = 0x4C4C  # the first key of the per-lead advisory locks ("LL"): no other lock uses it


@contextmanager
def locked(engine: Engine, lead_id: str | None) -> Iterator[Session]:
    """A session whose transaction may take limit locks (SQLite: the one writer's lock, taken at once).

    With `lead_id` (every transaction that writes that lead's reservations; only `repair_counters`, which holds
    every counter's lock, passes None) the transaction first takes the lead's lock, a PostgreSQL advisory lock
    held until it ends. The counter locks alone did not keep a lead's row consistent: the row (lead, holding,
    kind) moves between subjects, and two writers moving it lock *different* counters. The race (issue 12, two
    claims of one pool lead at once), with the row released when the lead went to the pool:
    1. the claim of c1 locks c1's counter and reads the row: released; the claim of c2 locks c2's counter and
       reads the row: released (c1 has not committed);
    2. c1 commits: the row is c1's, c1's counter 1; c2 then writes the row as c2's and counts c2's counter, with
       no give-back of c1's slot, which it never saw: c1's counter keeps a slot no row holds;
    3. the lead's workflow took c1's claim: its projection finds c2's row, gives it back and adopts the lead for
       c1, counting c1 a second time: c1's counter reads 2 for one lead.
    The projection's adoption raced a reservation the same way (both read the row free, the later write took it
    over, both counted), and a projection's release raced a claim moving the same row (both gave c1's slot
    back). Under the lead's lock each of them reads the row after the other one committed, so it gives back
    what the row holds and counts what it writes: a slot is counted once. Locks are taken lead first, then
    counters: a transaction never waits for a lead's lock while holding a counter's."""
    with Session(engine, expire_on_commit=False) as session:
        if engine.dialect.name == "sqlite":
            session.connection().exec_driver_sql("BEGIN IMMEDIATE")
        elif lead_id is not None and engine.dialect.name == "postgresql":
            session.connection().execute(text("SELECT pg_advisory_xact_lock(:space, hashtext(:lead_id))"),
                                         {"space": LEAD_LOCK_SPACE, "lead_id": lead_id})
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


_UNREAD: Any = object()


def spend(session: Session, counter: LimitCounter | None, *, lead_id: str, holding: int, kind: str, subject: str,
          counted_at: datetime, since_seq: int, now: datetime, answer: dict[str, Any],
          row: LimitReservation | None = _UNREAD) -> LimitReservation:
    """Write the reservation (new, or an earlier released/other-subject row of the same key moved here) and move
    the counter. The caller holds the lead's lock and `counter`'s. A row still holding another subject's slot
    gives it back first; a row already holding this subject's slot (a decision taken twice) is not counted again:
    the counter moves only when the row starts holding the slot. `row`: the key's row (or None) as the caller
    read it under the lead's lock in this transaction; read here when not given."""
    if row is _UNREAD:
        row = reservation(session, lead_id, holding, kind)
    counted = row is not None and row.released_at is None and row.subject == subject
    if row is not None and row.released_at is None and row.subject != subject:
        give_back(session, row, now)
    if row is None:
        row = LimitReservation(lead_id=lead_id, holding=holding, kind=kind,
                               scope=kind if kind in SLOT_KINDS else DEALER,
                               subject=subject, counted_at=counted_at, since_seq=since_seq, created_at=now,
                               answer=answer)
    else:
        row.subject, row.counted_at, row.since_seq = subject, counted_at, since_seq
        row.released_at, row.answer = None, answer
    session.add(row)
    if counter is not None and kind in SLOT_KINDS and not counted:
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
    they belong to a decision this snapshot does not know yet. A first look without locks finds most projections
    with nothing to do: on `held`, the lead's open reservations as the caller read them (`open_reservations`, in
    the projection's own transaction: no second connection), or on a read of its own. Otherwise what to release and
    adopt is decided again under the lead's lock, on the rows as they are then (a reservation may have committed in
    between). Counter locks are taken in (scope, subject) order."""
    if held is None:
        with engine.connect() as conn:
            held = open_reservations(conn, state.lead_id)
    release, adopt = _plan(held, state)
    if not release and not adopt:
        return
    with locked(engine, state.lead_id) as session:
        rows = session.exec(select(LimitReservation).where(LimitReservation.lead_id == state.lead_id,
                                                           col(LimitReservation.released_at).is_(None))
                            .execution_options(populate_existing=True)).all()
        release, adopt = _plan(rows, state)
        if not release and not adopt:
            return
        holding = len(state.held_by) - 1
        keys = sorted({(r.scope, r.subject) for r in release if r.kind in SLOT_KINDS} | set(adopt))
        locks = {key: lock_counter(session, *key) for key in keys}
        for row in release:  # (an active row in a slot to adopt is among them: it mismatches, and is older)
            give_back(session, row, now)
        for kind, subject in adopt:
            spend(session, locks[(kind, subject)], lead_id=state.lead_id, holding=holding, kind=kind, subject=subject,
                  counted_at=now, since_seq=state.seq, now=now, answer={"adopted": True})
        session.commit()


def _plan(rows: Sequence[Any], state) -> tuple[list[Any], list[tuple[str, str]]]:
    """Of the lead's active reservations `rows` (ledger rows or plain rows with the same columns), those to give
    back, and the (kind, subject) slots to adopt, for `state`."""
    from domain.stages import END_STAGES

    holding = len(state.held_by) - 1
    is_open = state.stage not in END_STAGES
    want = {}
    if is_open and state.dealer_id and holding >= 0:
        want[DEALER] = state.dealer_id
    if is_open and state.consultant_id and holding >= 0:
        want[CONSULTANT] = state.consultant_id
    holdings = state.past_holdings + ([state.holding] if state.holding else [])
    release: list[Any] = []
    adopt: list[tuple[str, str]] = []
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
        kept = [r for r in rows if r.kind == kind and r.holding == holding and r not in release]
        if not any(r.subject == subject for r in kept) and not any(r.since_seq >= state.seq for r in kept):
            adopt.append((kind, subject))  # (a newer decision's row of this slot is left alone, as above)
    return release, adopt


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
    with locked(engine, None) as session:  # every counter's lock: no lead's is needed
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
