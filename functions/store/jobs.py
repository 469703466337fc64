"""Job states, their transition table, and every change as a conditional update.

Two agents can never both claim a job: each change is a DynamoDB update whose
condition is the state (and owner) it starts from (rq JobStatus + PynamoDB
conditional writes).
"""
from __future__ import annotations

import itertools
from datetime import datetime, timezone

from pynamodb.exceptions import DoesNotExist, UpdateError

from contract.states import JobState, Reason

from functions.store import conditions, logs, outbox, shards, transaction
from functions.clock import now, now_iso
from functions.config import settings
from functions.errors import Conflict, IllegalTransition, NotFound
from functions.store.models import JobModel


S = JobState
TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    # QUEUED -> FAILED: it never ran and never will (attempts used up, app deleted); the reason says so.
    S.QUEUED: frozenset({S.RUNNING, S.FAILED, S.CANCELED, S.SUPERSEDED}),
    # RUNNING -> RUNNING: another agent reclaims a job whose lease lapsed (its agent died);
    # RUNNING -> QUEUED: a stopping agent hands the job back for redelivery.
    # RUNNING -> SKIPPED: the agent found no path its rule watches changed (contract/paths.py).
    S.RUNNING: frozenset({S.RUNNING, S.QUEUED, S.SUCCEEDED, S.FAILED, S.CANCELED, S.SUPERSEDED, S.SKIPPED}),
    S.SUCCEEDED: frozenset(),
    S.FAILED: frozenset(),
    S.CANCELED: frozenset(),
    S.SUPERSEDED: frozenset(),
    S.SKIPPED: frozenset(),
}
TERMINAL = frozenset(s for s, nxt in TRANSITIONS.items() if not nxt)
FINISHED_BY_AGENT = frozenset({S.SUCCEEDED, S.FAILED, S.CANCELED, S.SUPERSEDED, S.SKIPPED})


def allowed(src: JobState, dst: JobState) -> bool:
    return dst in TRANSITIONS[src]


def get(job_id: str) -> JobModel:
    try:
        return JobModel.get(job_id)
    except DoesNotExist as exc:
        raise NotFound(f"no job {job_id!r}") from exc


def _update(job: JobModel, dst: JobState, condition, actions: list, why: str, together: list = ()) -> JobModel:
    """The conditional update of one transition; `together`: (item, actions, condition) of other tables
    written in the same transaction (a preview's state with its job's end), or not at all."""
    sources = [s.value for s, nxt in TRANSITIONS.items() if dst in nxt]
    cond = JobModel.state.is_in(*sources)
    if condition is not None:
        cond = cond & condition
    queued = (JobModel.queued_in.set(job.pool or "default") if dst == S.QUEUED
              else JobModel.queued_in.remove())  # the sparse index holds queued jobs only
    mine = [JobModel.state.set(dst.value), JobModel.updated_at.set(now_iso()), queued, _expiry(job, dst)] + actions
    try:
        if together:
            transaction.write([(job, mine, cond), *together])
            job.refresh(consistent_read=True)  # a transaction returns no item: the outbox needs the new state
        else:
            job.update(actions=mine, condition=cond)
    except transaction.Failed:
        # the job's own condition, or another item's (a preview a newer job decides now): the job's
        # update alone says which, and either ends it or raises IllegalTransition
        return _update(job, dst, condition, actions, why)
    except UpdateError as exc:
        if not conditions.failed(exc):
            raise
        current = get(job.id)
        raise IllegalTransition(f"job {job.id} is {current.state}: cannot {why}") from exc
    outbox.record(job)  # GitHub and notifications hear of every state change (functions/notify); never raises
    return job


def _expiry(job: JobModel, dst: JobState):
    """An ended job expires `TAHOBUDDY_RETENTION_DAYS` after it ended (never after its first log line);
    a queued or running one never does, so a requeued job loses any expiry it had."""
    if dst not in TERMINAL:
        return JobModel.expires_at.remove()
    return JobModel.expires_at.set(settings().retention.finished_job(now(), logs.first_line_expiry(job.id)))


