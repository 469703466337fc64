"""The agent loop: register, long-poll its pool's queue, claim through the API, run, report.
Outbound only.

The agent polls only its pool's SQS queue, so every message it receives is its own to run or
to refuse; it never puts one back for another agent (that burned receives until SQS
dead-lettered the job). Each slot is IDLE (polling) or BUSY (running one job). A heartbeat
beside every running job extends both the API lease and the SQS visibility timeout, and
carries cancellation back; an agent heartbeat says the agent is alive. The first SIGTERM
stops polling and lets jobs finish; the second cancels them and hands them back for
redelivery (rq's request_stop / request_force_stop).
"""
from __future__ import annotations

import dataclasses
import platform
import random
import threading
import time
import traceback
from pathlib import Path

import boto3

from contract.queues import QueueMessage, queue_name
from contract.wire import AgentHello, Finish
from runners import registry
from runners.base import NEVER_RAN, Cancel, JobResult, JobSpec, Phases, Reason, RunContext, RunnerError, Status

from . import output, previews, watch
from .config import AgentConfig
from .holder import Holder
from .keeper import Keeper
from .reporter import Conflict, Gone, LogStream, Reporter, Unrecoverable
from .secrets import Secrets
from .source import FetchError, Refused, Source, Stale

AGENT_STOPPING = "agent stopping: job handed back for another attempt"
LEASE_LOST = "lease lost: the job was reclaimed by another agent"
# Seconds a received message stays ours before the claim sets it to the lease. Short, because an agent
# that exits during a long poll may still be handed a message it never sees (SQS delivers to the open
# request); the claim itself takes milliseconds, and a slow one is safe (claims are conditional).
RECEIVE_HOLD = 10



def empty_poll_pause(poll_wait: float, elapsed: float) -> float:
    """Seconds to wait after an empty receive. A long poll that was held its time goes straight back
    to waiting, so a job pushed now is picked up at once (a pause here delayed such a job by up to
    0.5 s). An empty answer that came back early (short polling, or a queue that does not hold the
    poll) waits a jittered moment, so agents do not spin against it."""
    held = poll_wait > 0 and elapsed >= min(1.0, poll_wait)
    return 0.0 if held else random.uniform(0.05, 0.5)


def serving(spec: JobSpec) -> str:
    """The commit the app serves now, for a branch push (a webhook's): a push of it or of an older one,
    while the branch has moved on, is a replayed or late delivery (agent/source.py, Stale). Tags, manual
    deploys, replays and rollbacks are explicit choices, and previews have a history of their own."""
    if spec.trigger != "webhook" or not spec.ref.startswith("refs/heads/") or not spec.releases:
        return ""
    return str(spec.releases[-1].get("sha") or "")


