"""Where a job's time went: the agent's step marks (epoch seconds) and the API's own timestamps,
turned into the seconds each step took. Shared by `tahobuddy jobs ID` and bench/deploy.py."""
from __future__ import annotations

from datetime import datetime

# (label, from, to): a mark name, or an API timestamp ("event.received_at", "created_at", "started_at")
STEPS = (
    ("webhook->queued", "event.received_at", "created_at"),
    ("queued->claimed", "created_at", "started_at"),
    ("fetch", "fetch_started", "fetched"),
    ("build", "build_started", "built"),
    ("container start", "built", "container_started"),
    ("healthy", "container_started", "healthy"),
    ("route switched", "healthy", "route_switched"),
    ("old retired", "route_switched", "old_retired"),
    ("watch", "route_switched", "watch_passed"),
    ("cache images pushed", "cache_started", "cache_pushed"),
    ("watch: detected", "watch_first_failed", "watch_failed"),
    ("watch: swapped back", "watch_failed", "rolled_back"),
)


def _epoch(value) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)):
        return float(value)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


def durations(job: dict, event: dict | None = None) -> dict[str, float]:
    """Seconds per step, only for steps whose both ends were recorded (a rollback has no fetch)."""
    moments = {**{k: job.get(k) for k in ("created_at", "started_at")}, **(job.get("phases") or {})}
    if event:
        moments["event.received_at"] = event.get("received_at")
    out = {}
    for label, start, end in STEPS:
        a, b = _epoch(moments.get(start)), _epoch(moments.get(end))
        if a is not None and b is not None:
            out[label] = round(b - a, 3)
    return out
