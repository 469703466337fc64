"""What an agent may ask of the API: register, beat, claim, heartbeat, log, finish, release, and ship
what its apps print.

The agent holds an agent token (to register), then a session token bound to its id, and SQS
access to its pool's queue; every job change it makes goes through here, as a conditional
update in `jobs`. Bodies and answers are the typed calls of `contract.wire`.
"""
from __future__ import annotations

from contract.queues import DEFAULT_POOL
from contract.states import ENDED_VALUES, Reason
from contract.wire import (AppOutput, ClaimAnswer, Finish, Handback, JobBeatAnswer, LogBatch, PreviewList, WaitAnswer,
                           WireError)

from functions.store import app_store, backups, jobs, logs, output, previews, releases
from functions.clock import now
from functions.config import settings
from functions.errors import Conflict, Forbidden, InvalidInput, NotFound
from functions.store.jobs import JobState
from functions.store.models import AgentModel


def parse(cls, body):
    try:
        return cls.from_dict(body)
    except WireError as exc:
        raise InvalidInput(exc.field, str(exc).split(": ", 1)[-1]) from exc


def claim(job_id: str, agent: AgentModel) -> dict:
    """Decide whether this agent runs the job now. `run: false` means: delete the message."""
    job = jobs.get(job_id)
    if job.pool != agent.pool:
        raise Conflict(f"job {job_id} belongs to pool {job.pool!r}; agent {agent.id} is of pool {agent.pool!r}")
    if job.state in ENDED_VALUES:
        return _no(job.state, f"job already {job.state}")
    if job.state == JobState.RUNNING.value and job.agent_id == agent.id:
        return _no(job.state, "this agent already runs it")
    if job.state in jobs.HELD:  # never sent before approval or a freeze's end; those send its message
        return _no(job.state, f"{job.state}: its message is sent when it may run")
    target_type = (job.target or {}).get("type", "")
    if target_type not in agent.targets:
        why = (f"agent {agent.id} of pool {agent.pool!r} does not run {target_type} targets (it runs "
               f"{', '.join(agent.targets)}); start an agent of pool {agent.pool!r} with {target_type} in TAHOBUDDY_TARGETS, "
               f"or give the rule's target another pool")
        jobs.give_up(job, f"refused: {why}", Reason.REFUSED)
        return _no(JobState.FAILED.value, why)
    if job.attempts >= settings().max_attempts:
        jobs.give_up(job, f"gave up after {job.attempts} attempts (agent lost or stopped each time)", Reason.GAVE_UP)
        return _no(JobState.FAILED.value, "too many attempts")
    newer = jobs.newer_in_group(job)
    if newer is not None:
        jobs.supersede(job, newer.id)
        return _no(JobState.SUPERSEDED.value, f"newer job {newer.id}")
    try:
        app = app_store.get(job.app)
    except NotFound:
        if job.trigger == "purge":  # queued by the app's own deletion: it needs the name only
            app = {"name": job.app}
        else:
            jobs.give_up(job, f"app {job.app} was deleted", Reason.REFUSED)
            return _no(JobState.FAILED.value, "app deleted")
    if job.state == JobState.QUEUED.value and now() < (job.not_before or 0):
        return ClaimAnswer(False, job.state, jobs.quiet_reason(job), wait_until=float(job.not_before)).to_dict()
    job = jobs.claim(job_id, agent.id, job)  # the job as just read; the transaction's condition guards it
    return ClaimAnswer(True, JobState.RUNNING.value, job=jobs.to_dict(job), app=app,
                       lease_seconds=settings().lease_seconds,
                       releases=previews.releases_for(job) if job.preview else releases.history(job.app),
                       serving="" if job.preview else jobs.serving_sha(job),
                       preview_digests=previews.digests(job.app) if _prunes_registry(job) else []).to_dict()


def _prunes_registry(job) -> bool:
    """Only a docker deploy of production prunes the app's registry images (runners/image_retention.py): the
    other claims skip the previews' query."""
    return not job.preview and (job.target or {}).get("type") == "docker"


def wait(job_id: str, agent: AgentModel) -> dict:
    """A held message's question: keep waiting, claim now, or drop it. A newer job of the same app and
    target supersedes this one here, so a burst of pushes ends with the last one running."""
    job = jobs.get(job_id)
    if job.pool != agent.pool:
        raise Conflict(f"job {job_id} belongs to pool {job.pool!r}; agent {agent.id} is of pool {agent.pool!r}")
    if job.state != JobState.QUEUED.value:
        return WaitAnswer(job.state, f"job is {job.state}").to_dict()
    newer = jobs.newer_in_group(job)
    if newer is not None:
        jobs.supersede(job, newer.id)
        return WaitAnswer(JobState.SUPERSEDED.value, f"newer job {newer.id}").to_dict()
    until = float(job.not_before or 0)
    return WaitAnswer(job.state, jobs.quiet_reason(job) if now() < until else "", until).to_dict()


