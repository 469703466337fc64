"""Dead letters: list them per pool, and replay one as a new job of the same app, rule and commit."""
from __future__ import annotations

from contract.states import Reason

from functions.store import jobs
from functions.dispatch import gate, queue, sweeper
from functions.config import settings
from functions.errors import InvalidInput, NotFound, Refused


def listing(pool: str | None = None) -> list[dict]:
    pools = [pool] if pool else list(settings().pools)
    if pool and pool not in settings().pools:
        raise InvalidInput("pool", f"unknown pool {pool!r} (known: {', '.join(settings().pools)})")
    out = []
    for p in pools:
        for letter in queue.dead_letters(p):
            msg, row = letter["message"], {"pool": p, "message_id": letter["message_id"], "sent_at": letter["sent_at"]}
            if msg is None:
                out.append({**row, "job_id": "", "state": "", "reason": f"not a job message: {letter['body'][:80]}"})
                continue
            try:
                job = jobs.get(msg.job_id)
                out.append({**row, "job_id": job.id, "app": job.app, "rule": job.rule, "ref": job.ref,
                            "state": job.state, "reason": job.reason})
            except NotFound:
                out.append({**row, "job_id": msg.job_id, "state": "", "reason": "job no longer exists"})
    return out


def replay(job_id: str) -> dict:
    """Take the job's dead letter off its pool's DLQ and queue a new job for the same commit."""
    job = jobs.get(job_id)
    why = gate.again_refusal(job, "replay")  # asked before the letter is taken: a refused replay leaves it
    if why:
        raise Refused(why)
    taken = queue.dead_letters(job.pool, take=lambda letter: bool(letter["message"])
                               and letter["message"].job_id == job_id)
    letter = next((t for t in taken if t.get("taken")), None)
    if letter is None:
        raise NotFound(f"no dead letter for job {job_id} in pool {job.pool!r}; see `tahobuddy dlq list`")
    sweeper.dead_lettered(letter)  # ends the old job as dead-lettered, if the sweeper has not yet
    new = gate.again(jobs.get(job_id), "replay")  # a preview's or teardown's replay stays one
    return {"replayed": job_id, "job": jobs.to_dict(new), "reason_code": Reason.DEAD_LETTERED.value}
