"""The agent's side of the API: register, beat, claim, heartbeat, logs, finish, release.

The agent token is used once, to register; every later call carries the session token the
API returned, which names this agent (the API never takes the agent id from a header).
Errors are either unrecoverable (bad token, bad URL: stop and say so) or
retryable (network, 5xx: back off and try again, a bounded number of times).
A finish and a batch of log lines are what a user would miss, so they are retried for longer: for
up to OUTAGE_BUDGET seconds (an API restart, a network outage of a minute), never forever.

This is the agent's one way out: every body goes through `_call` as a typed message, and `_call`
passes its free text (log lines, a job's reason and detail, phase names) through `mask` first, so a
secret the agent resolved reaches neither the API nor, from there, a commit status or a chat channel.
"""
from __future__ import annotations

import random
import threading
import time
import urllib.parse

import requests

from contract.wire import (AgentBeat, AgentHello, AgentSession, AppOutput, ClaimAnswer, Finish, Handback, JobBeatAnswer,
                           LogBatch, PreviewList, WaitAnswer, Wire)
from runners.base import Log


class Unrecoverable(Exception):
    """Configuration or auth is wrong: the agent stops and says what to fix."""


class Forbidden(Unrecoverable):
    """The API refused this agent something its token may not do (403): for an app's output, the app is not
    of this agent's pool. Unrecoverable for a job's call; the output follower stops following that app."""


class Conflict(Exception):
    """The job is held by another agent or changed meanwhile."""


class Gone(Exception):
    """The API does not know the job."""


class Reporter:
    OUTAGE_BUDGET = 120.0   # seconds a finish or a log batch keeps being retried through an outage
    MAX_DELAY = 5.0         # between those retries, so the call lands soon after the API is back

    def __init__(self, api_url: str, token: str, agent_id: str, retries: int = 5, mask=lambda s: s):
        self.api, self.agent_id, self.retries = api_url.rstrip("/") + "/api/v1", agent_id, retries
        self.mask = mask  # the agent's secrets: every message's free text passes it on the way out
        self.base = self.api + "/agent/jobs"
        self.token = token
        self.session = requests.Session()
        self.session.headers.update({"Authorization": f"Bearer {token}"})

    def register(self, hello: AgentHello) -> AgentSession:
        """Trade the agent token for a session bound to this agent id (a restart replaces the last one)."""
        self.session.headers["Authorization"] = f"Bearer {self.token}"
        answer = AgentSession.from_dict(self._call(f"{self.api}/agents/register", "register", hello))
        self.session.headers["Authorization"] = f"Bearer {answer.session}"
        return answer

    def beat(self, state: str, jobs: list[str]) -> dict:
        return self._call(f"{self.api}/agents/heartbeat", "beat", AgentBeat(state, jobs), retries=1)

    def _post(self, job_id: str, action: str, message: Wire | None = None) -> dict:
        return self._call(f"{self.base}/{job_id}/{action}", action, message)

    def _call(self, url: str, action: str, message: Wire | None = None, retries: int | None = None,
              budget: float = 0.0) -> dict:
        """POST `message`, masked, with retries: `retries` attempts, or as many as fit in `budget` seconds
        when it is set."""
        body = message.masked(self.mask).to_dict() if message is not None else {}
        delay, retries = 0.5, retries or self.retries
        deadline = time.monotonic() + budget
        attempt = 0
        while True:
            last = attempt >= retries - 1 and time.monotonic() >= deadline
            attempt += 1
            try:
                r = self.session.post(url, json=body, timeout=30)
            except requests.RequestException as exc:
                if last:
                    raise
                error = exc
            else:
                if r.status_code in (401, 403):
                    raise (Forbidden if r.status_code == 403 else Unrecoverable)(
                        f"the API refused the agent token ({r.status_code}): {r.text[:200]}")
                if r.status_code == 404:
                    raise Gone(r.text[:200])
                if r.status_code == 409:
                    raise Conflict(r.json().get("Message", r.text[:200]))
                if r.status_code < 500:
                    if r.status_code >= 400:
                        raise Unrecoverable(f"{action}: {r.status_code} {r.text[:300]}")
                    return r.json()
                error = RuntimeError(f"{r.status_code} {r.text[:200]}")
                if last:
                    raise error
            # through an outage (`budget`), never more than MAX_DELAY between attempts, jitter included, so the call
            # lands soon after the API is back (the worker's keeper hides the job's message on its own clock)
            pause = delay + random.uniform(0, delay)
            time.sleep(min(pause, self.MAX_DELAY) if budget else pause)
            delay = min(delay * 2, self.MAX_DELAY if budget else 10)

    def claim(self, job_id: str) -> ClaimAnswer:
        return ClaimAnswer.from_dict(self._post(job_id, "claim"))

    def wait(self, job_id: str) -> WaitAnswer:
        return WaitAnswer.from_dict(self._call(f"{self.base}/{job_id}/wait", "wait", retries=1))

    def heartbeat(self, job_id: str) -> JobBeatAnswer:
        return JobBeatAnswer.from_dict(self._post(job_id, "heartbeat"))

    def logs(self, job_id: str, first_seq: int, lines: list[str]) -> None:
        self._call(f"{self.base}/{job_id}/logs", "logs", LogBatch(first_seq, lines), budget=self.OUTAGE_BUDGET)

    def finish(self, job_id: str, finish: Finish) -> dict:
        return self._call(f"{self.base}/{job_id}/finish", "finish", finish, budget=self.OUTAGE_BUDGET)

    def previews(self) -> PreviewList:
        """The previews the store keeps (the reconciler's question); a refused session is unrecoverable."""
        r = self.session.get(f"{self.api}/agent/previews", timeout=30)
        if r.status_code in (401, 403):
            raise Unrecoverable(f"the API refused the agent session ({r.status_code}): {r.text[:200]}")
        r.raise_for_status()
        return PreviewList.from_dict(r.json())

    def output(self, app: str, batch: AppOutput) -> dict:
        """What an app's serving container printed (masked on the way out, as every message). Two tries
        only: the output follower keeps a batch that did not land and sends it with the next one."""
        return self._call(f"{self.api}/agent/apps/{urllib.parse.quote(app, safe='')}/output", "output", batch,
                          retries=2)

    def release(self, job_id: str, reason: str) -> dict:
        return self._post(job_id, "release", Handback(reason))


