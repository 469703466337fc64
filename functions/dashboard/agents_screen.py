"""Agents, pools and dead letters: who can take jobs, how deep each pool's queue is, and which
jobs ended in a dead-letter queue (with how to replay them)."""
from __future__ import annotations

from functions.store import agents
from functions.dispatch import dead_letters, queue
from functions.config import settings
from functions.dashboard import gates, layout, web
from functions.dashboard.markup import Markup, join, render, when
from datetime import datetime, timezone


def _epoch(seconds: float) -> Markup:
    if not seconds:
        return Markup("&ndash;")
    return when(datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"))


@gates.signed_in
def show(p: web.Page):
    live = agents.listing()
    pools = []
    for name in settings().pools:
        depth = queue.depth(name)
        mine = [a for a in live if a["pool"] == name]
        pools.append((name, depth["waiting"], depth["in_flight"], depth["dead_letters"], len(mine),
                      sum(1 for a in mine if a["status"] != "lost")))
    pool_table = layout.table(("Pool", "Waiting", "In flight", "Dead letters", "Agents", "Live agents"), pools)
    if live:
        agent_part = layout.table(("Agent", "Pool", "Status", "Targets", "Jobs", "Host", "Version", "Started",
                                   "Last seen"), [
            (a["id"], a["pool"], render('<span class="status status-{s}">{s}</span>', s=a["status"]),
             ", ".join(a["targets"]), join((render('<a href="{u}">{j}</a>', u=p.url(f"/jobs/{j}"), j=j)
                                            for j in a["jobs"]), " "), a["host"], a["version"], when(a["started_at"]),
             _epoch(a["last_seen"])) for a in live])
    else:
        agent_part = layout.empty("No agent has registered", "start one on the machine that runs your apps with",
                                  "TAHOBUDDY_AGENT_TOKEN=... tahobuddy agent")
    letters = dead_letters.listing()
    if letters:
        letter_part = layout.table(("Pool", "Job", "App", "Ref", "State", "Reason", "Sent"), [
            (d["pool"], render('<a href="{u}">{j}</a>', u=p.url(f"/jobs/{d['job_id']}"), j=d["job_id"])
             if d["job_id"] else "", d.get("app", ""), d.get("ref", ""), d["state"], d["reason"], _epoch(d["sent_at"]))
            for d in letters]) + render('<p class="hint">Replay one with <code>tahobuddy dlq replay JOB</code>.</p>')
    else:
        letter_part = layout.empty("No dead letters", "every job message reached an agent")
    body = render('<section aria-labelledby="pools"><h2 id="pools">Pools</h2>{pools}</section>'
                  '<section aria-labelledby="agents"><h2 id="agents">Agents</h2>{agents}</section>'
                  '<section aria-labelledby="dlq"><h2 id="dlq">Dead letters</h2>{letters}</section>',
                  pools=pool_table, agents=agent_part, letters=letter_part)
    return layout.page(p, "Agents and pools", body, "/agents")
