"""Jobs that became due inside a `freeze` window (functions/domain/freezes.py): made `frozen`, with no
SQS message, and queued by the sweeper's minute tick once the window has ended.

The quiet period's way (the agent holding a received message until `not_before`) does not serve a
freeze: SQS keeps a received message invisible for 12 hours at most, and a weekend freeze is 64;
a held FIFO message also blocks its group. Without a message no agent can take the job, and the
sweeper's tick is already where time-driven work happens. `at` is the time the tick runs at.
"""
from __future__ import annotations

from contract.states import JobState

from functions.dispatch import queue
from functions.errors import IllegalTransition
from functions.store import jobs


def thaw(pools, at: float) -> list[str]:
    """Queue, and send the message of, each frozen job whose window has ended by `at`."""
    queued = []
    for job in jobs.awaiting(pools, JobState.FROZEN):
        if at < float(job.not_before or 0):
            continue
        try:
            jobs.thaw(job)
        except IllegalTransition:   # canceled or superseded meanwhile
            continue
        queue.send(job.id, job.group, (job.target or {}).get("type", ""), job.pool)
        queued.append(job.id)
    return queued
