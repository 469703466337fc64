"""What an app's serving container prints (its output), as the agent that runs it ships it.

Kept in the logs table beside the job logs, in one partition per app (`output:APP`) or preview
(`output:APP#pr-N`), in the same row shape ({seq, line, at}), so the CLI and the dashboard read both
alike. The partition's row 0 is a counter that each batch advances atomically (DynamoDB ADD), so
two batches, or two agents, never number two lines alike, and a reader follows with `after=SEQ`.

Bounded: an app keeps its last TAHOBUDDY_OUTPUT_MAX_LINES lines (default 5,000; each batch past the
cap deletes as many of the oldest as it adds), and each line expires TAHOBUDDY_OUTPUT_RETENTION_DAYS
(default 7) after it was written (functions/retention.py). A batch the agent sent again after a lost
answer may show twice: output lines carry no number from the agent (a container has no such thing).
"""
from __future__ import annotations

from datetime import datetime, timezone

from functions.clock import now
from functions.config import settings
from functions.errors import InvalidInput
from functions.store import app_store, logs
from functions.store.logs import MAX_BATCH, MAX_LINE
from functions.store.models import LogModel

PREFIX = "output:"


def key(app: str, preview: int = 0) -> str:
    return f"{PREFIX}{app}#pr-{preview}" if preview else f"{PREFIX}{app}"


def iso(epoch: float) -> str:
    """An epoch as the tables' ISO form (UTC, milliseconds, `Z`): such strings sort as the times do."""
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _times(at, count: int, written: float) -> list[float]:
    if at in (None, []):
        return [written] * count
    if (not isinstance(at, list) or len(at) != count
            or not all(isinstance(t, (int, float)) and not isinstance(t, bool) and 0 < t < 1e11 for t in at)):
        raise InvalidInput("at", "must list one time (epoch seconds) per line, or be left out")
    return [min(float(t), written + 60) for t in at]  # a host clock far ahead cannot put lines in the future


def append(app: str, preview: int, lines: list, at: list | None = None) -> int:
    """Store a batch of printed lines; the last seq given out (0 for an empty batch)."""
    if not isinstance(lines, list) or len(lines) > MAX_BATCH or not all(isinstance(x, str) for x in lines):
        raise InvalidInput("lines", f"must be a list of at most {MAX_BATCH} strings")
    written = now()
    times = _times(at, len(lines), written)
    if not lines:
        return 0
    stream, cap = key(app, preview), settings().output_max_lines
    head = LogModel(stream, 0)
    head.update(actions=[LogModel.last.add(len(lines)), LogModel.line.set(""), LogModel.at.set(iso(written))])
    last = int(head.last)
    first = last - len(lines) + 1
    expires = settings().retention.output_line(written)
    with LogModel.batch_write() as batch:
        for i, line in enumerate(lines):
            if first + i > last - cap:
                batch.save(LogModel(stream, first + i, line=line[:MAX_LINE], at=iso(times[i]), expires_at=expires))
        for seq in range(max(1, first - cap), last - cap + 1):
            batch.delete(LogModel(stream, seq))  # the oldest lines, pushed out by this batch
    return last


def newest(app: str, preview: int = 0) -> int:
    """The seq of the newest line written (0: none). Not the counter: a batch counts its lines before it
    writes them, and a follower going on from the counter would skip that batch."""
    for row in LogModel.query(key(app, preview), LogModel.seq > 0, scan_index_forward=False, limit=1):
        return int(row.seq)
    return 0


def read(app: str, preview: int = 0, after: int = 0, since: float | None = None, limit: int = 1000) -> list[dict]:
    """Lines after seq `after` (oldest first: a follower's next page); with no `after`, the newest
    `limit` lines, printed at or after `since` (epoch seconds) when it is given."""
    stream = key(app, preview)
    if after:
        rows = list(LogModel.query(stream, LogModel.seq > after, limit=limit))
    else:
        rows, floor = [], iso(since) if since else ""
        for row in LogModel.query(stream, LogModel.seq > 0, scan_index_forward=False):
            if len(rows) >= limit or row.at < floor:
                break
            rows.append(row)
        rows.reverse()
    return [{"seq": int(r.seq), "line": r.line, "at": r.at} for r in rows]



def page(app: str, preview: int = 0, after: int = 0, since_seconds: int = 0, limit: int = 1000) -> dict:
    """GET /api/v1/apps/APP/output: the lines, and `last_seq`, where a follower goes on from: its last line
    read, never past a line not yet written (with no `after` and no line since `since_seconds`: the newest
    line written); `dropped`: lines after `after` the cap removed."""
    app_store.get(app)  # a 404 for an app that does not exist, rather than an empty answer
    lines = read(app, preview, after, now() - since_seconds if since_seconds else None, limit)
    went_on = max([after] + [x["seq"] for x in lines])
    return {"app": app, "preview": preview, "lines": lines,
            "last_seq": went_on if went_on or since_seconds == 0 else newest(app, preview),
            "dropped": logs.dropped(lines, after) if after else 0}
