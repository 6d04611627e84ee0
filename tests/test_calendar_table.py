"""The calendar as data (issue 12), without Temporal: seeding, counting on the table, uploads, the audit."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
from sqlmodel import Session, select

from db import calendar as cal
from db.models import CalendarAudit, CalendarDay, CalendarYear, Lead
from domain.calendar import SHANGHAI, calendar_covers, touches
from domain.policy import CalendarOverrides

NOW = datetime(2026, 12, 5, tzinfo=UTC)


def local(y, m, d, h=0):
    return datetime(y, m, d, h, tzinfo=SHANGHAI)


def test_the_package_knows_2026_but_not_2027():
    # the premise of the provisional path: if a newer chinese-calendar knows 2027, these tests need another year
    assert calendar_covers(2026) and not calendar_covers(2027)


def test_a_year_the_package_knows_is_seeded_confirmed_with_its_make_up_workdays(engine):
    with Session(engine) as session:
        row = cal.ensure_year(session, 2026, NOW)
        assert (row.state, row.seeded_from) == ("confirmed", "package")
        oct10 = session.get(CalendarDay, date(2026, 10, 10))
        assert (oct10.kind, oct10.source) == ("workday", "package")  # a Saturday 调休


def test_a_year_the_package_does_not_know_is_seeded_provisional_from_the_statutory_holidays(engine):
    with Session(engine) as session:
        row = cal.ensure_year(session, 2027, NOW)
        assert (row.state, row.seeded_from) == ("provisional", "computed")
        days = {d.day: d for d in session.exec(select(CalendarDay).where(CalendarDay.year == 2027)).all()}
        assert days[date(2027, 1, 1)].kind == "holiday" and days[date(2027, 1, 1)].source == "computed"
        assert all(date(2027, 2, d) in days for d in range(5, 11)), "Spring Festival 2027"
        assert not any(d.kind == "workday" for d in days.values()), "nobody can compute the make-up workdays"


def test_counting_on_a_provisional_year_is_never_plain_monday_to_friday(engine):
    with Session(engine) as session:
        # Tue 29 Dec 2026 + 3: Wed 30, Thu 31, (Fri 1 Jan New Year, weekend) Mon 4 -> end of Mon 4 Jan
        found = cal.working_day_deadline(session, local(2026, 12, 29, 15), 3)
        assert found.deadline == local(2027, 1, 5)
        assert found.years == [2026, 2027] and found.provisional_years == [2027]
        # Thu 4 Feb 2027 + 3: the Spring Festival 5-10 Feb, then Thu 11, Fri 12, Mon 15
        found = cal.working_day_deadline(session, local(2027, 2, 4, 10), 3)
        assert found.deadline == local(2027, 2, 16)
        # a deadline inside a confirmed year says so
        assert cal.working_day_deadline(session, local(2026, 11, 10, 10), 1).provisional_years == []


def test_the_policy_overrides_pinned_on_a_lead_still_win_over_the_table(engine):
    overrides = CalendarOverrides(extra_workdays=[date(2027, 1, 1)])
    with Session(engine) as session:
        assert cal.working_day_deadline(session, local(2026, 12, 29, 15), 3, overrides).deadline == local(2027, 1, 2)


def test_a_window_touches_the_days_after_its_start_day_up_to_its_deadline():
    start, deadline = local(2027, 2, 4, 10), local(2027, 2, 16)
    assert touches(start, deadline, [date(2027, 2, 13)])
    assert touches(start, deadline, [date(2027, 2, 15)])
    assert not touches(start, deadline, [date(2027, 2, 4)])  # the start day never counts
    assert not touches(start, deadline, [date(2027, 2, 16), date(2027, 3, 1)])


SCHEDULE_2027 = [
    {"date": "2027-01-01", "kind": "holiday", "name": "元旦"},
    *({"date": f"2027-02-{d:02d}", "kind": "holiday", "name": "春节"} for d in range(5, 11)),
    {"date": "2027-02-13", "kind": "workday", "name": "春节调休"},
]


def test_an_upload_as_json_or_csv_gives_the_same_days():
    as_json = cal.parse_upload(2027, json.dumps(SCHEDULE_2027).encode(), "application/json")
    csv_text = "date,kind,name\n" + "\n".join(f"{d['date']},{d['kind']},{d['name']}" for d in SCHEDULE_2027)
    as_csv = cal.parse_upload(2027, csv_text.encode(), "text/csv")
    assert as_json == as_csv and len(as_json) == 8
    assert cal.parse_upload(2027, json.dumps({"days": SCHEDULE_2027}).encode(), "application/json") == as_json


@pytest.mark.parametrize(("body", "row", "field"), [
    (b"", None, "file"),
    (b"   \n", None, "file"),
    (b"[]", None, "file"),
    (b"date,kind,name\n", None, "file"),
    (json.dumps([{"date": "2027-01-01", "kind": "holiday"}, {"date": "2027-01-01", "kind": "workday"}]).encode(),
     2, "date"),
    (b"date,kind\n2027-01-01,holiday\n2026-12-31,holiday\n", 2, "date"),
    (b"date,kind\n2027-01-01,holiday\n2027-02-30,holiday\n", 2, "date"),
    (b"date,kind\nnot a date,holiday\n", 1, "date"),
    (b"date,kind\n2027-01-01,day off\n", 1, "kind"),
    (b"day,type\n2027-01-01,holiday\n", 0, "header"),
    (b"[1, 2]", 1, "row"),
    (b"{not json", None, "file"),
])
def test_every_bad_upload_names_its_row_and_field(body, row, field):
    with pytest.raises(cal.UploadError) as bad:
        cal.parse_upload(2027, body, "text/csv" if body[:1] not in b"[{" else "application/json")
    assert (bad.value.row, bad.value.field) == (row, field)


def test_the_same_day_given_twice_with_the_same_kind_is_one_day():
    days = cal.parse_upload(2027, b"date,kind\n2027-01-01,holiday\n2027-01-01,holiday\n", "text/csv")
    assert [d.day for d in days] == [date(2027, 1, 1)]


def test_an_upload_replaces_the_year_and_is_audited_with_before_and_after(engine):
    with Session(engine) as session:
        cal.ensure_year(session, 2027, NOW)
        days = cal.parse_upload(2027, json.dumps(SCHEDULE_2027).encode(), "application/json")
        change = cal.replace_year(session, 2027, days, "ops", NOW, confirm=True)
        assert change.state == "confirmed"
        # the computed days that the schedule drops, and the make-up workday it adds, changed
        assert date(2027, 2, 13) in change.dates and date(2027, 4, 5) in change.dates
        assert date(2027, 1, 1) not in change.dates
        rows = session.exec(select(CalendarDay).where(CalendarDay.year == 2027)).all()
        assert {r.source for r in rows} == {"lead_ops"} and len(rows) == 8
        audit = session.exec(select(CalendarAudit)).one()
        assert (audit.actor, audit.action) == ("ops", "upload")
        assert audit.before["state"] == "provisional" and "2027-04-05" in audit.before["days"]
        assert audit.after == {"state": "confirmed", "days": {d["date"]: d["kind"] for d in SCHEDULE_2027}}
        assert session.get(CalendarYear, 2027).confirmed_by == "ops"


def test_single_day_edits_and_a_confirmation_are_audited(engine):
    with Session(engine) as session:
        change = cal.set_day(session, date(2027, 2, 13), "workday", "春节调休", "ops", NOW)
        assert change.dates == [date(2027, 2, 13)] and change.state == "provisional"
        assert cal.set_day(session, date(2027, 2, 13), "workday", "renamed", "ops", NOW).dates == []
        assert cal.delete_day(session, date(2027, 2, 13), "ops", NOW).dates == [date(2027, 2, 13)]
        assert cal.delete_day(session, date(2027, 2, 13), "ops", NOW) is None
        cal.confirm_year(session, 2027, "ops-head", NOW)
        actions = [(a.action, a.actor) for a in cal.audit_rows(session, 2027)]
        assert actions == [("set_day", "ops"), ("set_day", "ops"), ("delete_day", "ops"), ("confirm", "ops-head")]
        assert cal.audit_rows(session, 2027)[2].before == {"2027-02-13": {"kind": "workday", "name": "renamed",
                                                                          "source": "lead_ops"}}


def _lead(n: int) -> Lead:
    return Lead(lead_id=f"lead-{n}", brand="aurora", customer_key=f"k{n}", customer_name="-", phone="-",
                channel="website", stage="defeat_review", furthest_stage="defeat_review", created_at=NOW,
                updated_at=NOW, workflow_id=f"lead-{n}", run_id="r")


@pytest.mark.parametrize("database", ["engine", "pg_engine"])
def test_a_correction_reaches_the_leads_whose_open_working_day_window_holds_a_changed_day(database, request):
    from activities.calendar import CalendarActivities
    from db.models import ClockRun
    from domain.models import CalendarChange

    engine = request.getfixturevalue(database)
    runs = [  # (lead, clock, started, deadline, outcome)
        (1, "defeat_review", local(2027, 2, 4, 10), local(2027, 2, 16), None),  # holds 13 Feb: reached
        (2, "appeal_window", local(2027, 2, 12, 10), local(2027, 2, 17), None),  # holds 13 Feb: reached
        (3, "defeat_review", local(2027, 2, 13, 10), local(2027, 2, 18), None),  # starts on 13 Feb: not
        (4, "defeat_review", local(2027, 2, 1, 10), local(2027, 2, 5), None),  # over before it
        (5, "defeat_review", local(2027, 2, 4, 10), local(2027, 2, 16), "met"),  # closed
        (6, "first_response", local(2027, 2, 12, 10), local(2027, 2, 15), None),  # not a working-day clock
        (7, "appeal_review", local(2027, 2, 4, 10), None, None),  # waiting for its deadline
    ]
    with Session(engine) as session:
        for n, clock, started, deadline, outcome in runs:
            session.add(_lead(n))
            session.add(ClockRun(lead_id=f"lead-{n}", clock=clock, started_at=started, deadline=deadline,
                                 outcome=outcome))
        session.commit()
    change = CalendarChange(year=2027, dates=[date(2027, 2, 13)], reason="test")
    assert CalendarActivities(engine).affected_leads(change) == ["lead-1", "lead-2"]
    assert CalendarActivities(engine).affected_leads(change.model_copy(update={"dates": []})) == []
