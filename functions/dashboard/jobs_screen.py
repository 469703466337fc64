"""Jobs: a list filtered by app and state, and a job's page that follows its log live.

The log is rendered up to now on the server; assets/dashboard.js then polls /jobs/{id}/log?after=N
(the API's /api/v1/jobs/{id}/logs?after= answer, authenticated by the session cookie instead of a
bearer token) while the job runs, so it works behind API Gateway, which holds no connection open.
"""
from __future__ import annotations

from contract.states import JobState

from functions.dispatch import gate
from functions.store import agents, app_store, jobs, logs, releases
from functions.errors import NotFound
from functions.dashboard import gates, layout, web
from functions.dashboard.markup import Markup, join, render, short_sha, when

STATES = [s.value for s in JobState]
LOG_PAGE = 1000


def _options(values, chosen: str, any_label: str) -> Markup:
    first = render('<option value="">{l}</option>', l=any_label)
    return first + join(render('<option value="{v}"{sel}>{v}</option>', v=v,
                               sel=Markup(" selected") if v == chosen else Markup("")) for v in values)


def _state(state: str) -> Markup:
    return render('<span class="state state-{s}">{s}</span>', s=state)


@gates.signed_in
def listing(p: web.Page):
    app, state = p.query.get("app", ""), p.query.get("state", "")
    if state and state not in STATES:
        return layout.problem(p, 400, f"unknown state {state!r}; choose one of {', '.join(STATES)}")
    names = [a["name"] for a in app_store.listing()]
    rows = jobs.listing(app or None, state or None, 100, waiting=agents.explainer())
    filters = render('<form method="get" action="{action}" class="filters"><label>App <select name="app">{apps}'
                     '</select></label> <label>State <select name="state">{states}</select></label> '
                     '<button type="submit">Filter</button></form>', action=p.url("/jobs"),
                     apps=_options(names, app, "any app"), states=_options(STATES, state, "any state"))
    if rows:
        body = layout.table(("Job", "App", "Rule", "Ref", "Commit", "State", "Why", "Created"), [
            (render('<a href="{u}">{id}</a>', u=p.url(f"/jobs/{j['id']}"), id=j["id"]), j["app"], j["rule"], j["ref"],
             short_sha(j["sha"]), _state(j["state"]), j.get("waiting") or j["reason"], when(j["created_at"]))
            for j in rows])
    elif app or state:
        body = layout.empty("No job matches these filters", "clear them, or push a ref that a rule matches")
    else:
        body = layout.empty("No jobs yet", "push a tag or branch a rule matches, or deploy by hand with",
                            "tahobuddy deploy APP REF")
    return layout.page(p, "Jobs", filters + body, "/jobs")


def _form(p: web.Page, action: str, label: str, extra: Markup = Markup(""), danger: bool = False) -> Markup:
    return render('<form method="post" action="{a}" class="action"><input type="hidden" name="csrf" value="{c}">'
                  '{extra}<button type="submit"{cls}>{label}</button></form>', a=p.url(action), c=p.session.csrf,
                  extra=extra, label=label, cls=Markup(' class="danger"') if danger else Markup(""))


