"""An app's database block: its kind, an optional image, and its backups.

    database: {kind: postgres, backup: {schedule: "0 3 * * *", keep: 7, to: "s3://BUCKET/PREFIX"}}

`to` is `s3://BUCKET[/PREFIX]` (server-side encrypted on AWS) or `dir:/ABSOLUTE/PATH` on the agent's host.
The dump is made by the agent in the database container and restore-tested in a scratch one
(runners/db_backup.py); `keep` counts backups, and the last verified one is never deleted.
"""
from __future__ import annotations

from functions.domain import schedules
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
        try:
            schedules.validate("database.backup", {"cron": backup["schedule"]})
        except InvalidInput as exc:
            raise InvalidInput("database.backup.schedule", str(exc).split(": ", 1)[-1]) from exc
    return backup


def due(schedule: str, after: float, until: float) -> float | None:
    """The newest minute in (after, until] the schedule (cron, UTC) names, if any: the sweeper's tick queues
    one backup for it (functions/dispatch/backups.py). The rule scheduler's reading (cronsim)."""
    found = schedules.due({"cron": schedule, "timezone": "UTC"}, after, until)
    return found.tick if found else None
