"""`tahobuddy db backup|backups|restore APP`: an app's database backups (functions/dispatch/backups.py).

    tahobuddy db backup APP                      queue a backup; it is restore-tested before it counts
    tahobuddy db backups APP                     what was backed up, newest first, verified or why not
    tahobuddy db restore APP --from NAME --yes   queue a restore (a new volume, then a swap)
"""
from __future__ import annotations

import sys

from .client import ApiError, Client, quote, setting
from .output import emit

BACKUP_COLUMNS = ["name", "verified", "bytes", "dump_seconds", "verify_seconds", "created_at"]
JOB_COLUMNS = ["id", "app", "trigger", "pool", "ref", "state"]


def cmd_db(args) -> int:
    client = Client(setting("TAHOBUDDY_API_URL", args.api_url), setting("TAHOBUDDY_TOKEN", args.token))
    app = quote(args.app)
    if args.action == "backups":
        emit(client.get(f"/apps/{app}/backups"), args.json, BACKUP_COLUMNS, "backups")
        return 0
    if args.action == "backup":
        emit(client.post(f"/apps/{app}/backups", {}), args.json, JOB_COLUMNS, "jobs")
        return 0
    if not args.source:
        raise ApiError("usage: tahobuddy db restore APP --from NAME --yes (names: `tahobuddy db backups APP`)")
    if not args.yes:
        raise ApiError(f"a restore replaces the database of {args.app} (the app pauses while it is swapped): "
                       "add --yes to go on")
    data = client.post(f"/apps/{app}/restore", {"from": args.source, "yes": True})
    if data.get("warning"):
        print(f"warning: {data['warning']}", file=sys.stderr)
    emit(data, args.json, JOB_COLUMNS, "jobs")
    return 0


def add_commands(add) -> None:
    sp = add("db", cmd_db, "an app's database: backup, backups, restore --from NAME --yes")
    sp.add_argument("action", choices=["backup", "backups", "restore"],
                    help="backup: queue one (restore-tested before it counts); backups: list them, newest first; "
                         "restore: queue a restore from --from")
    sp.add_argument("app", help="the app's name")
    sp.add_argument("--from", dest="source", metavar="NAME", help="with restore: the backup to restore")
    sp.add_argument("--yes", action="store_true", help="with restore: yes, replace the app's database")
    sp.add_argument("--json", action="store_true", help="print JSON instead of a table")