def claim(job_id: str, agent_id: str) -> JobModel:
    """queued -> running, or reclaim a running job whose lease lapsed."""
    job = get(job_id)
    t = now()
    free = (JobModel.state == S.QUEUED.value) | (JobModel.lease_until < int(t))
    return _update(job, S.RUNNING, free, [
        JobModel.agent_id.set(agent_id),
        JobModel.lease_until.set(int(t) + settings().lease_seconds),
        JobModel.attempts.add(1),
        JobModel.started_at.set(now_iso()),
    ], "claim it")


def heartbeat(job_id: str, agent_id: str) -> JobModel:
    job = get(job_id)
    try:
        job.update(actions=[JobModel.lease_until.set(int(now()) + settings().lease_seconds)],
                   condition=(JobModel.state == S.RUNNING.value) & (JobModel.agent_id == agent_id))
    except UpdateError as exc:
        if not conditions.failed(exc):
            raise
        raise IllegalTransition(f"job {job_id} is no longer running on agent {agent_id}") from exc
    return job


def finish(job_id: str, agent_id: str, dst: JobState, reason: str = "", exit_code: int | None = None,
           detail: str = "", sha: str = "", reason_code: Reason = Reason.NONE,
           phases: dict | None = None, together=lambda job: ()) -> JobModel:
    """The agent ends its job. `together(job)`: the other items this end changes (a preview's state),
    written in one transaction with it, so no reader ever sees the job ended and the preview not."""
    if dst not in FINISHED_BY_AGENT:
        raise Conflict(f"an agent cannot end a job as {dst.value}")
    job = get(job_id)
    actions = [JobModel.reason.set(reason[:1000]), JobModel.detail.set(detail[:4000]),
               JobModel.reason_code.set(reason_code.value),
               JobModel.finished_at.set(now_iso()), JobModel.lease_until.set(0)]
    if exit_code is not None:
        actions.append(JobModel.exit_code.set(exit_code))
    if sha:
        actions.append(JobModel.sha.set(sha))
    if phases:
        actions.append(JobModel.phases.set(phases))
    return _update(job, dst, (JobModel.agent_id == agent_id), actions, f"end it as {dst.value}", together(job))


def supersede(job: JobModel, newer_id: str) -> JobModel:
    return _update(job, S.SUPERSEDED, None, [
        JobModel.reason.set(f"superseded by newer job {newer_id}"), JobModel.finished_at.set(now_iso()),
        JobModel.reason_code.set(Reason.SUPERSEDED.value), JobModel.lease_until.set(0)], "supersede it")


def give_up(job: JobModel, reason: str, code: Reason = Reason.GAVE_UP) -> JobModel:
    """queued/lapsed -> failed, for a job that will never run here: attempts used up, refused by its
    agent, dead-lettered, or never picked up. The reason says which, and what to do."""
    return _update(job, S.FAILED, (JobModel.state == S.QUEUED.value) | (JobModel.lease_until < int(now())), [
        JobModel.reason.set(reason[:1000]), JobModel.reason_code.set(code.value), JobModel.finished_at.set(now_iso()),
        JobModel.lease_until.set(0)], "fail it")


def note_resent(job: JobModel, why: str) -> int:
    """Count one more message sent for a still-queued job; returns the new count (the dedup suffix)."""
    job.update(actions=[JobModel.resent.add(1), JobModel.reason.set(why[:1000])],
               condition=JobModel.state == S.QUEUED.value)
    return int(job.resent)


def release(job_id: str, agent_id: str, reason: str) -> JobModel:
    """running -> queued: the agent stops; SQS redelivers the message."""
    job = get(job_id)
    return _update(job, S.QUEUED, (JobModel.agent_id == agent_id) & (JobModel.state == S.RUNNING.value), [
        JobModel.reason.set(reason), JobModel.lease_until.set(0), JobModel.agent_id.set("")], "release it")


