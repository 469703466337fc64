"""Nothing stays queued forever without saying why.

Run every minute (a scheduled function on AWS, a loop in `make run`, `POST /api/v1/sweep`):
- a dead letter ends its job as failed, saying it was dead-lettered and how to replay it;
- queued jobs of a pool whose queue holds no message at all (a send that never happened, a
  message that expired) get their message again, at most `MAX_RESENDS` times, then fail;
- a job queued longer than `max_queued` fails, saying which pool it waited for and why;
- a rule's `schedule` whose tick is due queues its job (functions/dispatch/schedules.py);
- a job awaiting approval past its rule's approval timeout ends canceled, saying so (dispatch/approvals.py);
- a frozen job whose freeze window has ended is queued, and its message sent (dispatch/frozen.py);
- a pull-request preview idle longer than its rule's `expire_after_days` gets its teardown job;
- an app whose `database.backup.schedule` names a minute since the last tick gets its backup job
  (functions/dispatch/backups.py: one per slot);
- where no DynamoDB TTL deletes expired items (the embedded stack's emulator), a bounded number of
  them go (functions/store/expiry.py; TAHOBUDDY_DELETE_EXPIRED).
A job waiting for an agent of its pool is left alone: its listing says why it waits.
"""
from __future__ import annotations

from contract.states import Reason

from functions.store import agents, expiry, jobs
from functions.dispatch import approvals, backups, frozen, previews, queue, schedules
from functions.clock import now
from functions.config import settings
from functions.errors import IllegalTransition, NotFound

MAX_RESENDS = 3


def created_epoch(job_id: str) -> float:
    """Job ids start with 13 digits of epoch milliseconds (clock.sortable_id)."""
    return int(job_id[:13]) / 1000 if job_id[:13].isdigit() else 0.0


def dead_lettered(letter: dict) -> str | None:
    """Fail the job of one dead letter; returns its id when this sweep ended it."""
    msg = letter["message"]
    if msg is None:
        return None
    try:
        job = jobs.get(msg.job_id)
    except NotFound:
        return None
    if job.state not in (jobs.JobState.QUEUED.value, jobs.JobState.RUNNING.value):
        return None
    try:
        jobs.give_up(job, f"dead-lettered: its message in pool {letter['pool']!r} was received too many times "
                          f"without finishing (agents lost or refusing it); `tahobuddy dlq replay {job.id}` "
                          "queues it again", Reason.DEAD_LETTERED)
    except IllegalTransition:  # running on an agent with a live lease: it may still finish
        return None
    return job.id


def sweep() -> dict:
    s, at = settings(), now()
    report: dict = {"dead_lettered": [], "resent": [], "failed": [], "expired": previews.expire(),
                    "scheduled": schedules.tick(at), "backups": backups.scheduled(at),
                    "approval_timed_out": approvals.expire(s.pools, at), "thawed": frozen.thaw(s.pools, at)}
    if s.delete_expired:
        report["deleted_expired"] = expiry.sweep()
    for pool in s.pools:
        for letter in queue.dead_letters(pool):
            ended = dead_lettered(letter)
            if ended:
                report["dead_lettered"].append(ended)
    waiting = agents.explainer()
    empty: dict[str, bool] = {}
    for job in jobs.queued(s.pools):
        age = at - created_epoch(job.id)
        why_waiting = waiting(job.pool, (job.target or {}).get("type", ""))
        if age > s.max_queued:
            jobs.give_up(job, f"never picked up: queued for {age / 3600:.1f} h in pool {job.pool!r} "
                              f"({why_waiting or 'no agent took it'})", Reason.NOT_PICKED_UP)
            report["failed"].append(job.id)
            continue
        if age < s.resend_after * (job.resent + 1) or why_waiting:
            continue
        if job.pool not in empty:
            d = queue.depth(job.pool)
            empty[job.pool] = d["waiting"] + d["in_flight"] == 0
        if not empty[job.pool]:
            continue  # its message is there, behind others or in flight
        if job.resent >= MAX_RESENDS:
            jobs.give_up(job, f"never picked up: its message was lost and re-sent {job.resent} times",
                         Reason.NOT_PICKED_UP)
            report["failed"].append(job.id)
            continue
        count = jobs.note_resent(job, f"re-sent by the sweeper: queued {age:.0f} s with no message in pool "
                                      f"{job.pool!r}")
        queue.send(job.id, job.group, (job.target or {}).get("type", ""), job.pool, resend=count)
        report["resent"].append(job.id)
    return report
