"""Backup and restore jobs of the docker runner: the job (its app's `database.backup` block and, for a
restore, the backup's name in `ref`) turned into runners/db_backup.py calls and a JobResult.

A backup whose restore test failed is a failed job (so it notifies like any job), and its record still
goes to the store with the reason: `tahobuddy db restore` warns before using it.
"""
from __future__ import annotations

from docker.errors import NotFound

from . import db_backup
from . import docker_convert as convert
from .backup_store import StoreError, open_store
from .base import JobResult, JobSpec, Log, Reason, RunContext, Status


def run(client, spec: JobSpec, ctx: RunContext, log: Log) -> JobResult:
    db = spec.app_spec.get("database") or {}
    block = spec.target.get("backup") or db.get("backup") or {}  # as it was when the job was queued
    if not block.get("to"):
        return JobResult.never_ran(Reason.REFUSED, f"app {spec.app} declares no database.backup.to")
    name = convert.db_name(spec.app)
    try:
        client.containers.get(name)
    except NotFound:
        return JobResult.never_ran(Reason.REFUSED, f"app {spec.app} has no database container ({name}) on this "
                                   "agent's Docker Engine: deploy it first, or back it up where it runs")
    try:
        store = open_store(block["to"], ctx.settings.aws_endpoint, ctx.settings.region)
        if spec.trigger == "restore":
            done = db_backup.restore(client, db["kind"], name, store, spec.ref, log)
            return JobResult.ok(f"restored {spec.ref}; the database was down {done['paused_seconds']} s",
                                backup=done)
        record = db_backup.backup(client, spec.app, db["kind"], name, store, int(block.get("keep") or 7), log)
    except (db_backup.BackupError, StoreError) as exc:
        return JobResult.failed(str(exc), 1, Reason.NONE)
    summary = (f"backup {record['name']}: {record['bytes']} bytes, dumped in {record['dump_seconds']} s, "
               f"{record['verified']} in {record['verify_seconds']} s")
    if record["verified"] != "verified":
        return JobResult(Status.FAILED, 1, Reason.NONE, summary, backup=record)
    return JobResult.ok(summary, backup=record)
