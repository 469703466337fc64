"""Backup and restore jobs of an app's database: asked for by hand (`tahobuddy db backup|restore`) or
due on the sweeper's tick (`database.backup.schedule`). Each is a job on the app's first docker rule's
pool, in a group of its own (`APP.database`), so a deploy never supersedes a backup nor the reverse.
The job's target carries the `database.backup` block as it was when the job was queued."""
from __future__ import annotations

from functions.clock import now, sortable_id
from functions.dispatch import gate
from functions.domain import databases, previews
from functions.errors import InvalidInput
from functions.store import app_store, backups, jobs

LOOK_BACK = 86400  # a schedule's slot missed for up to a day (the sweeper stopped) still makes its backup


def _job(app: dict, trigger: str, ref: str, key: str) -> tuple:
    block = (app.get("database") or {}).get("backup")
    if not block:
        raise InvalidInput("database.backup", f"app {app['name']} declares no database.backup "
                                              "{to: s3://BUCKET/PREFIX | dir:/PATH, keep, schedule}")
    rule = next((r for r in app.get("rules", []) if r["target"]["type"] == "docker"
                 and not previews.is_preview_rule(r)), None)
    if rule is None:
        raise InvalidInput("rules", f"app {app['name']} has no docker rule: its database runs nowhere")
    rule = {**rule, "target": {**rule["target"], "backup": block}}
    return gate.admit(gate.Ask(app, rule, ref, "", trigger, trigger=trigger, key=key, quiet=False,
                               group=f"{app['name']}.database"))


def backup(name: str) -> dict:
    job, _ = _job(app_store.get(name), "backup", "", f"backup|{name}|{sortable_id()}")
    return jobs.to_dict(job)


def restore(name: str, body: dict) -> dict:
    source = body.get("from")
    if not isinstance(source, str) or not source:
        raise InvalidInput("from", "is required: the name of a backup (`tahobuddy db backups APP`)")
    if body.get("yes") is not True:
        raise InvalidInput("yes", "a restore replaces the app's database: send yes: true to go on")
    found = backups.get(name, source)
    job, _ = _job(app_store.get(name), "restore", source, f"restore|{name}|{sortable_id()}")
    out = jobs.to_dict(job)
    if found["verified"] != "verified":
        out["warning"] = f"backup {source} was not verified ({found['verified'] or 'never checked'})"
    return out


def scheduled(at: float | None = None) -> list[str]:
    """The backup jobs due now: one per app and slot (the slot is the dedup key), however often this runs."""
    at, queued = at or now(), []
    for app in app_store.listing():
        block = (app.get("database") or {}).get("backup") or {}
        if not block.get("schedule"):
            continue
        slot = databases.due(block["schedule"], at - LOOK_BACK, at)
        if slot is None:
            continue
        try:
            job, created = _job(app, "backup", "", f"backup|{app['name']}|{int(slot)}")
        except InvalidInput:
            continue  # no docker rule: nothing can run it (the app's page says so when asked by hand)
        if created:
            queued.append(job.id)
    return queued
