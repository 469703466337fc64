"""Time in the two forms the tables use."""
from __future__ import annotations

import secrets
import time
from datetime import datetime, timezone


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def now() -> float:
    return time.time()


def sortable_id() -> str:
    """13 digits of epoch milliseconds + 6 hex: sorts by creation time."""
    return f"{int(time.time() * 1000):013d}{secrets.token_hex(3)}"


def id_epoch(sortable: str) -> float:
    """The creation time of a `sortable_id`, in epoch seconds (0.0 when it is not one)."""
    return int(sortable[:13]) / 1000 if sortable[:13].isdigit() else 0.0
