"""A rule's `schedule`: checked when saved, and which tick is due at an injected time."""
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from functions.domain import rules, schedules
from functions.errors import InvalidInput

pytestmark = pytest.mark.unit
BERLIN = ZoneInfo("Europe/Berlin")
NIGHTLY = {"cron": "0 3 * * *", "timezone": "Europe/Berlin", "overlap": "skip"}


def at(day, hour, minute, second=0) -> float:
    return datetime(2026, 12, day, hour, minute, second, tzinfo=BERLIN).timestamp()


def test_a_tick_is_due_once_in_the_minute_it_falls_in():
    due = schedules.due(NIGHTLY, at(10, 2, 59, 30), at(10, 3, 0, 20))
    assert (due.tick, due.missed, due.note(NIGHTLY)) == (at(10, 3, 0), 0, "scheduled tick Thu 2026-12-10 03:00 CET")
    assert schedules.due(NIGHTLY, due.tick, at(10, 3, 1, 20)) is None     # handled: the next minute has none
    assert schedules.due(NIGHTLY, at(10, 2, 59), at(10, 3, 0)) is not None  # a tick at exactly `at` counts


def test_ticks_missed_in_an_outage_run_once_late_and_say_so():
    due = schedules.due(NIGHTLY, at(7, 3, 0), at(10, 9, 30))
    assert (due.tick, due.missed) == (at(10, 3, 0), 2)
    assert due.note(NIGHTLY) == ("scheduled tick Thu 2026-12-10 03:00 CET, run late (23400 s) once for it and 2 "
                                 "missed tick(s) before it (the sweeper did not run)")
    one_late = schedules.due(NIGHTLY, at(9, 3, 0), at(10, 3, 20))
    assert one_late.missed == 0 and "run late (1200 s" in one_late.note(NIGHTLY)


def test_a_week_long_outage_of_a_minutely_schedule_is_counted_within_a_bound():
    every = {"cron": "* * * * *", "timezone": "UTC"}
    due = schedules.due(every, at(1, 0, 0), at(8, 0, 0))
    assert due.missed == schedules.MAX_COUNTED and "1000+ missed" in due.note(every)


def test_the_next_tick_is_in_the_schedules_timezone():
    assert schedules.when(schedules.next_tick(NIGHTLY, at(10, 3, 0)), NIGHTLY) == "Fri 2026-12-11 03:00 CET"


def _rule(schedule, match=None, target=None):
    return rules.validate("rules[0]", {"match": match or {"tag": "v*"}, "schedule": schedule,
                                       "target": target or {"type": "docker"}}, 0)


def test_the_rule_keeps_its_schedule_with_defaults():
    assert _rule({"cron": "30 2 * * MON-FRI"})["schedule"] == {"cron": "30 2 * * MON-FRI", "timezone": "UTC",
                                                               "overlap": "skip"}


@pytest.mark.parametrize("schedule, where", [
    ({"cron": "0 3 * *"}, "rules[0].schedule.cron"),
    ({"cron": "0 25 * * *"}, "rules[0].schedule.cron"),
    ({"cron": "0 3 * * * *"}, "rules[0].schedule.cron"),
    ({"cron": "0 3 * * *", "timezone": "Mars/Olympus"}, "rules[0].schedule.timezone"),
    ({"cron": "0 3 * * *", "overlap": "always"}, "rules[0].schedule.overlap"),
    ({"cron": "0 3 * * *", "command": "make report"}, "rules[0].schedule.command"),
])
def test_a_schedule_the_sweeper_could_not_run_is_refused_when_saved(schedule, where):
    with pytest.raises(InvalidInput) as err:
        _rule(schedule)
    assert err.value.field == where


def test_a_scheduled_command_runs_in_a_docker_targets_image_only():
    """`command` is a `run` job in the serving image: only a docker target serves one."""
    kept = _rule({"cron": "0 3 * * *", "command": ["./manage.py", "clearsessions"]})["schedule"]
    assert kept["command"] == ["./manage.py", "clearsessions"]
    with pytest.raises(InvalidInput) as err:
        _rule({"cron": "0 3 * * *", "command": ["make", "report"]},
              target={"type": "shell", "commands": [["true"]]})
    assert err.value.field == "rules[0].schedule.command" and "docker" in str(err.value)


def test_a_preview_rule_takes_no_schedule():
    with pytest.raises(InvalidInput) as err:
        _rule({"cron": "0 3 * * *"}, match={"pull_request": {"base": "main"}})
    assert err.value.field == "rules[0].schedule"
