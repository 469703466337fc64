"""Apps: each app's rules and what each rule serves now (from the release history in the store,
or for rules that keep no image, the newest job that succeeded)."""
from __future__ import annotations

from functions.clock import now
from functions.domain import schedules
from functions.store import app_store, jobs, releases
from functions.store import schedules as schedule_rows
from functions.dashboard import gates, layout, web
from functions.dashboard.markup import Markup, join, render, short_sha, when


def _match(rule: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted((rule.get("match") or {}).items()))


def serving(app: dict) -> dict[str, dict]:
    """Per rule name: {ref, sha, since, live, job} of what it put out last."""
    history = releases.history(app["name"])
    live_job = history[-1]["job"] if history else None
    out = {}
    for entry in history:
        out[entry["rule"]] = {"ref": entry["ref"], "sha": entry["sha"], "since": entry["at"], "job": entry["job"],
                              "live": entry["job"] == live_job}
    for job in jobs.listing(app["name"], "succeeded", limit=50):
        out.setdefault(job["rule"], {"ref": job["ref"], "sha": job["sha"], "since": job["finished_at"],
                                     "job": job["id"], "live": True})
    return out


def when_it_deploys(app: dict, rule: dict) -> str:
    """What decides when the rule deploys, besides a matching push: its schedule (next run, what the last
    tick did), an approval, freeze windows, path filters. Empty: every matching push deploys at once."""
    out = []
    schedule = rule.get("schedule")
    if schedule:
        what = "runs " + " ".join(schedule["command"]) if schedule.get("command") else "redeploys"
        row = schedule_rows.get(app["name"], rule["name"])
        last = f"; last tick {row.last_outcome}" if row is not None and row.last_outcome else ""
        out.append(f"{what} on {schedule['cron']} ({schedule.get('timezone', 'UTC')}): next "
                   f"{schedules.when(schedules.next_tick(schedule, now()), schedule)}{last}")
    if (rule.get("approval") or {}).get("required"):
        approvers = (rule["approval"].get("approvers") or [])
        out.append("needs approval" + (f" by {', '.join(approvers)}" if approvers else ""))
    windows = len(rule.get("freeze") or []) + len(app.get("freeze") or [])
    if windows:
        out.append(f"{windows} freeze window(s)")
    if rule.get("paths") or rule.get("ignore_paths"):
        out.append("only when " + ", ".join(rule.get("paths") or ["any path"]) + " change"
                   + (f" (not {', '.join(rule['ignore_paths'])})" if rule.get("ignore_paths") else ""))
    return "; ".join(out)


def _host_link(app: dict) -> Markup:
    host = app.get("hostname")
    if not host:
        return Markup("")
    return render('<p>Hostname: <a href="https://{h}" rel="noreferrer">{h}</a></p>', h=host)


def section(p: web.Page, app: dict) -> Markup:
    now = serving(app)
    rows = []
    for rule in app["rules"]:
        s = now.get(rule["name"])
        if s:
            serving_now = render('{ref} at {sha}, since {since}{live} (<a href="{job}">job</a>)', ref=s["ref"],
                                 sha=short_sha(s["sha"]), since=when(s["since"]), job=p.url(f"/jobs/{s['job']}"),
                                 live=Markup(" <strong>live</strong>") if s["live"] else Markup(""))
        else:
            serving_now = Markup("nothing yet: push a matching ref, or redeploy from a job")
        rows.append((rule["name"], _match(rule), f"{rule['target']['type']} {rule['target'].get('name', '')}",
                     rule["target"].get("pool") or "default", when_it_deploys(app, rule) or "on push", serving_now))
    return render('<section aria-labelledby="app-{n}"><h2 id="app-{n}">{n}</h2><p>Repository <code>{repo}</code>'
                  ' &middot; <a href="{jobs}">its jobs</a> &middot; <a href="{page}">its output, run a command</a>'
                  '</p>{host}{table}</section>', page=p.url(f"/apps/{app['name']}"),
                  n=app["name"], repo=app["repository"], host=_host_link(app), jobs=p.url("/jobs", app=app["name"]),
                  table=layout.table(("Rule", "Matches", "Target", "Pool", "When", "Serving now"), rows))


@gates.signed_in
def show(p: web.Page):
    specs = app_store.listing()
    body = join(section(p, s) for s in specs) if specs else layout.empty(
        "No apps yet", "describe one in a file and apply it with", "tahobuddy apply -f tahobuddy.yaml")
    return layout.page(p, "Apps", body, "/apps")
