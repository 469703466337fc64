"""Job log lines, numbered by the agent so a retried upload never doubles a line.

A job keeps its last `log_max_lines` lines (TAHOBUDDY_LOG_MAX_LINES, default 10,000; 0 keeps every
line): each batch past the cap deletes as many of the oldest lines as it adds, so a build that
prints for hours costs a bounded table. Lines are numbered without gaps, so a reader counts what was
dropped from the numbers alone (`dropped`): no counter to keep in step.
"""
from __future__ import annotations

from pynamodb.exceptions import UpdateError

from functions.clock import now, now_iso
from functions.config import settings
from functions.errors import InvalidInput
from functions.store import conditions
from functions.store.models import JobModel, LogModel

MAX_BATCH = 500
MAX_LINE = 8192


def append(job: JobModel, first_seq: int, lines: list) -> int:
    if not isinstance(first_seq, int) or first_seq < 1:
        raise InvalidInput("first_seq", "must be a whole number >= 1")
    if not isinstance(lines, list) or len(lines) > MAX_BATCH or not all(isinstance(x, str) for x in lines):
        raise InvalidInput("lines", f"must be a list of at most {MAX_BATCH} strings")
    stamp, expires = now_iso(), settings().retention.log_line(now())  # outlives the job (functions/retention.py)
    last = first_seq + len(lines) - 1
    cap = settings().log_max_lines
    keep_from = max(last, job.log_lines or 0) - cap + 1 if cap else 1  # the oldest line kept
    with LogModel.batch_write() as batch:
        for i, line in enumerate(lines):
            if first_seq + i >= keep_from:  # a late retry of an old batch does not bring its lines back
                batch.save(LogModel(job.id, first_seq + i, line=line[:MAX_LINE], at=stamp, expires_at=expires))
        stored = (job.log_lines or 0) + 1  # earlier batches stored the lines below this one
        for seq in range(max(1, first_seq - cap), min(keep_from, stored)) if cap else ():
            batch.delete(LogModel(job.id, seq))  # the oldest lines, pushed out by this batch
    if lines and last > (job.log_lines or 0):
        try:
            job.update(actions=[JobModel.log_lines.set(last)], condition=JobModel.log_lines < last)
        except UpdateError as exc:
            if not conditions.failed(exc):
                raise
            # a later batch already moved the count past this one
    return last


def first_line_expiry(job_id: str) -> int | None:
    """When the job's first log line expires: the job's own expiry is capped there (functions/retention.py),
    so a job never shows with its log gone."""
    for row in LogModel.query(job_id, limit=1):
        return int(row.expires_at) if row.expires_at else None
    return None


def read(job_id: str, after: int = 0, limit: int = 1000) -> list[dict]:
    rows = LogModel.query(job_id, LogModel.seq > after, limit=limit)
    return [{"seq": int(r.seq), "line": r.line, "at": r.at} for r in rows]


def dropped(lines: list[dict], after: int = 0) -> int:
    """How many lines after `after` are gone before the first of `lines` (read with that `after`):
    the cap dropped them. Shown as "N earlier lines dropped" where a log is read."""
    return max(0, lines[0]["seq"] - after - 1) if lines else 0


def dropped_note(count: int) -> str:
    return f"{count:,} earlier line{'s' if count != 1 else ''} dropped (a job keeps its last TAHOBUDDY_LOG_MAX_LINES)"
