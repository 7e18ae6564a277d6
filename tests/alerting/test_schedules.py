"""Schedules: validation naming the field, the next expected slot in UTC (intervals, cron in a
time zone across both daylight-saving changes, with a fixed clock), and the schedule in words."""
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from webapp.services.alerting.schedule_words import preview, schedule_words
from webapp.services.alerting.schedules import (
    InvalidSchedule,
    moments,
    next_expected,
    validate_grace,
    validate_schedule,
)

BERLIN = ZoneInfo("Europe/Berlin")


def at(*parts) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def berlin(moment: datetime) -> str:
    return f"{moment.astimezone(BERLIN):%Y-%m-%d %H:%M %Z}"


def slots(schedule: dict, after: datetime, count: int) -> list[datetime]:
    found = []
    for _ in range(count):
        after = next_expected(schedule, after)
        found.append(after)
    return found


def test_an_interval_expects_the_next_run_that_many_seconds_later():
    assert next_expected({"every_seconds": 30}, at(2026, 1, 5, 9, 0, 10)) == at(2026, 1, 5, 9, 0, 40)


def test_cron_is_read_in_the_jobs_time_zone_and_answered_in_utc():
    schedule = {"cron": "0 2 * * *", "timezone": "Europe/Berlin"}
    assert next_expected(schedule, at(2026, 1, 5, 12)) == at(2026, 1, 6, 1)  # 02:00 CET
    assert next_expected(schedule, at(2026, 7, 5, 12)) == at(2026, 7, 6, 0)  # 02:00 CEST


def test_a_slot_is_strictly_after_the_given_moment():
    schedule = {"cron": "*/15 * * * *", "timezone": "UTC"}
    assert next_expected(schedule, at(2026, 1, 5, 10, 15)) == at(2026, 1, 5, 10, 30)
    assert next_expected(schedule, at(2026, 1, 5, 10, 14, 59)) == at(2026, 1, 5, 10, 15)


def test_spring_forward_skips_the_local_time_that_does_not_exist():
    # 2026-03-29: Berlin's clocks go from 02:00 CET straight to 03:00 CEST; 02:30 never happens.
    daily = {"cron": "30 2 * * *", "timezone": "Europe/Berlin"}
    assert [berlin(slot) for slot in slots(daily, at(2026, 3, 28, 12), 2)] == [
        "2026-03-30 02:30 CEST", "2026-03-31 02:30 CEST"]
    half_hourly = {"cron": "*/30 * * * *", "timezone": "Europe/Berlin"}
    assert [berlin(slot) for slot in slots(half_hourly, at(2026, 3, 29, 0, 15), 3)] == [
        "2026-03-29 01:30 CET", "2026-03-29 03:00 CEST", "2026-03-29 03:30 CEST"]


def test_fall_back_fires_a_repeated_local_time_once():
    # 2026-10-25: Berlin's clocks go back from 03:00 CEST to 02:00 CET; 02:00–02:59 happens twice.
    daily = {"cron": "30 2 * * *", "timezone": "Europe/Berlin"}
    found = slots(daily, at(2026, 10, 24, 12), 2)
    assert found == [at(2026, 10, 25, 0, 30), at(2026, 10, 26, 1, 30)]  # the first 02:30 only
    assert [berlin(slot) for slot in found] == ["2026-10-25 02:30 CEST", "2026-10-26 02:30 CET"]
    half_hourly = {"cron": "*/30 * * * *", "timezone": "Europe/Berlin"}
    assert [berlin(slot) for slot in slots(half_hourly, at(2026, 10, 24, 23, 45), 4)] == [
        "2026-10-25 02:00 CEST", "2026-10-25 02:30 CEST", "2026-10-25 03:00 CET", "2026-10-25 03:30 CET"]


def test_a_moment_inside_the_repeated_hour_still_gets_a_later_slot():
    half_hourly = {"cron": "*/30 * * * *", "timezone": "Europe/Berlin"}
    second_pass = at(2026, 10, 25, 1, 10)  # 02:10 CET, after 02:30 CEST already came
    assert next_expected(half_hourly, second_pass) == at(2026, 10, 25, 2, 0)  # 03:00 CET


def test_moments_add_the_grace_to_the_expected_time():
    expected, missing = moments({"every_seconds": 60}, 300, at(2026, 1, 5, 9))
    assert (expected, missing) == (at(2026, 1, 5, 9, 1), at(2026, 1, 5, 9, 6))
    assert moments(None, 300, at(2026, 1, 5, 9)) == (None, None)


