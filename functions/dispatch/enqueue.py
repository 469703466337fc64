"""Turn a matched (app, rule, ref, commit) into exactly one queued job.

The dedup item, the job and its first outbox item are one transaction whose dedup put is
conditional: whoever wins names the job. Sending its message is safe to repeat, so a redelivered
webhook finishes what a crashed one started and never makes a second job.
"""
from __future__ import annotations

from pynamodb.exceptions import DoesNotExist, TransactWriteError, UpdateError

from contract.queues import DEFAULT_POOL
from contract.states import JobState

from functions.dispatch import approvals, queue
from functions.domain import freezes
from functions.domain.approvals import UNGATED, gates
from functions.store import conditions, outbox, shards
from functions.clock import now, now_iso, sortable_id
from functions.config import settings
from functions.store.models import DedupModel, JobModel, transaction


def dedup_key(app: str, rule: str, ref: str, sha: str, new_tag: bool = False) -> str:
    """app + rule + ref + commit. A new tag is keyed without its commit: GitHub sends both
    `push` (with the commit) and `create` (without) for it, and they must make one job."""
    return f"{app}|{rule}|{ref}|{'created' if new_tag or not sha else sha}"


def new_job(fields: dict, job_id: str | None = None) -> JobModel:
    job_id = job_id or sortable_id()
    stamp = now_iso()
    return JobModel(job_id, shard=shards.key("job", job_id), created_at=stamp, updated_at=stamp,
                    queued_in=fields.get("pool") or "default", **fields)


def stage_new(tx, key: str, job: JobModel, at: float) -> None:
    """The writes that make a job, added to one TransactWriteItems: its dedup key (taken only if free:
    absent, deleted, or past its expiry, which DynamoDB's TTL honours only within days), the job, and
    its `queued` outbox item (store/outbox.py)."""
    tx.save(DedupModel(key, job_id=job.id, created_at=now_iso(), expires_at=settings().retention.dedup(at)),
            condition=DedupModel.key.does_not_exist() | (DedupModel.deleted == True)  # noqa: E712
            | (DedupModel.expires_at <= int(at)))
    tx.save(job, condition=JobModel.id.does_not_exist())
    outbox.stage(tx, job)


def _take(key: str, fields: dict) -> tuple[JobModel, bool]:
    """Take the dedup key and save its job, as one transaction: (job, True); or (the key's job,
    False) if the key was taken. A dedup key without its job (written by a version that made them
    in two writes, and stopped between them) is completed here."""
    job = new_job(fields)
    try:
        with transaction() as tx:
            stage_new(tx, key, job, now())
        return job, True
    except TransactWriteError as exc:
        if not conditions.failed(exc):
            raise
    job_id = DedupModel.get(key).job_id
    try:
        return JobModel.get(job_id), False
    except DoesNotExist:
        pass
    job = new_job(fields, job_id)
    try:
        with transaction() as tx:
            tx.save(job, condition=JobModel.id.does_not_exist())
            outbox.stage(tx, job)
        return job, False
    except TransactWriteError as exc:
        if not conditions.failed(exc):
            raise
    return JobModel.get(job_id), False  # a concurrent delivery of the same ref saved it first


def job_fields(app: dict, rule: dict, repository: str, ref: str, sha: str, *, event_id: str = "",
               trigger: str = "webhook", quiet: bool = True, preview: int = 0,
               event_repository: str | None = None, reason: str = "", group: str = "",
               override_freeze: bool = False) -> dict:
    """The new job's attributes, its reporting policy included (copied from the app, never re-read).
    `group`: a group of its own (backups: APP.database), else the target's. A job of a rule with
    `approval` is made awaiting_approval, one due inside a `freeze` window frozen: neither gets a message
    (functions/dispatch/approvals.py, frozen.py), so the webhook's one-transaction path takes neither
    (gate.direct)."""
    target = rule["target"]
    # a one-off command never supersedes a deploy, nor a deploy it
    group = group or group_of(app, rule, preview) + (".run" if trigger == "run" else "")
    fields = dict(app=app["name"], rule=rule["name"], group=group, target=target, preview=preview, reason=reason,
                  pool=target.get("pool") or DEFAULT_POOL, repository=repository, ref=ref, sha=sha,
                  event_id=event_id, trigger=trigger,
                  not_before=now() + int(target.get("quiet_period") or 0) if quiet else 0,
                  reporting=outbox.policy(app, rule, event_repository, event_id))
    approval = gates(rule, trigger)
    frozen = None if approval is not None or override_freeze or preview or trigger in UNGATED else \
        freezes.frozen_until(freezes.of(app, rule), now())
    if approval is not None:
        fields.update(state=JobState.AWAITING_APPROVAL.value, approval=approval)
    elif frozen is not None:
        fields.update(state=JobState.FROZEN.value, not_before=frozen.until,
                      reason=frozen.note() + (f"; {reason}" if reason else ""))
    return fields


def group_of(app: dict, rule: dict, preview: int = 0) -> str:
    """app.target: its jobs run one at a time, and a newer one supersedes a queued one. A preview never
    supersedes the app."""
    return f"{app['name']}.{rule['target']['name']}" + (f".pr-{preview}" if preview else "")


def enqueue(app: dict, rule: dict, repository: str, ref: str, sha: str, *, event_id: str = "",
            trigger: str = "webhook", new_tag: bool = False, key: str | None = None,
            quiet: bool = True, preview: int = 0, send: bool = True, reason: str = "",
            event_repository: str | None = None, group: str = "",
            override_freeze: bool = False) -> tuple[JobModel, bool]:
    """Queue one job for `rule` of `app` at `ref`; returns (job, created_now).

    A duplicate whose job is still queued sends its message again: within SQS's 5-minute
    window the job id deduplicates it, after that the conditional claim lets one run.
    That is what finishes a delivery that crashed between saving the job and sending it.
    """
    key = key or dedup_key(app["name"], rule["name"], ref, sha, new_tag)
    fields = job_fields(app, rule, repository, ref, sha, event_id=event_id, trigger=trigger, quiet=quiet,
                        preview=preview, event_repository=event_repository, reason=reason,
                        group=group, override_freeze=override_freeze)
    job, created = _take(key, fields)
    if created:
        approvals.supersede_older(job)
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

