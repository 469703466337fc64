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


def test_retention_deletes_the_oldest_beyond_keep_but_never_the_newest_verified():
    from runners.db_backup import to_delete
    records = [{"name": "a-1", "verified": "verified"}, {"name": "a-2", "verified": "failed: x"},
               {"name": "a-3", "verified": "failed: y"}, {"name": "a-4", "verified": "failed: z"}]
    assert to_delete(records, 2) == ["a-2"]  # a-1 is the last verified one
    assert to_delete(records + [{"name": "a-5", "verified": "verified"}], 2) == ["a-1", "a-2", "a-3"]
    assert to_delete(records, 10) == []


def test_restored_counts_are_compared_table_by_table():
    from runners import db_engines
    assert db_engines.parse_counts("public.notes|500\npublic.tags|2\n") == {"public.notes": 500, "public.tags": 2}
    assert db_engines.compare({"t": 5, "u": 1}, {"t": 5, "u": 1}) == ""
    assert db_engines.compare({"t": 5, "u": 1}, {"t": 4}) == "t: 5 at dump, 4 restored; u: 1 at dump, 0 restored"
