"""The workers' cache of the dealers (issue 15): one row read per decision, and any change to a dealer, by
any writer, counts from the next decision on (a change counter kept by database triggers, migration 0015)."""

from __future__ import annotations

from contextlib import contextmanager

from sqlalchemy import event, text

from activities.dispatch import DealerProfiles
from activities.scoring import ScoringActivities
from domain.models import BehaviourCounts, Channel, RawLead, ScoreRequest
from domain.policy import load_policy


@contextmanager
def statements(engine):
    """The statements `engine` runs inside the block."""
    seen: list[str] = []

    def count(conn, cursor, statement, *args):
        seen.append(statement)
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


def write(engine, sql: str) -> None:
    """Plain SQL, as a seed script or a DBA would write it: no ORM, no API."""
    with engine.begin() as conn:
        conn.execute(text(sql))


def test_the_dealers_are_read_again_only_after_a_change_by_any_writer(any_engine):
    profiles = DealerProfiles()
    with any_engine.connect() as conn:
        first = profiles.of_brand(conn, "Aurora")
        assert sorted(first) == ["D-GZ-1", "D-HZ-1", "D-SH-1", "D-SH-2"]
        with statements(any_engine) as seen:
            again = profiles.of_brand(conn, "aurora")  # (a brand matches whatever its case)
        assert again is first and len(seen) == 1  # the change counter only
        conn.rollback()

        write(any_engine, "UPDATE dealer SET capacity = 7 WHERE id = 'D-SH-1'")
        changed = profiles.of_brand(conn, "Aurora")
        assert changed["D-SH-1"].capacity == 7
        assert changed["D-SH-2"] is first["D-SH-2"]  # an unchanged row keeps its profile
        conn.rollback()

        write(any_engine, "INSERT INTO dealer (id, name, brand, region, city, service_cities, series, stock, "
                          "conversion_90d, rating, capacity, active, choice_right, competitive_region, auto_assign) "
                          "VALUES ('D-NJ-1', 'Aurora Nanjing', 'Aurora', 'East', 'Nanjing', '[]', '[]', '{}', "
                          "0.1, 4.0, 50, true, false, false, false)")
        assert "D-NJ-1" in profiles.of_brand(conn, "Aurora")
        conn.rollback()

        write(any_engine, "DELETE FROM dealer WHERE id = 'D-NJ-1'")
        assert "D-NJ-1" not in profiles.of_brand(conn, "Aurora")


def test_scoring_sees_a_dealer_that_starts_serving_a_city_at_the_next_lead(any_engine):
    scoring = ScoringActivities(any_engine)
    policy = load_policy()

    def served(n: int) -> tuple[bool, str | None]:
        raw = RawLead(external_id=f"x{n}", channel=Channel.WEBSITE, brand="Aurora", customer_name="Li Wei",
                      phone="+8613800000000", city="Suzhou", series="A5")
        result = scoring.score_lead(ScoreRequest(
            lead_id=f"lead-{n}", raw=raw, touchpoint_channels=[raw.channel], behaviour=BehaviourCounts(),
            policy_items=dict(policy.scoring.items), thresholds=dict(policy.scoring.thresholds)))
        city = next(i for i in result.items if i.name == "city_served")
        return city.points > 0, result.region

    assert served(1) == (False, None)
    write(any_engine, """UPDATE dealer SET service_cities = '["Shanghai", "Suzhou"]' WHERE id = 'D-HZ-1'""")
    assert served(2) == (True, "East")
