"""What the agent may ask of the API: claim, heartbeat, log, finish, release.

The agent holds only an agent token and SQS access; every job change it
makes goes through here, as a conditional update in `jobs`.
"""
from __future__ import annotations

from . import app_store, jobs, logs
from .config import settings
from .errors import Conflict, InvalidInput, NotFound
from .jobs import JobState


def claim(job_id: str, agent_id: str) -> dict:
    """Decide whether this agent runs the job now. `run: false` means: delete the message."""
    job = jobs.get(job_id)
    if job.state in {s.value for s in jobs.TERMINAL}:
        return {"run": False, "state": job.state, "reason": f"job already {job.state}"}
    if job.state == JobState.RUNNING.value and job.agent_id == agent_id:
        return {"run": False, "state": job.state, "reason": "this agent already runs it"}
    if job.attempts >= settings().max_attempts:
        jobs.give_up(job, f"gave up after {job.attempts} attempts (agent lost or stopped each time)")
        return {"run": False, "state": JobState.FAILED.value, "reason": "too many attempts"}
    newer = jobs.newer_in_group(job)
    if newer is not None:
        jobs.supersede(job, newer.id)
        return {"run": False, "state": JobState.SUPERSEDED.value, "reason": f"newer job {newer.id}"}
    try:
        app = app_store.get(job.app)
    except NotFound:
        jobs.give_up(job, f"app {job.app} was deleted")
        return {"run": False, "state": JobState.FAILED.value, "reason": "app deleted"}
    job = jobs.claim(job_id, agent_id)
    return {"run": True, "job": jobs.to_dict(jobs.get(job.id)), "app": app,
            "lease_seconds": settings().lease_seconds}


def heartbeat(job_id: str, agent_id: str) -> dict:
    job = jobs.heartbeat(job_id, agent_id)
    job.refresh()
    return {"cancel": bool(job.cancel_requested), "cancel_reason": job.cancel_requested,
            "lease_seconds": settings().lease_seconds}


def finish(job_id: str, agent_id: str, body: dict) -> dict:
    try:
        state = JobState(body.get("state"))
    except ValueError as exc:
        raise InvalidInput("state", "must be succeeded, failed, canceled or superseded") from exc
    code = body.get("exit_code")
    if code is not None and (isinstance(code, bool) or not isinstance(code, int)):
        raise InvalidInput("exit_code", "must be a whole number or null")
    job = jobs.finish(job_id, agent_id, state, reason=str(body.get("reason") or ""), exit_code=code,
                      detail=str(body.get("detail") or ""), sha=str(body.get("sha") or ""),
                      phases=checked_phases(body.get("phases")))
    return jobs.to_dict(jobs.get(job.id))


def checked_phases(phases) -> dict:
    """The agent's step timestamps: at most 32 names of up to 40 characters, each epoch seconds."""
    phases = phases or {}
    if (not isinstance(phases, dict) or len(phases) > 32 or not all(
            isinstance(k, str) and 0 < len(k) <= 40 and isinstance(v, (int, float)) and not isinstance(v, bool)
            for k, v in phases.items())):
        raise InvalidInput("phases", "must map at most 32 step names to epoch seconds")
    return {k: float(v) for k, v in phases.items()}


def append_logs(job_id: str, agent_id: str, body: dict) -> dict:
    job = jobs.get(job_id)
    if job.agent_id != agent_id:
        raise Conflict(f"job {job_id} is not held by agent {agent_id}")
    return {"last_seq": logs.append(job, body.get("first_seq"), body.get("lines"))}


def release(job_id: str, agent_id: str, reason: str) -> dict:
    return jobs.to_dict(jobs.release(job_id, agent_id, reason or "released by agent"))