def _actions(p: web.Page, job) -> Markup:
    out = []
    if job.state == JobState.AWAITING_APPROVAL.value:
        out.append(_form(p, f"/jobs/{job.id}/approve", "Approve", render(
            '<span class="hint">queue it for its agent</span> ')))
        out.append(_form(p, f"/jobs/{job.id}/reject", "Reject", render(
            '<label>Reason <input name="reason" required maxlength="500"></label> '), danger=True))
    if job.state in (JobState.AWAITING_APPROVAL.value, JobState.FROZEN.value, JobState.QUEUED.value,
                     JobState.RUNNING.value):
        out.append(_form(p, f"/jobs/{job.id}/cancel", "Cancel", danger=True))
    why_not = gate.again_refusal(job)  # the gate decides; this screen only shows its answer
    if why_not:
        out.append(render('<p class="hint" id="no-redeploy">No Redeploy: {why}</p>', why=why_not))
    else:
        out.append(_form(p, f"/jobs/{job.id}/redeploy", "Redeploy", render(
            '<span class="hint">the same rule, ref and commit, as a new job{preview}</span> ',
            preview=f" of preview #{int(job.preview)}" if job.preview else "")))
    kept = [r for r in releases.history(job.app) if r.get("image")]
    if kept:
        live = kept[-1]["job"]
        choices = join(render('<option value="{v}">{ref} at {sha} ({at}){live}</option>', v=r["sha"] or r["ref"],
                              ref=r["ref"], sha=r["sha"][:10], at=r["at"], live=" - live now" if r["job"] == live else "")
                       for r in reversed(kept))
        out.append(_form(p, f"/apps/{job.app}/rollback", "Roll back", render(
            '<label>Roll back {app} to <select name="to">{c}</select></label> ', app=job.app, c=choices)))
    else:
        out.append(render('<p class="hint">No kept image for app {app}: rollback needs a docker deploy first.</p>',
                          app=job.app))
    return join(out)


@gates.signed_in
def show(p: web.Page, job_id: str):
    try:
        job = jobs.get(job_id)
    except NotFound:
        return layout.problem(p, 404, f"No job {job_id}. See the jobs list.")
    d = jobs.to_dict(job, waiting=agents.explainer())
    lines = logs.read(job.id, 0, LOG_PAGE)
    facts = [("App", render('<a href="{u}">{a}</a>', u=p.url("/jobs", app=job.app), a=job.app)), ("Rule", job.rule),
             ("Target", f"{d['target'].get('type', '')} {d['target'].get('name', '')}"), ("Pool", job.pool),
             ("Ref", job.ref), ("Commit", short_sha(job.sha)), ("Trigger", job.trigger),
             ("State", render('<span id="job-state">{s}</span>', s=_state(job.state))),
             ("Why", d.get("waiting") or job.reason or ""), ("Agent", job.agent_id or ""),
             ("Created", when(job.created_at)), ("Finished", when(job.finished_at))]
    dl = join(render("<dt>{k}</dt><dd>{v}</dd>", k=k, v=v) for k, v in facts)
    log = join(render('<li data-seq="{seq}">{line}</li>', seq=x["seq"], line=x["line"]) for x in lines)
    gone = logs.dropped(lines)
    if gone:
        log = render('<li class="dropped">{note}</li>', note=logs.dropped_note(gone)) + log
    follow = job.state in (JobState.QUEUED.value, JobState.RUNNING.value)
    body = render('<dl class="facts">{dl}</dl><section aria-labelledby="actions"><h2 id="actions">Actions</h2>{acts}'
                  '</section><section aria-labelledby="log-h"><h2 id="log-h">Log</h2>'
                  '<p id="log-status" role="status">{status}</p>'
                  '<ol id="log" class="log" data-src="{src}" data-after="{after}" data-follow="{follow}"{ended}>{log}</ol>'
                  '</section>', dl=dl, acts=_actions(p, job), log=log, src=p.url(f"/jobs/{job.id}/log"),
                  after=lines[-1]["seq"] if lines else 0, follow="1" if follow else "",
                  ended=Markup("") if follow else render(' data-ended="{s}"', s=job.state),
                  status="following the log live" if follow else
                  f"{len(lines)} lines{f' ({gone:,} earlier dropped)' if gone else ''}; the job {job.state}")
    return layout.page(p, f"Job {job.id}", body, "/jobs")


def log_since(p: web.Page, job_id: str):
    """JSON for the live log: lines after `after`, and the job's state (the script stops when it ends)."""
    def read(after: int) -> dict:
        job = jobs.get(job_id)
        lines = logs.read(job.id, after, LOG_PAGE)
        return {"job": job.id, "state": job.state, "reason": job.reason, "lines": lines,
                "dropped": logs.dropped(lines, after)}
    return web.polled(p, read)
