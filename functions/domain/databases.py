"""An app's database block: its kind, an optional image, and its backups.

    database: {kind: postgres, backup: {schedule: "0 3 * * *", keep: 7, to: "s3://BUCKET/PREFIX"}}

`to` is `s3://BUCKET[/PREFIX]` (server-side encrypted on AWS) or `dir:/ABSOLUTE/PATH` on the agent's host.
The dump is made by the agent in the database container and restore-tested in a scratch one
(runners/db_backup.py); `keep` counts backups, and the last verified one is never deleted.
"""
from __future__ import annotations

import re

from functions.domain.fields import Field, check
from functions.errors import InvalidInput

KINDS = ("postgres", "mysql", "redis")
BACKUP_TO = r"^(s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[A-Za-z0-9!_.*'()/-]*)?|dir:/.*)$"
BACKUP_FIELDS = (
    Field("schedule", "str", examples=("0 3 * * *",),
          doc="when the sweeper queues a backup: five cron fields in UTC; absent: by hand only "
              "(`tahobuddy db backup APP`)"),
    Field("keep", "int", default=7, minimum=1, examples=(14,),
          doc="backups kept at the destination; the newest verified one is never deleted, however old"),
    Field("to", "str", required=True, pattern=BACKUP_TO, hint="must be s3://BUCKET/PREFIX or dir:/ABSOLUTE/PATH",
          examples=("s3://my-backups/blog", "dir:/var/backups/tahobuddy"),
          doc="where dumps go: an S3 bucket and prefix (server-side encrypted), or a directory on the agent's host"),
)
DATABASE_FIELDS = (
    Field("kind", "str", required=True, choices=KINDS, doc="which database"),
    Field("image", "str", examples=("postgres:16",),
          doc="the database's image (default: the agent's db_images setting)"),
    Field("backup", "block", examples=({"schedule": "0 3 * * *", "keep": 7, "to": "s3://my-backups/blog"},),
          doc="backups made in the database container, each restore-tested before it counts"),
)
_CRON_PART = re.compile(r"^(\*|[0-9]+(-[0-9]+)?)(/[0-9]+)?(,(\*|[0-9]+(-[0-9]+)?)(/[0-9]+)?)*$")
_CRON_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))


def validate(doc) -> dict:
    db = check("database", doc, DATABASE_FIELDS)
    if "backup" in db:
        db["backup"] = _backup(doc["backup"])
    return db


def _backup(doc) -> dict:
    backup = check("database.backup", doc, BACKUP_FIELDS)
    if ".." in backup["to"].split("/"):
        raise InvalidInput("database.backup.to", "must be s3://BUCKET/PREFIX or dir:/ABSOLUTE/PATH (no '..')")
    if "schedule" in backup:
        cron_fields(backup["schedule"])
    return backup


def cron_fields(text: str) -> list[set[int]]:
    """The minutes, hours, days of month, months and weekdays (0-6, Sunday 0) a five-field cron names."""
    parts = text.split()
    if len(parts) != 5 or not all(_CRON_PART.match(p) for p in parts):
        raise InvalidInput("database.backup.schedule", 'must be five cron fields, like "0 3 * * *" (UTC)')
    out = []
    for part, (low, high) in zip(parts, _CRON_RANGES):
        values: set[int] = set()
        for item in part.split(","):
            span, _, step = item.partition("/")
            first, last = (low, high) if span == "*" else (int(span.split("-")[0]), int(span.split("-")[-1]))
            if not low <= first <= last <= high or (step and int(step) < 1):
                raise InvalidInput("database.backup.schedule", f"{item!r} is outside {low}-{high}")
            values.update(range(first, last + 1, int(step or 1)))
        out.append(values)
    out[4] = {d % 7 for d in out[4]}
    return out


def due(schedule: str, after: float, until: float) -> float | None:
    """The last minute (epoch seconds, UTC) in (after, until] the schedule names, if any: the sweeper's
    tick queues one backup for it. Looks back at most a day, so a long outage makes one backup, not many."""
    import calendar
    import time
    minutes, hours, days, months, weekdays = cron_fields(schedule)
    day_limited, weekday_limited = schedule.split()[2] != "*", schedule.split()[4] != "*"
    at = int(until) // 60 * 60
    stop = max(after, until - 86400)
    while at > stop:
        t = time.gmtime(at)
        weekday = (t.tm_wday + 1) % 7
        day_ok = ((t.tm_mday in days or weekday in weekdays) if day_limited and weekday_limited
                  else t.tm_mday in days and weekday in weekdays)
        if t.tm_min in minutes and t.tm_hour in hours and t.tm_mon in months and day_ok:
            return float(calendar.timegm(t))
        at -= 60
    return None
