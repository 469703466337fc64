"""Pools and their queues: one SQS FIFO queue (and dead-letter queue) per pool.

An agent polls only its pool's queue, so it never receives work it may not run (SQS cannot
filter a receive: Buildkite queues, GitHub runner labels and Woodpecker filters all route
before an agent receives work). The `default` pool keeps the queue name of a single-queue
deployment, so upgrading loses no message.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass

DEFAULT_POOL = "default"
POOL_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,29}$")


def queue_name(prefix: str, pool: str = DEFAULT_POOL) -> str:
    return f"{prefix}-jobs.fifo" if pool == DEFAULT_POOL else f"{prefix}-jobs-{pool}.fifo"


def dead_letter_queue_name(prefix: str, pool: str = DEFAULT_POOL) -> str:
    return f"{prefix}-jobs-dlq.fifo" if pool == DEFAULT_POOL else f"{prefix}-jobs-{pool}-dlq.fifo"


def parse_pools(raw: str) -> tuple[str, ...]:
    """`TAHOBUDDY_POOLS`: comma-separated pool names; `default` is always one of them."""
    names = [p.strip() for p in (raw or "").split(",") if p.strip()]
    bad = [p for p in names if not POOL_NAME.match(p)]
    if bad:
        raise ValueError(f"pool name {bad[0]!r}: lower-case letters, digits and '-', at most 30")
    return tuple(dict.fromkeys([DEFAULT_POOL, *names]))


@dataclass(frozen=True)
class QueueMessage:
    """The body of one job's SQS message. The job itself lives in the API; this only names it."""

    job_id: str
    target_type: str = ""
    pool: str = DEFAULT_POOL

    def to_body(self) -> str:
        return json.dumps({"job_id": self.job_id, "target": self.target_type, "pool": self.pool})

    @classmethod
    def from_body(cls, body: str) -> "QueueMessage":
        doc = json.loads(body)
        if not isinstance(doc, dict) or not isinstance(doc.get("job_id"), str) or not doc["job_id"]:
            raise ValueError("not a Tahobuddy job message (no job_id)")
        return cls(doc["job_id"], str(doc.get("target") or ""), str(doc.get("pool") or DEFAULT_POOL))
