"""The calendar's yearly decisions and sessions: what an operator may write, and what is refused."""

from datetime import date, datetime, time, timedelta
from pathlib import Path

import holidays
import pytest

from routing.calendar import (
    VIETNAM,
    CalendarDataError,
    DecisionEntry,
    WorkingCalendar,
    YearDecision,
    load_calendar_data,
)


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return directory


def entry(day: date) -> DecisionEntry:
    return DecisionEntry(day=day, source="test decision")


def test_the_packaged_data_loads_and_lists_only_days_the_holidays_package_lacks():
    data = load_calendar_data()
    assert {d.year for d in data.decisions} >= {2024, 2025, 2026}
    for decision in data.decisions:
        library = holidays.country_holidays("VN", years=decision.year)
        assert not decision.days("days_off") & set(library), decision.year
        assert decision.days("cancelled_days_off") <= set(library), decision.year
        assert all(e.source.strip() for e in decision.days_off + decision.make_up_working_days)


def test_a_day_off_already_known_to_the_holidays_package_is_not_counted_twice():
    plain = WorkingCalendar()
    repeated = WorkingCalendar(decisions=[YearDecision(year=2025, days_off=(entry(date(2025, 5, 2)),))])
    start = datetime(2025, 4, 29, 10, tzinfo=VIETNAM)
    assert repeated.add_working_days(start, 2) == plain.add_working_days(start, 2)


def test_a_cancelled_library_day_off_becomes_a_working_day():
    calendar = WorkingCalendar(decisions=[YearDecision(year=2027, cancelled_days_off=(entry(date(2027, 9, 3)),))])
    assert calendar.is_working_day(date(2027, 9, 3))
    assert date(2027, 9, 3) not in calendar.days_off(2027)


def test_an_operator_adds_a_year_by_dropping_a_file_in_the_decisions_folder(tmp_path):
    write(tmp_path, "decisions/2027.yaml", """
year: 2027
days_off:
  - {date: 2027-04-29, source: "Decision X/2027", verified: true}
make_up_working_days:
  - {date: 2027-05-08, source: "Decision X/2027"}
""")
    calendar = WorkingCalendar.from_data(load_calendar_data(tmp_path))
    assert not calendar.is_working_day(date(2027, 4, 29))
    assert calendar.is_working_day(date(2027, 5, 8))
    assert calendar.working_day_length == timedelta(hours=8)


def test_sessions_come_from_the_data_directory(tmp_path):
    write(tmp_path, "sessions.yaml", 'sessions:\n- {start: "07:00", end: "11:00"}\n- {start: "13:30", end: "17:00"}\n')
    data = load_calendar_data(tmp_path)
    assert [(s.start, s.end) for s in data.sessions] == [(time(7), time(11)), (time(13, 30), time(17))]


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("year: 2025\ndays_off:\n  - {date: 2026-05-02, source: s}\n", "not in the declared year"),
        ("year: 2025\nmake_up_working_days:\n  - {date: 2025-04-25, source: s}\n", "must be a weekend day"),
        ("year: 2025\ndays_off:\n  - {date: 2025-04-26, source: s}\n", "already a weekly rest day"),
        (
            "year: 2025\ndays_off:\n  - {date: 2025-05-05, source: s}\n"
            "cancelled_days_off:\n  - {date: 2025-05-05, source: s}\n",
            "listed twice",
        ),
        ("year: 2025\ndays_off:\n  - {date: 2025-05-05}\n", "source"),
        ("year: 2025\ndays_off:\n  - {date: 2025-05-05, source: ''}\n", "source"),
        ("year: 2025\ndays_of: []\n", "days_of"),
        ("year: 2025\ndays_off:\n  - {date: 20250505, source: s}\n", "YYYY-MM-DD"),
    ],
)
def test_an_invalid_year_file_is_refused_with_the_reason(tmp_path, body, problem):
    write(tmp_path, "decisions/2025.yaml", body)
    with pytest.raises(CalendarDataError, match=problem):
        load_calendar_data(tmp_path)


def test_a_year_file_must_be_named_after_its_year(tmp_path):
    write(tmp_path, "decisions/2024.yaml", "year: 2025\n")
    with pytest.raises(CalendarDataError, match=r"name it 2025\.yaml"):
        load_calendar_data(tmp_path)


def test_a_stray_file_in_the_decisions_folder_is_refused_not_ignored(tmp_path):
    write(tmp_path, "decisions/2027.yml", "year: 2027\n")
    with pytest.raises(CalendarDataError, match=r"only <year>\.yaml"):
        load_calendar_data(tmp_path)


def test_a_make_up_day_on_a_public_holiday_is_refused():
    # Saturday 6 February 2027 is Tết.
    with pytest.raises(CalendarDataError, match="public holidays"):
        WorkingCalendar(decisions=[YearDecision(year=2027, make_up_working_days=(entry(date(2027, 2, 6)),))])


def test_two_decisions_for_one_year_are_refused():
    with pytest.raises(CalendarDataError, match="two decisions"):
        WorkingCalendar(decisions=[YearDecision(year=2027), YearDecision(year=2027)])


@pytest.mark.parametrize(
    "sessions",
    [
        "sessions:\n  - {start: 07:30, end: 11:30}\n",  # unquoted: YAML reads base-60 numbers
        'sessions:\n  - {start: "11:30", end: "07:30"}\n',
        'sessions:\n  - {start: "07:30", end: "12:00"}\n  - {start: "11:30", end: "17:30"}\n',
        "sessions: []\n",
    ],
)
def test_invalid_sessions_are_refused(tmp_path, sessions):
    write(tmp_path, "sessions.yaml", sessions)
    with pytest.raises(CalendarDataError):
        load_calendar_data(tmp_path)
