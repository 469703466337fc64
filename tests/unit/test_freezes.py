"""`freeze` windows: checked when saved, and whether a time falls in one (an injected clock)."""
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from contract.states import JobState
from functions.domain import apps, freezes
from functions.errors import InvalidInput
from functions.notify import github

pytestmark = pytest.mark.unit
BERLIN = ZoneInfo("Europe/Berlin")
WEEKEND = {"days": ["fri", "sat", "sun"], "from": "16:00", "to": "08:00", "timezone": "Europe/Berlin"}


def at(day, hour, minute=0, month=12) -> float:
    return datetime(2026, month, day, hour, minute, tzinfo=BERLIN).timestamp()


def test_a_weekly_window_freezes_each_listed_evening_until_the_next_morning():
    windows = freezes.validate("freeze", [WEEKEND])
    assert freezes.frozen_until(windows, at(11, 15, 59)) is None                    # Friday afternoon: open
    assert freezes.frozen_until(windows, at(11, 16)).note() == "frozen until Sat 08:00 Europe/Berlin"
    assert freezes.frozen_until(windows, at(12, 9)) is None                          # Saturday morning: open
    sunday = freezes.frozen_until(windows, at(13, 20))
    assert (sunday.until, sunday.note()) == (at(14, 8), "frozen until Mon 08:00 Europe/Berlin")
    assert freezes.frozen_until(windows, at(14, 8)) is None                          # ends at 08:00 sharp


def test_touching_windows_are_one_freeze_and_a_one_off_range_counts_its_end_day_from_midnight():
    windows = freezes.validate("freeze", [
        {"start": "2026-12-24", "end": "2026-12-28 08:00", "timezone": "Europe/Berlin"},
        {"days": ["mon"], "from": "08:00", "to": "12:00", "timezone": "Europe/Berlin"}])
    held = freezes.frozen_until(windows, at(23, 23, 59))
    assert held is None
    held = freezes.frozen_until(windows, at(24, 0))
    assert (held.until, held.note()) == (at(28, 12), "frozen until Mon 12:00 Europe/Berlin")  # 28 Dec is a Monday


def test_a_daytime_window_ends_the_same_day_and_a_timezone_is_its_own():
    windows = freezes.validate("freeze", [{"days": ["wed"], "from": "09:00", "to": "17:00", "timezone": "UTC"}])
    wednesday_noon_utc = datetime(2026, 12, 9, 12, 0, tzinfo=ZoneInfo("UTC")).timestamp()
    assert freezes.frozen_until(windows, wednesday_noon_utc).note() == "frozen until Wed 17:00 UTC"
    assert freezes.frozen_until(windows, wednesday_noon_utc + 6 * 3600) is None


@pytest.mark.parametrize("window, where", [
    ({"days": ["fri"], "from": "16:00", "timezone": "UTC"}, "freeze[0]"),
    ({"days": ["fri"], "from": "16:00", "to": "08:00", "start": "2026-12-24", "end": "2026-12-25"}, "freeze[0]"),
    ({"days": ["friday"], "from": "16:00", "to": "08:00"}, "freeze[0].days"),
    ({"days": ["fri"], "from": "4pm", "to": "08:00"}, "freeze[0].from"),
    ({"start": "2026-12-24", "end": "2026-12-24"}, "freeze[0].end"),
    ({"start": "2026-12-24", "end": "2026-12-25", "timezone": "Mars/Olympus"}, "freeze[0].timezone"),
    ({"start": "2026-13-24", "end": "2026-12-25"}, "freeze[0].start"),          # the pattern's shape, no such date
    ({"start": "2026-12-24", "end": "2026-12-25 24:30"}, "freeze[0].end"),       # (was a 500: schemathesis found it)
])
def test_a_window_is_checked_when_the_app_is_saved(window, where):
    with pytest.raises(InvalidInput) as err:
        apps.validate({"name": "blog", "repository": "me/blog", "freeze": [window], "rules": []})
    assert str(err.value).startswith(f"{where}:"), err.value


def test_a_frozen_job_is_pending_on_the_forge_and_says_until_when():
    change = {"state": JobState.FROZEN.value, "reason": "frozen until Mon 08:00 Europe/Berlin; scheduled tick"}
    assert github.outcome(change) == ("pending", "frozen until Mon 08:00 Europe/Berlin")
