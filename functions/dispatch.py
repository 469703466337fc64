"""Turn a matched (app, rule, ref, commit) into exactly one queued job.

The dedup item is written first with a conditional put; whoever wins names the
job. Every later step is safe to repeat, so a redelivered webhook finishes
what a crashed one started and never makes a second job.
"""
from __future__ import annotations

from pynamodb.exceptions import DoesNotExist, PutError, UpdateError

from . import queue
from .clock import now_iso, sortable_id
from .models import DedupModel, JobModel


def dedup_key(app: str, rule: str, ref: str, sha: str, new_tag: bool = False) -> str:
    """app + rule + ref + commit. A new tag is keyed without its commit: GitHub sends both
    `push` (with the commit) and `create` (without) for it, and they must make one job."""
    return f"{app}|{rule}|{ref}|{'created' if new_tag or not sha else sha}"


def _conditional_failed(exc: Exception) -> bool:
    return "ConditionalCheckFailed" in str(exc)


def _claim_key(key: str) -> tuple[str, bool]:
    job_id = sortable_id()
    try:
        DedupModel(key, job_id=job_id, created_at=now_iso()).save(
            condition=DedupModel.key.does_not_exist() | (DedupModel.deleted == True))  # noqa: E712
        return job_id, True
    except PutError as exc:
        if not _conditional_failed(exc):
            raise
    return DedupModel.get(key).job_id, False


def _ensure_job(job_id: str, fields: dict) -> JobModel:
    try:
        return JobModel.get(job_id)
    except DoesNotExist:
        pass
    stamp = now_iso()
    job = JobModel(job_id, created_at=stamp, updated_at=stamp, **fields)
    try:
        job.save(condition=JobModel.id.does_not_exist())
    except PutError as exc:
        if not _conditional_failed(exc):
            raise
        job = JobModel.get(job_id)
    return job


def enqueue(app: dict, rule: dict, repository: str, ref: str, sha: str, *, event_id: str = "",
            trigger: str = "webhook", new_tag: bool = False, key: str | None = None) -> tuple[JobModel, bool]:
    """Queue one job for `rule` of `app` at `ref`; returns (job, created_now)."""
    target = rule["target"]
    job_id, created = _claim_key(key or dedup_key(app["name"], rule["name"], ref, sha, new_tag))
    job = _ensure_job(job_id, dict(
        app=app["name"], rule=rule["name"], group=f"{app['name']}.{target['name']}", target=target,
        repository=repository, ref=ref, sha=sha, event_id=event_id, trigger=trigger))
    if not job.enqueued:
        queue.send(job.id, job.group)
        job.update(actions=[JobModel.enqueued.set(True)])
    return job, created


def forget_tag(app: str, rule: str, ref: str) -> bool:
    """A deleted tag may be created again and must then deploy again."""
    try:
        DedupModel(dedup_key(app, rule, ref, "")).update(
            actions=[DedupModel.deleted.set(True)], condition=DedupModel.key.exists())
        return True
    except UpdateError as exc:  # a tag that never deployed
        if _conditional_failed(exc):
            return False
        raise


def manual(app: dict, rule: dict, ref: str, sha: str, trigger: str = "manual") -> JobModel:
    job, _ = enqueue(app, rule, app["repository"], ref, sha, trigger=trigger,
                     key=f"{trigger}|{sortable_id()}")
    return job