@pytest.mark.parametrize(("schedule", "field"), [
    ("every 5 minutes", "schedule"),
    ({"every_seconds": 0}, "schedule.every_seconds"),
    ({"every_seconds": 1.5}, "schedule.every_seconds"),
    ({"every_seconds": True}, "schedule.every_seconds"),
    ({"every_seconds": 60, "cron": "* * * * *"}, "schedule"),
    ({"cron": "* * * * *", "timezone": "UTC", "jitter": 5}, "schedule"),
    ({"timezone": "UTC"}, "schedule"),
    ({"cron": "*/15 * * *", "timezone": "UTC"}, "schedule.cron"),
    ({"cron": "0 */15 * * * *", "timezone": "UTC"}, "schedule.cron"),
    ({"cron": "@daily", "timezone": "UTC"}, "schedule.cron"),
    ({"cron": "61 * * * *", "timezone": "UTC"}, "schedule.cron"),
    ({"cron": "0 0 31 2 *", "timezone": "UTC"}, "schedule.cron"),
    ({"cron": "*/15 * * * *", "timezone": "Mars/Olympus_Mons"}, "schedule.timezone"),
    ({"cron": "*/15 * * * *", "timezone": "../../etc/passwd"}, "schedule.timezone"),
    ({"cron": "*/15 * * * *", "timezone": 1}, "schedule.timezone"),
])
def test_invalid_schedules_name_the_field(schedule, field):
    with pytest.raises(InvalidSchedule) as refused:
        validate_schedule(schedule)
    assert list(refused.value.fields) == [field]


def test_valid_schedules_are_cleaned():
    assert validate_schedule(None) is None
    assert validate_schedule({"every_seconds": 1}) == {"every_seconds": 1}
    assert validate_schedule({"cron": " 0  2 * * 1-5 "}) == {"cron": "0 2 * * 1-5", "timezone": "UTC"}
    assert validate_schedule({"cron": "*/15 * * * *", "timezone": "Europe/Berlin"}) == {
        "cron": "*/15 * * * *", "timezone": "Europe/Berlin"}


@pytest.mark.parametrize(("value", "ok"), [(None, 300), (0, 0), (90, 90), (-1, None), ("300", None), (False, None)])
def test_grace_is_a_whole_number_of_seconds_defaulting_to_five_minutes(value, ok):
    if ok is None:
        with pytest.raises(InvalidSchedule) as refused:
            validate_grace(value)
        assert list(refused.value.fields) == ["grace_seconds"]
    else:
        assert validate_grace(value) == ok


def test_preview_says_the_schedule_and_its_next_slot_in_the_jobs_zone():
    now = at(2026, 1, 5, 9, 7)  # 10:07 CET
    schedule = {"cron": "*/15 * * * *", "timezone": "Europe/Berlin"}
    expected, missing = moments(schedule, 300, now)
    assert preview(schedule, 300, expected, missing, now) == "every 15 minutes; next expected 10:15 CET, late after 10:20"
    interval = {"every_seconds": 30}
    expected, missing = moments(interval, 300, now)
    assert preview(interval, 300, expected, missing, now) == (
        "every 30 seconds; next expected 09:07:30 UTC, late after 09:12:30")
    assert preview(schedule, 300, None, None, now, is_paused=True) == "every 15 minutes; paused: no runs are expected"


def test_preview_gives_the_day_when_the_slot_is_not_today():
    now = at(2026, 3, 28, 12)
    schedule = {"cron": "30 2 * * *", "timezone": "Europe/Berlin"}
    expected, missing = moments(schedule, 600, now)
    assert preview(schedule, 600, expected, missing, now) == (
        "every day at 02:30; next expected Mon 30 Mar 02:30 CEST, late after Mon 30 Mar 02:40")


@pytest.mark.parametrize(("expression", "words"), [
    ("* * * * *", "every minute"), ("*/15 * * * *", "every 15 minutes"), ("5 * * * *", "every hour at :05"),
    ("15 */2 * * *", "every 2 hours at :15"), ("0 2 * * *", "every day at 02:00"),
    ("0 9 * * 1-5", "at 09:00 on Mon–Fri"), ("0 0 1 * *", "at 00:00 on day 1 of each month"),
    ("*/5 9-17 * * *", "cron “*/5 9-17 * * *”"),
])
def test_cron_expressions_in_words(expression, words):
    assert schedule_words({"cron": expression, "timezone": "UTC"}) == words


def test_intervals_in_words():
    assert [schedule_words({"every_seconds": seconds}) for seconds in (1, 30, 60, 900, 7200, 86400)] == [
        "every second", "every 30 seconds", "every minute", "every 15 minutes", "every 2 hours", "every day"]
