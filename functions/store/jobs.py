"""Job states, their transition table, and every change as a conditional update.

Two agents can never both claim a job: each change is a DynamoDB update whose
condition is the state (and owner) it starts from (rq JobStatus + PynamoDB
conditional writes).
"""
from __future__ import annotations

import itertools
from datetime import datetime, timezone

from pynamodb.exceptions import DoesNotExist, TransactWriteError, UpdateError

from contract.states import ENDED, ENDED_VALUES, JobState, Reason

from functions.domain import approvals
from functions.store import conditions, logs, outbox, shards
from functions.clock import now, now_iso
from functions.config import settings
from functions.errors import Conflict, IllegalTransition, NotFound
from functions.store.models import JobModel, transaction


S = JobState
TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    # AWAITING_APPROVAL -> QUEUED: approved (only then is its message sent); -> CANCELED: rejected, timed out
    # or canceled; -> SUPERSEDED: a newer job of the same target was made (functions/dispatch/approvals.py).
    S.AWAITING_APPROVAL: frozenset({S.QUEUED, S.FROZEN, S.CANCELED, S.SUPERSEDED}),
    # FROZEN -> QUEUED: its freeze window ended (the sweeper sends its message then); approved inside a window,
    # a job goes AWAITING_APPROVAL -> FROZEN (functions/dispatch/approvals.py).
    S.FROZEN: frozenset({S.QUEUED, S.CANCELED, S.SUPERSEDED}),
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
assert ENDED == {s for s, nxt in TRANSITIONS.items() if not nxt}, "the ended states are those the table ends in"


def allowed(src: JobState, dst: JobState) -> bool:
    return dst in TRANSITIONS[src]


def get(job_id: str) -> JobModel:
    try:
        return JobModel.get(job_id)
    except DoesNotExist as exc:
        raise NotFound(f"no job {job_id!r}") from exc


def _update(job: JobModel, dst: JobState, condition, why: str, sets: dict, add: dict | None = None,
            together: list = ()) -> JobModel:
    """Change the job's state as one TransactWriteItems: the conditional update and the outbox item
    for the new state (store/outbox.py) are written together or not at all. `sets` are attribute
    values (None removes one), `add` increments; the job object gets them too (a transaction
    returns no values), so the item describes the job as it now is. `together`: (item, actions, condition)
    of other tables written in the same transaction (a preview's state or a release with its job's end)."""
    sources = [s.value for s, nxt in TRANSITIONS.items() if dst in nxt]
    cond = JobModel.state.is_in(*sources)
    if condition is not None:
        cond = cond & condition
    given = dict(sets)
    sets = {"state": dst.value, "updated_at": now_iso(), "expires_at": _expiry(job, dst),
            # a sparse index of jobs not yet started (awaiting approval ones keep it from their making)
            "queued_in": (job.pool or "default") if dst in (S.QUEUED, S.FROZEN) else None,
            **sets}
    actions = [getattr(JobModel, k).set(v) if v is not None else getattr(JobModel, k).remove() for k, v in sets.items()]
    actions += [getattr(JobModel, k).add(v) for k, v in (add or {}).items()]
    before = {k: getattr(job, k) for k in [*sets, *(add or {})]}
    for k, v in sets.items():
        setattr(job, k, v)
    for k, v in (add or {}).items():
        setattr(job, k, (getattr(job, k) or 0) + v)
    try:
        with transaction() as tx:
            tx.update(job, actions=actions, condition=cond)
            outbox.stage(tx, job)  # the forge and the app's notify entries hear of it (functions/notify)
            for item, item_actions, item_condition in together:
                tx.update(item, actions=item_actions, condition=item_condition)
    except TransactWriteError as exc:
        for k, v in before.items():
            setattr(job, k, v)
        if not conditions.failed(exc):
            raise
        if together:  # the job's own condition, or another item's (a preview a newer job decides now):
            return _update(job, dst, condition, why, given, add)  # the job's update alone says which
        current = get(job.id)
        raise IllegalTransition(f"job {job.id} is {current.state}: cannot {why}") from exc
    return job


def _expiry(job: JobModel, dst: JobState) -> int | None:
    """An ended job expires `TAHOBUDDY_RETENTION_DAYS` after it ended (never after its first log line);
    a queued or running one never does, so a requeued job loses any expiry it had."""
    if dst not in ENDED:
        return None
    return settings().retention.finished_job(now(), logs.first_line_expiry(job.id))


def claim(job_id: str, agent_id: str, job: JobModel | None = None) -> JobModel:
    """queued -> running, or reclaim a running job whose lease lapsed. A caller that has just read
    the job passes it (no second read: the update's condition is what decides)."""
    job = job if job is not None and job.id == job_id else get(job_id)
    t = now()
    free = (JobModel.state == S.QUEUED.value) | (JobModel.lease_until < int(t))
    return _update(job, S.RUNNING, free, "claim it", {
        "agent_id": agent_id, "lease_until": int(t) + settings().lease_seconds, "started_at": now_iso()},
        add={"attempts": 1})


