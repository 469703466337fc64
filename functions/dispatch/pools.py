"""Each declared pool at a glance: its queue's depth and its agents, live and lost."""
from __future__ import annotations

from functions.config import settings
from functions.dispatch import queue
from functions.store import agents


def overview() -> list[dict]:
    live = agents.listing()
    return [{"name": p, **queue.depth(p), "agents": sum(1 for a in live if a["pool"] == p),
             "live_agents": sum(1 for a in live if a["pool"] == p and a["status"] != "lost")}
            for p in settings().pools]