class LogStream:
    """Numbered log lines, sent in batches every half second while the job runs; every line
    passes `mask` first, so a secret never leaves the agent. When the API refuses a batch because
    another agent now holds the job (its lease lapsed while this one was cut off), this copy's lines
    are dropped: they are not the job's log any more, and the copy is being stopped."""

    FLUSH_EVERY = 0.5
    BATCH = 200

    def __init__(self, reporter: Reporter, job_id: str, mask=lambda s: s, echo: Log | None = None,
                 after: int = 0, on_done=None):
        self.reporter, self.job_id, self.mask, self.echo = reporter, job_id, mask, echo
        self.on_done = on_done  # the work is done: the worker's keeper hides the job's message from then on
        self.pending: list[str] = []
        self.next_seq = after + 1  # a retried job's log goes on after the earlier attempt's lines
        self.lock = threading.Lock()
        self.sending = threading.Lock()  # one flush at a time: close() must not resend or drop a batch
        self.done = threading.Event()
        self.refused = False  # the API gave the job to another agent: nothing more is sent
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def __call__(self, line: str) -> None:
        for part in str(line).splitlines() or [""]:
            masked = self.mask(part)
            if self.echo:
                self.echo(masked)
            with self.lock:
                self.pending.append(masked)

    def _flush(self) -> None:
        with self.sending:
            self._send_pending()

    def _send_pending(self) -> None:
        while True:
            with self.lock:
                batch = self.pending[:self.BATCH]
                first = self.next_seq
            if not batch or self.refused:
                return
            try:
                self.reporter.logs(self.job_id, first, batch)
            except Conflict:
                with self.lock:
                    self.refused = True
                    self.pending.clear()
                return
            with self.lock:
                del self.pending[:len(batch)]
                self.next_seq += len(batch)

    def _loop(self) -> None:
        while not self.done.wait(self.FLUSH_EVERY):
            try:
                self._flush()
            except Exception:  # the final close() flush retries; a log hiccup must not kill a deploy
                pass

    def close(self) -> None:
        self.done.set()
        if self.on_done:  # hidden now, before a batch retried through an outage waits its turn; a batch sent
            self.on_done()  # while the work still runs keeps nothing hidden: an outage then may cost the lease
        self.thread.join(timeout=10)
        self._flush()
