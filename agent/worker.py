"""The agent loop: long-poll SQS, claim through the API, run, report. Outbound only.

Each slot is IDLE (polling) or BUSY (running one job). A heartbeat beside every
running job extends both the API lease and the SQS visibility timeout, and
carries cancellation back. The first SIGTERM stops polling and lets jobs
finish; the second cancels them and hands them back for redelivery
(rq's request_stop / request_force_stop).
"""
from __future__ import annotations

import dataclasses
import json
import random
import threading
import time
import traceback
from pathlib import Path

import boto3

from runners import registry
from runners.base import Cancel, JobResult, JobSpec, Phases, Reason, RunContext, RunnerError, Status

from .config import AgentConfig
from .reporter import Conflict, Gone, LogStream, Reporter, Unrecoverable
from .secrets import Secrets
from .source import FetchError, Source

AGENT_STOPPING = "agent stopping: job handed back for another attempt"
# Seconds a received message stays ours before the claim sets it to the lease. Short, because an agent
# that exits during a long poll may still be handed a message it never sees (SQS delivers to the open
# request); the claim itself takes milliseconds, and a slow one is safe (claims are conditional).
RECEIVE_HOLD = 10


class Agent:
    def __init__(self, config: AgentConfig, say=print):
        self.config, self.say = config, say
        self.agent_id = config.resolved_agent_id()
        self.workdir = Path(config.workdir).resolve()
        self.reporter = Reporter(config.api_url, config.token, self.agent_id)
        kwargs = {"region_name": config.region}
        if config.aws_endpoint:
            kwargs["endpoint_url"] = config.aws_endpoint
        self.sqs = boto3.client("sqs", **kwargs)
        self.queue_url = config.queue_url or self.sqs.get_queue_url(QueueName=f"{config.prefix}-jobs.fifo")["QueueUrl"]
        self.source = Source(self.workdir, config.git_token, config.git_ssh_key)
        self.secrets = Secrets(config.secrets_file, ssm_path=config.secrets_ssm_path,
                               secrets_manager=config.secrets_manager, aws=kwargs)
        self.stopping = threading.Event()      # first signal: no new jobs
        self.forced = threading.Event()        # second signal: cancel running jobs
        self.fatal: str = ""
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

    def run(self) -> int:
        self.workdir.mkdir(parents=True, exist_ok=True)
        for name in self.config.targets:
            hook = getattr(registry.find(name), "on_agent_start", None)
            if hook:
                hook(self.config, self.workdir, self.say)
        slots = [threading.Thread(target=self._slot, args=(i,), daemon=True) for i in range(self.config.concurrency)]
        self.say(f"agent {self.agent_id}: polling {self.queue_url} with {len(slots)} slot(s) for "
                 f"{', '.join(self.config.targets)}")
        for t in slots:
            t.start()
        while any(t.is_alive() for t in slots):
            for t in slots:
                t.join(timeout=0.5)
            with self.lock:
                idle = not self.busy
            if self.stopping.is_set() and idle:
                break  # idle slots are only waiting on a long poll: nothing to finish, exit now
        if self.fatal:
            self.say(f"agent {self.agent_id}: stopped: {self.fatal}")
            return 1
        self.say(f"agent {self.agent_id}: stopped")
        return 0

    def _slot(self, index: int) -> None:
        backoff = 1.0
        while not self.stopping.is_set():
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
                self.stopping.wait(random.uniform(0.05, 0.5))  # jitter between empty polls
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
        body = json.loads(message["Body"])
        job_id, kind = body["job_id"], body.get("target", "")
        self.say(f"job {job_id}: received ({kind or '?'}, receive {message.get('Attributes', {}).get('ApproximateReceiveCount', '?')})")
        if kind and kind in registry.names() and kind not in self.config.targets:  # another agent's work
            self.sqs.change_message_visibility(QueueUrl=self.queue_url, ReceiptHandle=receipt, VisibilityTimeout=15)
            return
        try:
            claim = self.reporter.claim(job_id)
        except Conflict as exc:
            self.say(f"job {job_id}: not claimed ({exc}); it comes back when its lease lapses")
            return
        except Gone:
            self.say(f"job {job_id}: unknown to the API; dropping its message")
            self._delete(receipt)
            return
        if not claim["run"]:
            self.say(f"job {job_id}: {claim['state']} ({claim['reason']}); not running it")
            self._delete(receipt)
            return
        spec = JobSpec.from_claim(claim)
        # from now on the message is invisible exactly as long as the API lease: if this agent dies,
        # SQS hands the job to another agent when the lease lapses, and that agent may reclaim it
        self.sqs.change_message_visibility(QueueUrl=self.queue_url, ReceiptHandle=receipt,
                                           VisibilityTimeout=claim["lease_seconds"])
        cancel, ended, phases = Cancel(), threading.Event(), Phases()
        with self.lock:
            self.busy[job_id] = cancel
        if self.forced.is_set():
            cancel.request(AGENT_STOPPING)
        beat = threading.Thread(target=self._heartbeat, daemon=True,
                                args=(spec.job_id, receipt, claim["lease_seconds"], cancel, ended))
        beat.start()
        try:
            spec, result = self.execute(spec, cancel, int(claim["job"].get("log_lines") or 0), phases)
        finally:
            with self.lock:
                self.busy.pop(job_id, None)
            ended.set()
            beat.join(timeout=5)
        if cancel.reason == AGENT_STOPPING and result.status == Status.CANCELED:
            self.reporter.release(job_id, AGENT_STOPPING)
            self.sqs.change_message_visibility(QueueUrl=self.queue_url, ReceiptHandle=receipt, VisibilityTimeout=0)
            return
        reason = result.reason.value or ("" if result.status == Status.SUCCEEDED else "failed")
        self.reporter.finish(job_id, result.status.value, f"{reason}: {result.detail}" if reason else result.detail,
                             result.exit_code, result.detail, spec.sha, phases=phases.marks)
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
                if beat.get("cancel"):
                    cancel.request(beat.get("cancel_reason") or "canceled by user")
            except Exception as exc:  # a missed beat is retried on the next one; the lease has slack
                self.say(f"job {job_id}: heartbeat failed: {exc}")

    def execute(self, spec: JobSpec, cancel: Cancel, log_after: int = 0,
                phases: Phases | None = None) -> tuple[JobSpec, JobResult]:
        """Fetch, then the runner's lifecycle. Never raises for a failed build."""
        log = LogStream(self.reporter, spec.job_id, mask=self.secrets.mask, after=log_after)
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
            if spec.trigger != "rollback":
                ctx.phases.mark("fetch_started")
                ctx.worktree, sha = self.source.checkout(spec.repository, spec.ref, spec.sha, spec.job_id, log)
                ctx.phases.mark("fetched")
                spec = dataclasses.replace(spec, sha=sha)
            if cancel.requested:
                return spec, JobResult.canceled(cancel.reason)
            runner.prepare(spec, ctx)
            return spec, runner.run(spec, ctx, log)
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
