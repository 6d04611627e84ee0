"""Working-day deadlines on the Chinese calendar (SPEC 4.3): holidays, 调休 make-up days, overrides."""

from datetime import UTC, date, datetime, timedelta

import chinese_calendar
import pytest

from domain.calendar import SHANGHAI, add_working_days, calendar_covers, compress, is_working_day
from domain.policy import CalendarOverrides, load_policy

NONE = CalendarOverrides()


def local(y, m, d, h=0, mi=0):
    return datetime(y, m, d, h, mi, tzinfo=SHANGHAI)


def test_policy_calendar_section_loads_as_overrides():
    assert isinstance(load_policy().calendar, CalendarOverrides)


def test_the_package_table_knows_2026_national_day_and_its_make_up_saturday():
    # Guard the assumptions of the tests below against the installed chinese_calendar table.
    assert all(not chinese_calendar.is_workday(date(2026, 10, d)) for d in range(1, 8))
    assert chinese_calendar.is_workday(date(2026, 10, 10))  # Saturday, 调休 make-up workday
    assert date(2026, 10, 10).weekday() == 5


def test_holidays_are_not_working_days_and_make_up_saturday_is():
    assert not is_working_day(date(2026, 10, 1), NONE)
    assert not is_working_day(date(2026, 10, 5), NONE)  # a Monday inside the holiday
    assert is_working_day(date(2026, 10, 10), NONE)
    assert not is_working_day(date(2026, 10, 11), NONE)  # an ordinary Sunday


def test_defeat_approved_before_national_day_gets_its_deadline_after_the_holiday():
    # Wed 30 Sep + 3 working days: Thu 8, Fri 9, Sat 10 (make-up) -> end of Sat 10 Oct.
    deadline = add_working_days(local(2026, 9, 30, 15, 30), 3, NONE)
    assert deadline == local(2026, 10, 11)
    assert deadline.tzinfo == UTC
    assert deadline == datetime(2026, 10, 10, 16, 0, tzinfo=UTC)


def test_friday_plus_one_working_day_skips_the_weekend():
    assert add_working_days(local(2026, 11, 13, 9), 1, NONE) == local(2026, 11, 17)  # end of Mon 16


def test_the_start_day_never_counts_whatever_the_time_of_day():
    assert add_working_days(local(2026, 11, 10, 0, 1), 1, NONE) == local(2026, 11, 12)
    assert add_working_days(local(2026, 11, 10, 23, 59), 1, NONE) == local(2026, 11, 12)


def test_local_date_is_shanghai_not_utc():
    # 2026-11-13 17:00 UTC is already Saturday 14 Nov 01:00 in Shanghai: next working day Mon 16.
    start = datetime(2026, 11, 13, 17, 0, tzinfo=UTC)
    assert add_working_days(start, 1, NONE) == local(2026, 11, 17)


def test_make_up_saturday_counts_as_a_working_day():
    # Fri 9 Oct + 1 -> the 调休 Saturday 10 Oct, not Monday 12 Oct.
    assert add_working_days(local(2026, 10, 9, 10), 1, NONE) == local(2026, 10, 11)


def test_extra_holidays_from_the_policy_are_skipped():
    overrides = CalendarOverrides(extra_holidays=[date(2026, 11, 16)])
    assert not is_working_day(date(2026, 11, 16), overrides)
    assert add_working_days(local(2026, 11, 13, 9), 1, overrides) == local(2026, 11, 18)


def test_extra_workdays_from_the_policy_count():
    overrides = CalendarOverrides(extra_workdays=[date(2026, 11, 14)])
    assert add_working_days(local(2026, 11, 13, 9), 1, overrides) == local(2026, 11, 15)


def test_years_the_package_does_not_cover_fall_back_to_monday_to_friday():
    assert calendar_covers(2026)
    assert not calendar_covers(2027)
    assert is_working_day(date(2027, 1, 1), NONE)  # a Friday; New Year unknown without overrides
    assert not is_working_day(date(2027, 1, 2), NONE)
    assert add_working_days(local(2027, 1, 8, 12), 2, NONE) == local(2027, 1, 13)  # Mon 11, Tue 12


def test_overrides_fill_in_an_uncovered_year():
    overrides = CalendarOverrides(extra_holidays=[date(2027, 1, 1)], extra_workdays=[date(2027, 1, 2)])
    assert not is_working_day(date(2027, 1, 1), overrides)
    assert is_working_day(date(2027, 1, 2), overrides)


def test_zero_days_is_the_end_of_the_start_day_and_negative_is_refused():
    assert add_working_days(local(2026, 11, 10, 9), 0, NONE) == local(2026, 11, 11)
    with pytest.raises(ValueError):
        add_working_days(local(2026, 11, 10, 9), -1, NONE)


def test_compress_divides_the_span_by_the_time_scale():
    start = datetime(2026, 11, 10, tzinfo=UTC)
    assert compress(start, start + timedelta(hours=1), 60) == start + timedelta(minutes=1)
    assert compress(start, start + timedelta(days=3), 1) == start + timedelta(days=3)