class Agent:
    def __init__(self, config: AgentConfig, say=print):
        self.config = config
        self.agent_id = config.resolved_agent_id()
        self.workdir = Path(config.workdir).resolve()
        kwargs = {"region_name": config.region}
        if config.aws_endpoint:
            kwargs["endpoint_url"] = config.aws_endpoint
        self.secrets = Secrets(config.secrets_file, ssm_path=config.secrets_ssm_path,
                               secrets_manager=config.secrets_manager, aws=kwargs)
        self.say = lambda text: say(self.secrets.mask(str(text)))  # its own output is masked too
        self.reporter = Reporter(config.api_url, config.token, self.agent_id, mask=self.secrets.mask)
        self.sqs = boto3.client("sqs", **kwargs)
        self.queue_url = config.queue_url  # else found by name once the API has accepted the pool
        self.source = Source(self.workdir, config.git_token, config.git_ssh_key)
        self.stopping = threading.Event()      # first signal: no new jobs
        self.forced = threading.Event()        # second signal: cancel running jobs
        self.fatal: str = ""
        self.beat_every = 10
        self.busy: dict[str, Cancel] = {}
        self.lock = threading.Lock()

    # ---- lifecycle ----------------------------------------------------------------
    def request_stop(self) -> None:
        if not self.stopping.is_set():
            self.say(f"agent {self.agent_id}: stopping after the current job(s); signal again to cancel them")
            self.stopping.set()
            return
        self.say(f"agent {self.agent_id}: canceling {len(self.busy)} running job(s)")
        self.forced.set()
        with self.lock:
            for cancel in self.busy.values():
                cancel.request(AGENT_STOPPING)

    def register(self) -> bool:
        """Register with the API (retrying while it is unreachable); False when stopped first."""
        from . import __version__
        hello = AgentHello(self.agent_id, self.config.pool, list(self.config.targets), __version__,
                           platform.node(), self.config.concurrency)
        backoff = 1.0
        while not self.stopping.is_set():
            try:
                session = self.reporter.register(hello)
                self.beat_every = session.heartbeat_seconds
                return True
            except Unrecoverable:
                raise
            except Exception as exc:  # the API is down for a while: keep trying, say so
                self.say(f"agent {self.agent_id}: cannot register yet ({exc.__class__.__name__}: {exc}); "
                         f"retrying in {backoff:.0f}s")
                self.stopping.wait(backoff + random.uniform(0, 1))
                backoff = min(backoff * 2, 30)
        return False

    def _beat(self) -> None:
        """Tell the API this agent is alive, and what it runs, every `beat_every` seconds."""
        while not self.stopping.wait(self.beat_every):
            self._beat_once()

    def _beat_once(self) -> None:
        with self.lock:
            jobs = list(self.busy)
        state = "stopping" if self.stopping.is_set() else "busy" if jobs else "idle"
        try:
            self.reporter.beat(state, jobs)
        except Unrecoverable as exc:  # registered again elsewhere, or deleted: stop rather than run twice
            self.fatal = str(exc)
            self.stopping.set()
        except Exception as exc:  # a missed beat; the API shows the agent as lost after three
            self.say(f"agent {self.agent_id}: heartbeat failed: {exc.__class__.__name__}")

    def run(self) -> int:
        self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            if not self.register():
                return 0
        except Unrecoverable as exc:
            self.say(f"agent {self.agent_id}: stopped: {exc}")
            return 1
        if not self.queue_url:
            name = queue_name(self.config.prefix, self.config.pool)
            try:
                self.queue_url = self.sqs.get_queue_url(QueueName=name)["QueueUrl"]
            except self.sqs.exceptions.QueueDoesNotExist:
                self.say(f"agent {self.agent_id}: stopped: no queue {name} for pool {self.config.pool!r}: check "
                         "TAHOBUDDY_PREFIX, or provision the pool (make run, infra/ with TAHOBUDDY_POOLS)")
                return 1
        for target in self.config.targets:
            hook = getattr(registry.find(target), "on_agent_start", None)
            if hook:
                hook(self.config, self.workdir, self.say)
        previews.start(self)  # removes preview leftovers the store does not keep, now and every few minutes
        following = output.start(self)  # what the apps' serving containers print, to the API
        try:
            return self._serve()
        finally:
            if following:
                following.stop()

    def _serve(self) -> int:
        slots = [threading.Thread(target=self._slot, args=(i,), daemon=True) for i in range(self.config.concurrency)]
        self.say(f"agent {self.agent_id}: pool {self.config.pool}: polling {self.queue_url} with {len(slots)} "
                 f"slot(s) for {', '.join(self.config.targets)}")
        threading.Thread(target=self._beat, daemon=True).start()
        self.holder = Holder(self.reporter, self.sqs, self.queue_url, self.say, self.stopping)
        for t in slots:
            t.start()
        while any(t.is_alive() for t in slots):
            for t in slots:
                t.join(timeout=0.5)
            with self.lock:
                idle = not self.busy
            if self.stopping.is_set() and idle and not self.holder.jobs():
                break  # idle slots are only waiting on a long poll: nothing to finish, exit now
        self._beat_once()  # shows "stopping" at once rather than "lost" three beats later
        if self.fatal:
            self.say(f"agent {self.agent_id}: stopped: {self.fatal}")
            return 1
        self.say(f"agent {self.agent_id}: stopped")
        return 0

    def _slot(self, index: int) -> None:
        backoff = 1.0
        while not self.stopping.is_set():
            polled = time.monotonic()
            try:
                got = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=1,
                                               WaitTimeSeconds=self.config.poll_wait, VisibilityTimeout=RECEIVE_HOLD,
                                               AttributeNames=["ApproximateReceiveCount"])
                backoff = 1.0
            except Exception as exc:  # network or throttling: retryable
                self.say(f"slot {index}: polling failed ({exc.__class__.__name__}: {exc}); retrying in {backoff:.0f}s")
                self.stopping.wait(backoff + random.uniform(0, 1))
                backoff = min(backoff * 2, 60)
                continue
            messages = got.get("Messages", [])
            if messages and self.stopping.is_set():  # arrived after the stop: hand it straight back
                self.sqs.change_message_visibility(QueueUrl=self.queue_url, VisibilityTimeout=0,
                                                   ReceiptHandle=messages[0]["ReceiptHandle"])
                return
            if not messages:
                pause = empty_poll_pause(self.config.poll_wait, time.monotonic() - polled)
                if pause:
                    self.stopping.wait(pause)
                continue
            try:
                self.handle(messages[0])
            except Unrecoverable as exc:
                self.fatal = str(exc)
                self.stopping.set()
            except Exception:  # one bad message must not stop the agent
                self.say(f"slot {index}: error handling a message:\n{traceback.format_exc()}")

    # ---- one message ------------------------------------------------------------------
    def handle(self, message: dict) -> None:
        receipt = message["ReceiptHandle"]
        try:
            msg = QueueMessage.from_body(message["Body"])
        except ValueError as exc:
            self.say(f"dropping a message that is not a job ({exc}): {message['Body'][:200]!r}")
            self._delete(receipt)
            return
        job_id = msg.job_id
        receives = message.get("Attributes", {}).get("ApproximateReceiveCount", "?")
        self.say(f"job {job_id}: received ({msg.target_type or '?'}, receive {receives})")
        try:  # the API refuses (and ends) a job whose target type this agent does not run
            claim = self.reporter.claim(job_id)
        except Conflict as exc:
            self.say(f"job {job_id}: not claimed ({exc}); it comes back when its lease lapses")
            return
        except Gone:
            self.say(f"job {job_id}: unknown to the API; dropping its message")
            self._delete(receipt)
            return
        if not claim.run and claim.wait_until > 0:  # its quiet period: hold the message, free the slot
            self.holder.hold(job_id, receipt, claim.wait_until, claim.reason)
            return
        if not claim.run:
            self.say(f"job {job_id}: {claim.state} ({claim.reason}); not running it")
            self._delete(receipt)
            return
        spec = JobSpec.from_claim(claim, self.config.resolved_installation())
        # from now on the message is invisible exactly as long as the API lease: if this agent dies,
        # SQS hands the job to another agent when the lease lapses, and that agent may reclaim it
        self.sqs.change_message_visibility(QueueUrl=self.queue_url, ReceiptHandle=receipt,
                                           VisibilityTimeout=claim.lease_seconds)
        cancel, ended, phases = Cancel(), threading.Event(), Phases()
        with self.lock:
            self.busy[job_id] = cancel
        if self.forced.is_set():
            cancel.request(AGENT_STOPPING)
        beat = threading.Thread(target=self._heartbeat, daemon=True,
                                args=(spec.job_id, receipt, claim.lease_seconds, cancel, ended))
        beat.start()

        keeper = Keeper(lambda: self.sqs.change_message_visibility(  # the work is done: never run again
            QueueUrl=self.queue_url, ReceiptHandle=receipt, VisibilityTimeout=claim.lease_seconds),
            claim.lease_seconds, 2 * self.reporter.OUTAGE_BUDGET + claim.lease_seconds,
            lambda words: self.say(f"job {job_id}: {words}"))
        try:
            self._run_and_finish(job_id, receipt, spec, claim, cancel, ended, beat, phases, keeper)
        finally:
            keeper.stop()

    def _run_and_finish(self, job_id: str, receipt: str, spec: JobSpec, claim, cancel: Cancel,
                        ended: threading.Event, beat: threading.Thread, phases: Phases, keeper: Keeper) -> None:
        """The job's work, then its finish; `keeper` hides the message from the work's end (the log stream's
        close) until the finish is answered: a slow or hanging API must not let another agent run it again."""
        try:
            spec, result = self.execute(spec, cancel, int(claim.job.get("log_lines") or 0), phases, keeper.start)
        finally:
            with self.lock:
                self.busy.pop(job_id, None)
            ended.set()
            beat.join(timeout=5)
        if cancel.reason == AGENT_STOPPING and result.status == Status.CANCELED:
            keeper.stop()  # handed back: visible again at once, and left so
            self.reporter.release(job_id, AGENT_STOPPING)
            self.sqs.change_message_visibility(QueueUrl=self.queue_url, ReceiptHandle=receipt, VisibilityTimeout=0)
            return
        if cancel.reason == LEASE_LOST:  # a finish would be refused; the message is the new holder's now
            keeper.stop()
            self.say(f"job {job_id}: stopped its copy ({LEASE_LOST}); nothing reported")
            return
        reason = result.reason.value or ("" if result.status in (Status.SUCCEEDED, Status.SKIPPED) else "failed")
        keeper.start()  # running since the log stream closed (a no-op then); kept until the finish is answered
        try:
            self.reporter.finish(job_id, Finish(
                result.status.value, reason_code=result.reason.value,
                reason=f"{reason}: {result.detail}" if reason else result.detail, exit_code=result.exit_code,
                detail=result.detail, sha=spec.sha, release=dict(result.release), phases=dict(phases.marks),
                backup=dict(result.backup)))
        except Conflict as exc:  # the lease lapsed and another agent took the job over: its result counts
            self.say(f"job {job_id}: finish refused ({exc}); another agent owns it now")
            return
        self.say(f"job {job_id}: {result.status.value} {result.detail}")
        self._delete(receipt)

    def _delete(self, receipt: str) -> None:
        self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=receipt)

    def _heartbeat(self, job_id: str, receipt: str, lease: int, cancel: Cancel, ended: threading.Event) -> None:
        """Every third of the lease: extend it at the API and in SQS, and pick up a cancel."""
        while not ended.wait(max(1.0, lease / 3)):
            try:
                beat = self.reporter.heartbeat(job_id)
                self.sqs.change_message_visibility(QueueUrl=self.queue_url, ReceiptHandle=receipt,
                                                   VisibilityTimeout=lease)
                if beat.cancel:
                    cancel.request(beat.cancel_reason or "canceled by user")
            except Conflict as exc:  # the lease lapsed and the job was reclaimed elsewhere: stop our copy
                self.say(f"job {job_id}: lease lost ({exc}); stopping this agent's copy")
                cancel.request(LEASE_LOST)
                return  # every later beat would be refused the same way
            except Exception as exc:  # a missed beat is retried on the next one; the lease has slack
                self.say(f"job {job_id}: heartbeat failed: {exc}")

    def execute(self, spec: JobSpec, cancel: Cancel, log_after: int = 0,
                phases: Phases | None = None, work_done=None) -> tuple[JobSpec, JobResult]:
        """Fetch, then the runner's lifecycle. Never raises for a failed build. `work_done` runs when the log
        closes, the work over (the worker's keeper then hides the message: an outage must not rerun it)."""
        log = LogStream(self.reporter, spec.job_id, mask=self.secrets.mask, after=log_after, on_done=work_done)
        try:
            runner = registry.find(spec.target_type)
        except KeyError as exc:  # no agent of this version can run it: end it, never leave it queued
            log(f"tahobuddy: {exc.args[0]}")
            log.close()
            return spec, JobResult.never_ran(Reason.REFUSED, exc.args[0])
        ctx = RunContext(workdir=self.workdir, worktree=None, cancel=cancel, settings=self.config,
                         secrets=self.secrets, timeout=float(spec.target.get("timeout", 1800)),
                         phases=phases or Phases())
        log(f"tahobuddy: job {spec.job_id} ({spec.app}/{spec.rule}, {spec.target_type}) on agent {self.agent_id}, "
            f"attempt {spec.attempt}")
        try:
            if not runner.available():
                return spec, JobResult.never_ran(Reason.REFUSED, f"the {runner.name} runner is not available here")
            # none of these builds the repository's code
            if spec.trigger not in ("rollback", "teardown", "purge", "run", "backup", "restore", "promote"):
                ctx.phases.mark("fetch_started")
                ctx.worktree, sha = self.source.checkout(spec.repository, spec.ref, spec.sha, spec.job_id, log,
                                                         serving=serving(spec))
                ctx.phases.mark("fetched")
                spec = dataclasses.replace(spec, sha=sha)
                skipped = watch.skip_reason(spec, self.source, log)
                if skipped:
                    log(f"tahobuddy: {skipped}")
                    return spec, JobResult(Status.SKIPPED, 0, Reason.NONE, skipped)
            if cancel.requested:
                return spec, JobResult.canceled(cancel.reason)
            runner.prepare(spec, ctx)
            return spec, runner.run(spec, ctx, log)
        except Stale as exc:
            log(f"tahobuddy: {exc}")
            return spec, JobResult(Status.SUPERSEDED, NEVER_RAN, Reason.SUPERSEDED, str(exc))
        except Refused as exc:
            log(f"tahobuddy: {exc}")
            return spec, JobResult.never_ran(Reason.REFUSED, str(exc))
        except FetchError as exc:
            log(f"tahobuddy: {exc}")
            return spec, JobResult.never_ran(Reason.SETUP_ERROR, str(exc))
        except RunnerError as exc:
            log(f"tahobuddy: {exc}")
            return spec, JobResult.never_ran(exc.reason, str(exc))
        except Exception as exc:  # a broken runner: report it as such, keep the agent alive
            log(f"tahobuddy: the {runner.name} runner crashed:\n{traceback.format_exc()}")
            return spec, JobResult.never_ran(Reason.SETUP_ERROR, f"{runner.name} runner crashed: {exc!r}")
        finally:
            try:
                runner.cleanup(spec, ctx)
            except Exception as exc:  # cleanup must not hide the result
                log(f"tahobuddy: cleanup failed: {exc!r}")
            self.source.remove(ctx.worktree)
            log.close()
