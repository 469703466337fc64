import calendar

import pytest

from functions.domain import apps, databases
from functions.errors import InvalidInput

pytestmark = pytest.mark.unit

APP = {"name": "shop", "repository": "https://github.com/o/shop.git"}


def test_a_backup_block_is_checked_and_gets_its_default_keep():
    app = apps.validate({**APP, "database": {"kind": "postgres", "backup": {"to": "s3://bkt/shop", "schedule":
                                                                            "0 3 * * *"}}})
    assert app["database"] == {"kind": "postgres", "backup": {"to": "s3://bkt/shop", "schedule": "0 3 * * *",
                                                              "keep": 7}}


@pytest.mark.parametrize("backup, field", [
    ({"to": "ftp://x"}, "database.backup.to"),
    ({"to": "dir:relative"}, "database.backup.to"),
    ({"to": "dir:/srv/../etc"}, "database.backup.to"),
    ({"to": "dir:/srv", "keep": 0}, "database.backup.keep"),
    ({"to": "dir:/srv", "schedule": "0 25 * * *"}, "database.backup.schedule"),
    ({"to": "dir:/srv", "schedule": "@daily"}, "database.backup.schedule"),
    ({"keep": 3}, "database.backup.to"),
    ({"to": "dir:/srv", "every": 3}, "database.backup.every"),
])
def test_a_wrong_backup_names_its_field(backup, field):
    with pytest.raises(InvalidInput) as err:
        apps.validate({**APP, "database": {"kind": "mysql", "backup": backup}})
    assert err.value.field == field


def at(text: str) -> float:
    return float(calendar.timegm(tuple(map(int, text.replace("-", " ").replace(":", " ").split())) + (0, 0, 0)))


def test_a_schedule_is_due_once_for_the_last_minute_it_names_since_the_last_tick():
    assert databases.due("0 3 * * *", at("2026-12-05 02:59"), at("2026-12-05 03:00")) == at("2026-12-05 03:00")
    assert databases.due("0 3 * * *", at("2026-12-05 03:00"), at("2026-12-05 03:01")) is None  # already taken
    assert databases.due("*/15 * * * *", at("2026-12-05 03:01"), at("2026-12-05 03:40")) == at("2026-12-05 03:30")
    # a week of outage makes one backup, the most recent
    assert databases.due("0 3 * * *", at("2026-11-28 00:00"), at("2026-12-05 04:00")) == at("2026-12-05 03:00")
    # Saturday 2026-12-05 is weekday 6; both day fields restricted: either matches (cron's rule)
    assert databases.due("0 3 1 * 6", at("2026-12-05 02:00"), at("2026-12-05 04:00")) == at("2026-12-05 03:00")
    assert databases.due("0 3 * * 1", at("2026-12-05 02:00"), at("2026-12-05 04:00")) is None