def cancel(job_id: str, reason: str) -> JobModel:
    """Idempotent: a queued job ends now; a running one is asked to stop (the agent escalates)."""
    job = get(job_id)
    if job.state == S.CANCELED.value:
        return job
    if job.state in {s.value for s in TERMINAL}:
        raise Conflict(f"job {job_id} already ended as {job.state}")
    if job.state == S.QUEUED.value:
        try:
            return _update(job, S.CANCELED, JobModel.state == S.QUEUED.value, [
                JobModel.reason.set(f"canceled: {reason}"), JobModel.finished_at.set(now_iso())], "cancel it")
        except IllegalTransition:
            job = get(job_id)          # it started meanwhile: ask the agent instead
    try:
        job.update(actions=[JobModel.cancel_requested.set(reason or "canceled by user")],
                   condition=JobModel.state == S.RUNNING.value)
    except UpdateError as exc:
        if not conditions.failed(exc):
            raise                      # a throttle or an outage, not a job that ended: never say it ended
        raise Conflict(f"job {job_id} ended before it could be canceled") from exc
    return job


def newer_in_group(job: JobModel) -> JobModel | None:
    """The newest job of the same app and target that was created after `job` and still counts."""
    counted = {S.QUEUED.value, S.RUNNING.value, S.SUCCEEDED.value, S.FAILED.value, S.SKIPPED.value}
    for other in JobModel.by_group.query(job.group, JobModel.id > job.id, scan_index_forward=False):
        if other.state in counted:
            return other
    return None


def served(group: str) -> JobModel | None:
    """The job whose commit an app's target serves now: the newest succeeded job of its group that names
    a commit (a release of every target type, image or not); None before a first deploy."""
    for other in JobModel.by_group.query(group, scan_index_forward=False):
        if other.state == S.SUCCEEDED.value and other.sha:
            return other
    return None


def serving_sha(job: JobModel) -> str:
    """The commit `job`'s target serves now; "" for a first deploy. The base of a rule's `paths`."""
    found = served(job.group)
    return found.sha if found is not None and found.id != job.id else ""


def active(group: str) -> JobModel | None:
    """A queued or running job of the group, if any (a schedule with `overlap: skip` makes none then)."""
    for other in JobModel.by_group.query(group, scan_index_forward=False):
        if other.state in (S.QUEUED.value, S.RUNNING.value):
            return other
    return None


def quiet_reason(job: JobModel) -> str:
    until = datetime.fromtimestamp(float(job.not_before), timezone.utc).isoformat(timespec="seconds")
    return f"waiting for quiet period until {until.replace('+00:00', 'Z')}"


def to_dict(job: JobModel, waiting=None) -> dict:
    """The job as the API shows it; `waiting(pool, target_type)` explains a queued job's wait."""
    keys = ("id", "app", "rule", "group", "pool", "target", "repository", "ref", "sha", "state", "reason",
            "reason_code", "detail", "exit_code", "attempts", "resent", "agent_id", "cancel_requested", "event_id",
            "trigger", "created_at", "updated_at", "started_at", "finished_at", "log_lines", "phases", "preview")
    out = {k: getattr(job, k) for k in keys}
    out["target"] = dict(out["target"] or {})
    out["not_before"] = float(job.not_before or 0)
    if job.state == S.QUEUED.value and now() < out["not_before"]:
        out["waiting"] = quiet_reason(job)
    elif waiting is not None and job.state == S.QUEUED.value:
        out["waiting"] = waiting(job.pool, out["target"].get("type", ""))
    return out


def listing(app: str | None = None, state: str | None = None, limit: int = 50, waiting=None) -> list[dict]:
    wanted = (lambda job: job.state == state) if state else (lambda job: True)
    if app:
        rows = [j for j in itertools.islice(filter(wanted, JobModel.by_app.query(app, scan_index_forward=False)),
                                            limit)]
    else:
        rows = shards.newest(JobModel.by_time, "job", "id", limit, keep=wanted)
    return [to_dict(job, waiting) for job in rows]


def queued(pools, limit: int = 1000) -> list[JobModel]:
    """Jobs still queued in `pools`, oldest first (the sweeper's work list): a query of the sparse
    `by_queued` index per pool, never a scan of the table. Jobs queued before the index existed
    (no `queued_in`) are not listed; the claim path still serves them."""
    rows = [j for pool in pools for j in itertools.islice(JobModel.by_queued.query(pool), limit)
            if j.state == S.QUEUED.value]
    return sorted(rows, key=lambda j: j.id)[:limit]
