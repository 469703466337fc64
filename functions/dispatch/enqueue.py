"""Turn a matched (app, rule, ref, commit) into exactly one queued job.

The dedup item is written first with a conditional put: whoever wins names the
job. Every later step is safe to repeat, so a redelivered webhook finishes what a
crashed one started and never makes a second job.
"""
from __future__ import annotations

from pynamodb.exceptions import DoesNotExist, PutError, UpdateError

from contract.queues import DEFAULT_POOL

from functions.dispatch import queue
from functions.store import conditions, outbox, shards
from functions.clock import now, now_iso, sortable_id
from functions.config import settings
from functions.store.models import DedupModel, JobModel


def dedup_key(app: str, rule: str, ref: str, sha: str, new_tag: bool = False) -> str:
    """app + rule + ref + commit. A new tag is keyed without its commit: GitHub sends both
    `push` (with the commit) and `create` (without) for it, and they must make one job."""
    return f"{app}|{rule}|{ref}|{'created' if new_tag or not sha else sha}"


def _save_job(job_id: str, fields: dict, app: dict | None = None) -> JobModel:
    stamp = now_iso()
    job = JobModel(job_id, kind=shards.key("job", job_id), created_at=stamp, updated_at=stamp,
                   queued_in=fields.get("pool") or "default", **fields)
    try:
        job.save(condition=JobModel.id.does_not_exist())
        outbox.record(job, app)  # queued: GitHub and notifications hear of it (functions/notify)
        return job
    except PutError as exc:
        if not conditions.failed(exc):
            raise
    return JobModel.get(job_id)  # a concurrent delivery of the same ref saved it first


def _take(key: str, fields: dict, app: dict | None = None) -> tuple[JobModel, bool]:
    """Take the dedup key and save its job: (job, True); or (the key's job, False) if taken.

    Two conditional puts rather than one transaction: moto's TransactWriteItems slows
    down as tables grow (bench/webhook.py showed 5x), and a dedup item whose job is
    missing (a crash between the puts) is completed by whoever sees it next.
    """
    job_id, at = sortable_id(), now()
    try:  # a key past its expiry counts as gone: DynamoDB's TTL deletes it only within days
        DedupModel(key, job_id=job_id, created_at=now_iso(), expires_at=settings().retention.dedup(at)).save(
            condition=DedupModel.key.does_not_exist() | (DedupModel.deleted == True)  # noqa: E712
            | (DedupModel.expires_at <= int(at)))
        return _save_job(job_id, fields, app), True
    except PutError as exc:
        if not conditions.failed(exc):
            raise
    job_id = DedupModel.get(key).job_id
    try:
        return JobModel.get(job_id), False
    except DoesNotExist:
        return _save_job(job_id, fields, app), False


def group_of(app: dict, rule: dict, preview: int = 0) -> str:
    """app.target: its jobs run one at a time, and a newer one supersedes a queued one. A preview never
    supersedes the app."""
    return f"{app['name']}.{rule['target']['name']}" + (f".pr-{preview}" if preview else "")


def enqueue(app: dict, rule: dict, repository: str, ref: str, sha: str, *, event_id: str = "",
            trigger: str = "webhook", new_tag: bool = False, key: str | None = None,
            quiet: bool = True, preview: int = 0, send: bool = True, reason: str = "",
            group: str = "") -> tuple[JobModel, bool]:
    """Queue one job for `rule` of `app` at `ref`; returns (job, created_now).

    A duplicate whose job is still queued sends its message again: within SQS's 5-minute
    window the job id deduplicates it, after that the conditional claim lets one run.
    That is what finishes a delivery that crashed between saving the job and sending it.
    """
    target = rule["target"]
    key = key or dedup_key(app["name"], rule["name"], ref, sha, new_tag)
    # a one-off command never supersedes a deploy, nor a deploy it; backups have a group of their own
    group = group or group_of(app, rule, preview) + (".run" if trigger == "run" else "")
    fields = dict(app=app["name"], rule=rule["name"], group=group, target=target,
                  preview=preview, reason=reason,
                  pool=target.get("pool") or DEFAULT_POOL, repository=repository, ref=ref, sha=sha,
                  event_id=event_id, trigger=trigger,
                  not_before=now() + int(target.get("quiet_period") or 0) if quiet else 0)
    job, created = _take(key, fields, app)
    if job.state == "queued" and send:
        queue.send(job.id, job.group, job.target["type"], job.pool)
    return job, created


def forget_tag(app: str, rule: str, ref: str) -> bool:
    """A deleted tag may be created again and must then deploy again."""
    try:
        DedupModel(dedup_key(app, rule, ref, "")).update(
            actions=[DedupModel.deleted.set(True)], condition=DedupModel.key.exists())
        return True
    except UpdateError as exc:  # a tag that never deployed
        if conditions.failed(exc):
            return False
        raise


def manual(app: dict, rule: dict, ref: str, sha: str, trigger: str = "manual", now: bool = False) -> JobModel:
    """A deploy by hand (always a new job). `now` skips the target's quiet period; a rollback always does."""
    job, _ = enqueue(app, rule, app["repository"], ref, sha, trigger=trigger,
                     key=f"{trigger}|{sortable_id()}", quiet=not now and trigger != "rollback")
    return job