def _no(state: str, reason: str) -> dict:
    return ClaimAnswer(False, state, reason).to_dict()


def heartbeat(job_id: str, agent: AgentModel) -> dict:
    job = jobs.heartbeat(job_id, agent.id)  # its answer is the job as it now is: no read again
    return JobBeatAnswer(bool(job.cancel_requested), job.cancel_requested,
                         settings().lease_seconds).to_dict()


def finish(job_id: str, agent: AgentModel, body: dict) -> dict:
    msg = parse(Finish, body)
    try:
        msg.checked()
    except WireError as exc:
        raise InvalidInput(exc.field, str(exc).split(": ", 1)[-1]) from exc
    job = jobs.finish(job_id, agent.id, JobState(msg.state), reason=msg.reason, exit_code=msg.exit_code,
                      detail=msg.detail, sha=msg.sha or "", reason_code=Reason.parse(msg.reason_code),
                      phases=checked_phases(msg.phases),
                      together=lambda ending: _ends_with(_with_sha(ending, msg.sha), agent.id, msg))
    if msg.backup and job.trigger == "backup":  # verified or not: a failed one is listed with its reason
        backups.record(job, agent.id, ((job.target or {}).get("backup") or {}).get("to", ""), msg.backup)
    return jobs.to_dict(job)  # as the transaction left it (store/jobs._update applies it to the object)


def _ends_with(job, agent_id: str, msg: Finish) -> list:
    """What changes in one transaction with the job's end, so no reader sees one without the other: a
    preview's row (a preview's releases are its own, never the app's rollback history), or the release a
    succeeded deploy put live."""
    if job.preview:
        return previews.ending(job, msg.state, msg.release)
    if msg.state == JobState.SUCCEEDED.value and msg.release:
        return releases.recording(job, agent_id, msg.release)
    return []


def _with_sha(job, sha: str):
    """The job as it will be once ended: the agent may report the commit it resolved."""
    if sha:
        job.sha = sha
    return job


def checked_phases(phases) -> dict:
    """The agent's step timestamps: at most 32 names of up to 40 characters, each epoch seconds."""
    phases = phases or {}
    if (not isinstance(phases, dict) or len(phases) > 32 or not all(
            isinstance(k, str) and 0 < len(k) <= 40 and isinstance(v, (int, float)) and not isinstance(v, bool)
            for k, v in phases.items())):
        raise InvalidInput("phases", "must map at most 32 step names to epoch seconds")
    return {k: float(v) for k, v in phases.items()}


def append_logs(job_id: str, agent: AgentModel, body: dict) -> dict:
    """Log lines of a job that runs now under this agent's session; never before it runs or after it ended."""
    msg = parse(LogBatch, body)
    job = jobs.get(job_id)
    if job.state != JobState.RUNNING.value:
        raise Conflict(f"job {job_id} is {job.state}: log lines are taken only while it runs")
    if job.agent_id != agent.id:
        raise Conflict(f"job {job_id} is not held by agent {agent.id}")
    return {"last_seq": logs.append(job, msg.first_seq, msg.lines)}


def append_output(name: str, agent: AgentModel, body: dict) -> dict:
    """Lines an app's serving container printed, from an agent of a pool its docker rules deploy to: an
    agent of another pool cannot write (or fake) this app's output. A deleted app's answer is 404 (the
    agent stops following it), as is a preview the store does not know."""
    msg = parse(AppOutput, body)
    app = app_store.get(name)
    pools = {(r["target"].get("pool") or DEFAULT_POOL) for r in app.get("rules", []) if r["target"]["type"] == "docker"}
    if agent.pool not in pools:
        raise Forbidden(f"agent {agent.id} of pool {agent.pool!r} does not run app {name}: its docker rules deploy "
                        f"to {', '.join(sorted(pools)) or 'no pool'}")
    if msg.preview < 0 or (msg.preview and previews.find(name, msg.preview) is None):
        raise NotFound(f"app {name} has no preview #{msg.preview}")
    return {"last_seq": output.append(name, msg.preview, msg.lines, msg.at)}


def kept_previews(agent: AgentModel) -> dict:
    """The previews the agent's reconciler keeps; every other preview container, route and volume goes."""
    return PreviewList(previews.kept()).to_dict()


def release(job_id: str, agent: AgentModel, body: dict) -> dict:
    msg = parse(Handback, body)
    return jobs.to_dict(jobs.release(job_id, agent.id, msg.reason or "released by agent"))

