"""Messages held through their job's quiet period, without a slot and without extra receives.

A job whose quiet period has not passed is not claimed: its message stays invisible (extended
here) while this thread asks the API every second whether to keep waiting. A newer job of the
same app and target supersedes it (its message is deleted, which unblocks the FIFO group, so the
newer one arrives and waits in turn); a canceled one is dropped; when the period ends the
message is made visible again and a slot receives and claims it as usual. A message costs one
receive for the wait and one for the run, however long the period: it never nears the DLQ.
"""
from __future__ import annotations

import threading
import time

EXTEND_TO = 30       # seconds of invisibility bought each time
EXTEND_EVERY = 10    # so a missed tick or two never lets the message go
TICK = 1.0


class Holder:
    def __init__(self, reporter, sqs, queue_url: str, say, stopping: threading.Event):
        self.reporter, self.sqs, self.queue_url, self.say, self.stopping = reporter, sqs, queue_url, say, stopping
        self.held: dict[str, dict] = {}
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def hold(self, job_id: str, receipt: str, until: float, reason: str) -> None:
        self._visibility(receipt, EXTEND_TO)
        with self.lock:
            self.held[job_id] = {"receipt": receipt, "until": until, "extended": time.monotonic()}
        self.say(f"job {job_id}: {reason}; holding its message")

    def jobs(self) -> list[str]:
        with self.lock:
            return list(self.held)

    def _visibility(self, receipt: str, seconds: int) -> None:
        self.sqs.change_message_visibility(QueueUrl=self.queue_url, ReceiptHandle=receipt, VisibilityTimeout=seconds)

    def _drop(self, job_id: str) -> dict | None:
        with self.lock:
            return self.held.pop(job_id, None)

    def _loop(self) -> None:
        while True:
            if self.stopping.wait(TICK):
                for job_id in self.jobs():  # hand them back at once for another agent of the pool
                    entry = self._drop(job_id)
                    try:
                        self._visibility(entry["receipt"], 0)
                    except Exception as exc:  # it comes back when its invisibility ends anyway
                        self.say(f"job {job_id}: could not hand back its message ({exc.__class__.__name__})")
                if not self.jobs():
                    return
                continue
            for job_id in self.jobs():
                try:
                    self._tick(job_id)
                except Exception as exc:  # the API or SQS away for a moment: try again next tick
                    self.say(f"job {job_id}: quiet-period check failed ({exc.__class__.__name__}: {exc})")

    def _tick(self, job_id: str) -> None:
        with self.lock:
            entry = dict(self.held.get(job_id) or {})
        if not entry:
            return
        answer = self.reporter.wait(job_id)
        if answer.state != "queued":
            self._drop(job_id)
            self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=entry["receipt"])
            self.say(f"job {job_id}: {answer.state} while waiting ({answer.reason}); message dropped")
        elif answer.wait_until <= time.time():
            self._drop(job_id)
            self._visibility(entry["receipt"], 0)  # a slot receives it again and claims it
            self.say(f"job {job_id}: quiet period over")
        elif time.monotonic() - entry["extended"] > EXTEND_EVERY:
            self._visibility(entry["receipt"], EXTEND_TO)
            with self.lock:
                if job_id in self.held:
                    self.held[job_id]["extended"] = time.monotonic()