def heartbeat(job_id: str, agent_id: str) -> JobModel:
    """One conditional update, no read first: its answer (ALL_NEW) fills the job in."""
    job = JobModel(job_id)
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
    if dst not in ENDED:
        raise Conflict(f"an agent cannot end a job as {dst.value}")
    job = get(job_id)
    sets = {"reason": reason[:1000], "detail": detail[:4000], "reason_code": reason_code.value,
            "finished_at": now_iso(), "lease_until": 0}
    if exit_code is not None:
        sets["exit_code"] = exit_code
    if sha:
        sets["sha"] = sha
    if phases:
        sets["phases"] = phases
    return _update(job, dst, (JobModel.agent_id == agent_id), f"end it as {dst.value}", sets,
                   together=together(job))


def supersede(job: JobModel, newer_id: str) -> JobModel:
    return _update(job, S.SUPERSEDED, None, "supersede it", {
        "reason": f"superseded by newer job {newer_id}", "finished_at": now_iso(),
        "reason_code": Reason.SUPERSEDED.value, "lease_until": 0})


def give_up(job: JobModel, reason: str, code: Reason = Reason.GAVE_UP) -> JobModel:
    """queued/lapsed -> failed, for a job that will never run here: attempts used up, refused by its
    agent, dead-lettered, or never picked up. The reason says which, and what to do."""
    return _update(job, S.FAILED, (JobModel.state == S.QUEUED.value) | (JobModel.lease_until < int(now())),
                   "fail it", {"reason": reason[:1000], "reason_code": code.value, "finished_at": now_iso(),
                               "lease_until": 0})


def note_resent(job: JobModel, why: str) -> int:
    """Count one more message sent for a still-queued job; returns the new count (the dedup suffix)."""
    job.update(actions=[JobModel.resent.add(1), JobModel.reason.set(why[:1000])],
               condition=JobModel.state == S.QUEUED.value)
    return int(job.resent)


def release(job_id: str, agent_id: str, reason: str) -> JobModel:
    """running -> queued: the agent stops; SQS redelivers the message."""
    job = get(job_id)
    return _update(job, S.QUEUED, (JobModel.agent_id == agent_id) & (JobModel.state == S.RUNNING.value),
                   "release it", {"reason": reason, "lease_until": 0, "agent_id": ""})


HELD = (S.AWAITING_APPROVAL.value, S.FROZEN.value)   # made, but with no message yet: no agent can take them


def approve(job: JobModel, by: str, frozen_until: float = 0.0, note: str = "") -> JobModel:
    """awaiting_approval -> queued (only now may its message be sent), or -> frozen inside a freeze window."""
    said = f"approved by {by}" + (f"; {note}" if note else "")
    sets = {"reason": said[:1000], **({"not_before": frozen_until} if frozen_until else {})}
    return _update(job, S.FROZEN if frozen_until else S.QUEUED, JobModel.state == S.AWAITING_APPROVAL.value,
                   "approve it", sets)


def thaw(job: JobModel) -> JobModel:
    """frozen -> queued: its window ended; the caller sends its message."""
    return _update(job, S.QUEUED, JobModel.state == S.FROZEN.value, "thaw it",
                   {"reason": f"{job.reason}; the freeze ended"[:1000], "not_before": 0})


def end_waiting(job: JobModel, dst: JobState, reason: str, code: Reason) -> JobModel:
    """awaiting_approval or frozen -> canceled (rejected, timed out) or superseded, with the reason."""
    return _update(job, dst, JobModel.state.is_in(*HELD), f"end it as {dst.value}",
                   {"reason": reason[:1000], "reason_code": code.value, "finished_at": now_iso()})


def waiting_before(job: JobModel) -> list[JobModel]:
    """Jobs of `job`'s group made before it that still await approval or a freeze's end (a newer job
    supersedes them)."""
    return [other for other in JobModel.by_group.query(job.group, JobModel.id < job.id) if other.state in HELD]


def awaiting(pools, state: JobState = S.AWAITING_APPROVAL, limit: int = 1000) -> list[JobModel]:
    """Jobs in `state` (awaiting approval, frozen) in `pools`, oldest first: the sweeper's work list."""
    rows = [j for pool in pools for j in itertools.islice(JobModel.by_queued.query(pool), limit)
            if j.state == state.value]
    return sorted(rows, key=lambda j: j.id)[:limit]


def cancel(job_id: str, reason: str) -> JobModel:
    """Idempotent: a queued or waiting job ends now; a running one is asked to stop (the agent escalates)."""
    job = get(job_id)
    if job.state == S.CANCELED.value:
        return job
    if job.state in ENDED_VALUES:
        raise Conflict(f"job {job_id} already ended as {job.state}")
    if job.state in (S.QUEUED.value, *HELD):
        try:
            return _update(job, S.CANCELED, JobModel.state == job.state, "cancel it",
                           {"reason": f"canceled: {reason}", "finished_at": now_iso()})
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
    """A waiting, queued or running job of the group, if any (a schedule with `overlap: skip` makes none then)."""
    for other in JobModel.by_group.query(group, scan_index_forward=False):
        if other.state in (*HELD, S.QUEUED.value, S.RUNNING.value):
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
    out["approval"] = dict(job.approval) if job.approval else None
    if job.state == S.AWAITING_APPROVAL.value:
        out["waiting"] = approvals.waiting(job.id, job.created_at)
    elif job.state == S.FROZEN.value:
        out["waiting"] = job.reason.split("; ")[0] if job.reason.startswith("frozen") else job.reason
    elif job.state == S.QUEUED.value and now() < out["not_before"]:
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
