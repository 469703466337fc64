"""The outbox: every state change of a job that someone should hear of becomes one item, written
where the change is made (jobs._update, dispatch's job creation), and sent later by
functions/notify/sender.py.

`record` never raises: reporting must not fail or slow a deploy. GitHub hears of a job when
credentials are configured and the job has a commit SHA on a GitHub repository: the app's
repository when it is one, else the repository of the webhook event that made the job. The app's
`notify` entries hear of the states they list (functions/domain/notifications.py).
"""
from __future__ import annotations

import logging
import os
import re

from functions.clock import sortable_id
from functions.domain import notifications
from functions.domain.refs import repo_key, web_host
from functions.store import app_store
from functions.store.models import EventModel, JobModel, OutboxModel

log = logging.getLogger(__name__)
PENDING = "pending"
_SHA = re.compile(r"^[0-9a-f]{40}$")
_OWNER_NAME = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_CREDENTIALS = ("TAHOBUDDY_GITHUB_TOKEN", "TAHOBUDDY_GITHUB_APP_ID", "TAHOBUDDY_GITHUB_SECRET")


def enabled() -> bool:
    return any(os.environ.get(name) for name in _CREDENTIALS)


def github_repo(repository: str, event_id: str = "") -> str:
    """owner/name on the GitHub the credentials are for, or '': a bare owner/name, a URL on that
    GitHub's host (github.com, or the Enterprise host of TAHOBUDDY_GITHUB_API_URL), else the
    repository of the webhook event that made the job."""
    if _OWNER_NAME.match(repository or ""):
        return repository
    host = web_host(os.environ.get("TAHOBUDDY_GITHUB_API_URL", ""))
    key = repo_key(repository)
    if key.startswith(host + "/") and key.count("/") == 2:
        return key.split("/", 1)[1]
    if event_id:
        try:
            full = EventModel.get(event_id).summary.get("repository", "")
            return full if full.count("/") == 1 else ""
        except Exception:  # noqa: BLE001 - no event: nothing to report to
            return ""
    return ""


def snapshot(job: JobModel, app: dict | None) -> dict:
    """What the sender needs, as the job was at this change (later changes do not rewrite it)."""
    rule = next((r for r in (app or {}).get("rules", []) if r.get("name") == job.rule), {})
    target = dict(job.target or {})
    change = {"job_id": job.id, "app": job.app, "rule": job.rule, "state": job.state, "reason": job.reason or "",
              "reason_code": job.reason_code or "", "ref": job.ref, "sha": job.sha,
              "target_type": target.get("type", ""), "environment": rule.get("environment") or f"{job.app}-{job.rule}",
              "production_environment": rule.get("production_environment")}
    if target.get("type") == "docker" and (app or {}).get("hostname"):
        change["environment_url"] = f"https://{app['hostname']}{app.get('path_prefix') or '/'}"
    elif target.get("type") == "heroku" and target.get("app"):
        change["environment_url"] = f"https://{target['app']}.herokuapp.com/"
    preview = target.get("preview") or {}
    if job.preview and preview.get("hostname"):
        # a pull request's own short-lived environment (GitHub shows it as destroyed once inactive)
        change.update(preview=int(job.preview), teardown=job.trigger == "teardown",
                      environment=f"{job.app}-pr-{int(job.preview)}", production_environment=False,
                      transient_environment=True, environment_url=f"https://{preview['hostname']}/")
    return change


def lane_of(repo: str, job: JobModel) -> str:
    """Changes delivered in order: per pull request and app for previews (its pushes, its teardown and
    its one comment), else per commit."""
    if not repo:
        return f"app/{job.app}@{job.sha or job.id}"
    return f"{repo}#pr-{int(job.preview)}/{job.app}" if job.preview else f"{repo}@{job.sha}"


def record(job: JobModel, app: dict | None = None) -> None:
    """One outbox item for the job's current state (the single hook jobs.py and dispatch.py call):
    for GitHub when credentials are set and the job has a commit on a GitHub repository, and for the
    app's `notify` entries that want this state. A caller that holds the app passes it (no read)."""
    try:
        reports = enabled() and bool(_SHA.match(job.sha or ""))
        repo = github_repo(job.repository, job.event_id) if reports else ""
        if app is None:
            try:
                app = app_store.get(job.app)
            except Exception:  # noqa: BLE001 - a deleted app still reports its job's end to GitHub
                app = None
        notify = notifications.wanted(app, job.state)
        if not repo and not notify:
            return
        change = {**snapshot(job, app), "repo": repo, "notify": notify}
        OutboxModel(lane_of(repo, job), sortable_id(), job_id=job.id, change=change, pending=PENDING).save()
    except Exception:  # noqa: BLE001 - never let reporting fail a deploy; the log says what went wrong
        log.exception("outbox: could not record job %s (%s)", job.id, job.state)


def for_job(job_id: str) -> dict:
    """How the job's reports went, for `GET /jobs/ID` and `tahobuddy jobs ID`."""
    items = list(OutboxModel.by_job.query(job_id))
    if not items:
        return {}
    gave_up = [{"state": i.change.get("state"), "error": i.error} for i in items if i.outcome == "gave_up"]
    notified = [{"state": i.change.get("state"), "type": e["type"],
                 "result": (i.done or {}).get(f"notify:{n}", "pending")}
                for i in items for n, e in enumerate(i.change.get("notify") or [])]
    out = {"sent": sum(1 for i in items if i.outcome == "sent"), "pending": sum(1 for i in items if i.pending),
           "gave_up": gave_up, "last_error": next((i.error for i in reversed(items) if i.error), "")}
    return {**out, "notify": notified} if notified else out
