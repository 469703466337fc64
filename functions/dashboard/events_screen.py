"""Events: each webhook delivery with its decision (per app and rule: a job, or why not), and a
payload viewer that shows the body GitHub sent, as text."""
from __future__ import annotations

import json

from functions.store import events
from functions.errors import NotFound
from functions.dashboard import gates, layout, web
from functions.dashboard.markup import Markup, join, render, when


def _decision(p: web.Page, decision: list) -> Markup:
    if not decision:
        return Markup("no rule was asked")
    items = []
    for d in decision:
        job = render(' &rarr; <a href="{u}">job {j}</a>', u=p.url(f"/jobs/{d['job_id']}"), j=d["job_id"]) \
            if d.get("job_id") else Markup("")
        why = " ".join(str(d.get(k)) for k in ("outcome", "reason") if d.get(k))
        items.append(render("<li>{app} / {rule}: {why}{job}</li>", app=d.get("app", ""), rule=d.get("rule", ""),
                            why=why or json.dumps(d, sort_keys=True), job=job))
    return render('<ul class="decision">{i}</ul>', i=join(items))


@gates.signed_in
def listing(p: web.Page):
    rows = events.listing(100)
    if not rows:
        return layout.page(p, "Events", layout.empty(
            "No webhook deliveries yet", "add the webhook URL to your repository (make run prints it), then push"),
            "/events")
    table = layout.table(("Received", "Event", "Ref", "Decision", "Reason", "Payload"), [
        (when(e["received_at"]), e["event_type"], (e["summary"] or {}).get("ref", ""), _decision(p, e["decision"]),
         e["reason"], render('<a href="{u}">view {n} bytes</a>', u=p.url(f"/events/{e['id']}"), n=e["payload_size"]))
        for e in rows])
    return layout.page(p, "Events", table, "/events")


@gates.signed_in
def show(p: web.Page, event_id: str):
    try:
        d = events.to_dict(events.get(event_id), with_payload=True)
    except NotFound:
        return layout.problem(p, 404, f"No event {event_id}. See the events list.")
    try:
        payload = json.dumps(json.loads(d["payload"]), indent=2, sort_keys=True)
    except ValueError:
        payload = d["payload"]
    summary = join(render("<dt>{k}</dt><dd>{v}</dd>", k=k, v=v) for k, v in sorted((d["summary"] or {}).items()))
    body = render('<p>Received {at}; {status}. {reason}</p><h2>Decision</h2>{dec}<h2>What it said</h2>'
                  '<dl class="facts">{summary}</dl><h2>Payload</h2><pre class="payload" tabindex="0">{payload}</pre>',
                  at=when(d["received_at"]), status=d["status"], reason=d["reason"], dec=_decision(p, d["decision"]),
                  summary=summary, payload=payload)
    return layout.page(p, f"Event {d['event_type']}", body, "/events")
