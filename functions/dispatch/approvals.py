"""Jobs that wait for a person: approve, reject, supersede and time out a job of a rule with `approval`.

A waiting job has no SQS message at all; approving it sends one. Holding a message instead (as the
quiet period does) would not do: a FIFO message blocks every later message of its group while held,
each receive counts toward the dead-letter queue, and SQS keeps a message 14 days at most, so a
week-long wait would either block the target's next deploy or lose the job. Without a message no
agent can claim it, whatever it does. Each decision is audited with the token that made it.
"""
from __future__ import annotations

from contract.states import JobState, Reason

from functions.clock import id_epoch, now
from functions.dispatch import queue
from functions.domain import apps, freezes
from functions.domain import approvals as gate
from functions.errors import Conflict, Forbidden, IllegalTransition
from functions.store import app_store, audit, jobs
from functions.store.models import JobModel


def _decidable(job_id: str, verb: str) -> tuple[JobModel, str]:
    """The waiting job and the caller's token name; refuses a job not waiting, or a token not listed."""
    job = jobs.get(job_id)
    if job.state != JobState.AWAITING_APPROVAL.value:
        raise Conflict(f"job {job_id} is {job.state}, not awaiting approval: nothing to {verb}")
    caller = audit.caller()
    name = caller.name if caller is not None else ""
    if not gate.may_decide(job.approval or {}, name):
        raise Forbidden(f"token {name!r} may not {verb} jobs of rule {job.rule} of app {job.app} (its approvers: "
                        f"{', '.join((job.approval or {}).get('approvers') or [])})")
    return job, name


def approve(job_id: str) -> JobModel:
    job, name = _decidable(job_id, "approve")
    newer = jobs.newer_in_group(job)
    if newer is not None:
        jobs.end_waiting(job, JobState.SUPERSEDED, f"superseded by newer job {newer.id}", Reason.SUPERSEDED)
        raise Conflict(f"job {job_id} was superseded by newer job {newer.id} of the same target: approve that one")
    app = app_store.get(job.app)
    frozen = freezes.frozen_until(freezes.of(app, apps.rule(app, job.rule)), now())
    jobs.approve(job, name or "an admin", frozen.until if frozen else 0.0, frozen.note() if frozen else "")
    audit.record("approved", f"job/{job.id}", {"app": job.app, "rule": job.rule, "ref": job.ref, "sha": job.sha})
    if frozen is None:  # a send lost here is sent again by the sweeper, like any queued job whose queue is empty
        queue.send(job.id, job.group, (job.target or {}).get("type", ""), job.pool)
    return job


def reject(job_id: str, reason: str) -> JobModel:
    job, name = _decidable(job_id, "reject")
    jobs.end_waiting(job, JobState.CANCELED, f"canceled: rejected by {name or 'an admin'}: {reason}",
                     Reason.CANCELED)
    audit.record("rejected", f"job/{job.id}", {"app": job.app, "rule": job.rule, "ref": job.ref, "reason": reason})
    return job


def supersede_older(job: JobModel) -> list[str]:
    """A newer job of the same target ends the ones still waiting for approval before it."""
    ended = []
    for older in jobs.waiting_before(job):
        try:
            jobs.end_waiting(older, JobState.SUPERSEDED, f"superseded by newer job {job.id}", Reason.SUPERSEDED)
            ended.append(older.id)
        except IllegalTransition:   # decided meanwhile
            continue
    return ended


def expire(pools, at: float) -> list[str]:
    """End, canceled with the reason, each job that waited past its rule's approval timeout (the sweeper)."""
    ended = []
    for job in jobs.awaiting(pools):
        since = id_epoch(job.id)
        if not gate.timed_out(job.approval or {}, since, at):
            continue
        try:
            jobs.end_waiting(job, JobState.CANCELED, gate.timeout_reason(job.approval or {}),
                             Reason.CANCELED)
            ended.append(job.id)
        except IllegalTransition:
            continue
    return ended
