"""The outbox: every state change of a job that someone should hear of becomes one item, written in
the same DynamoDB transaction as the change itself (`stage`, called by store/jobs.py and
dispatch/enqueue.py), and sent later by functions/notify/sender.py. An item that cannot be written
fails the state change: a report never vanishes.

What a job reports is decided once, when the job is made (`policy`, kept on the job as `reporting`):
its forge's commit status (GitHub, GitLab, Gitea or Forgejo: the app's `forge`) when that forge's
credentials are configured and the repository is one of its own (the app's, else the webhook
event's), and the app's `notify` entries (functions/domain/notifications.py). A state change reads
nothing: neither the app nor the event.
"""
from __future__ import annotations

import os

from functions.clock import sortable_id
from functions.config import settings
from functions.domain import forges, notifications, refs
from functions.store import app_store
from functions.store.models import EventModel, JobModel, OutboxModel

PENDING = "pending"
SHARED_SECRET = "TAHOBUDDY_GITHUB_SECRET"     # the Secrets Manager secret with every forge's credentials
CREDENTIALS = {"github": ("TAHOBUDDY_GITHUB_TOKEN", "TAHOBUDDY_GITHUB_APP_ID", SHARED_SECRET),
               **{f: (f"TAHOBUDDY_{f.upper()}_TOKEN", SHARED_SECRET) for f in ("gitlab", "gitea", "forgejo")}}


def enabled(forge: str = "github") -> bool:
    return any(os.environ.get(name) for name in CREDENTIALS[forge])


def github_repo(repository: str, event_repository: str = "") -> str:
    """owner/name on the GitHub the credentials are for, or '': a bare owner/name, a URL on that
    GitHub's host (github.com, or the Enterprise host of TAHOBUDDY_GITHUB_API_URL), else the
    repository of the webhook event that made the job."""
    if refs.OWNER_NAME.match(repository or ""):
        return repository
    host = refs.web_host(os.environ.get("TAHOBUDDY_GITHUB_API_URL", ""))
    key = refs.repo_key(repository)
    if key.startswith(host + "/") and key.count("/") == 2:
        return key.split("/", 1)[1]
    return event_repository if event_repository.count("/") == 1 else ""


def forge_repo(repository: str, event_repository: str = "") -> str:
    """host/path of a GitLab, Gitea or Forgejo project: the app's repository when it names a host, else
    the webhook event's (a local path names none)."""
    for candidate in (repository, event_repository):
        key = refs.repo_key(candidate)
        if key and not key.startswith("/") and key.count("/") >= 2:
            return key
    return ""


def _event_repository(event_id: str) -> str:
    try:
        return str(EventModel.get(event_id).summary.get("repository", "")) if event_id else ""
    except Exception:  # noqa: BLE001 - no event: nothing to report to
        return ""


def policy(app: dict, rule: dict, event_repository: str | None = None, event_id: str = "") -> dict:
    """What a job of `rule` of `app` reports, copied onto the job when it is made: the forge and the
    repository its commit statuses go to (or why none go), its notify entries, its environment."""
    forge = forges.of(app, settings().forge_hosts)
    repository = app.get("repository", "")
    find = github_repo if forge == "github" else forge_repo
    repo = find(repository)
    if not repo and event_id and event_repository is None:
        event_repository = _event_repository(event_id)  # a caller without the event: read once, here
    repo = repo or find(repository, event_repository or "")
    off = ""
    if not enabled(forge):
        off = f"no {forge} credentials: set {' or '.join(CREDENTIALS[forge][:-1])}, or {SHARED_SECRET}"
    elif not repo:
        off = f"repository {repository!r} names no {forge} repository to report to"
    report = {"forge": forge, "repo": "" if off else repo, "status_off": off, "notify": list(app.get("notify") or []),
              "environment": rule.get("environment") or f"{app['name']}-{rule['name']}",
              "production_environment": rule.get("production_environment")}
    target = rule.get("target") or {}
    if target.get("type") == "docker" and app.get("hostname"):
        report["environment_url"] = f"https://{app['hostname']}{app.get('path_prefix') or '/'}"
    elif target.get("type") == "heroku" and target.get("app"):
        report["environment_url"] = f"https://{target['app']}.herokuapp.com/"
    return report


def _legacy_policy(job: JobModel) -> dict:
    """A job made before jobs carried their policy: read its app (and event) as before."""
    try:
        app = app_store.get(job.app)
    except Exception:  # noqa: BLE001 - a deleted app still reports its job's end to GitHub
        app = {"name": job.app, "repository": job.repository}
    rule = next((r for r in app.get("rules", []) if r.get("name") == job.rule), {"name": job.rule})
    return policy(app, {**rule, "target": dict(job.target or {})}, event_id=job.event_id)


def snapshot(job: JobModel, app: dict | None = None) -> dict:
    """What the sender needs, as the job was at this change (later changes do not rewrite it)."""
    if app is not None:
        rule = next((r for r in app.get("rules", []) if r.get("name") == job.rule), {"name": job.rule})
        report = policy({"repository": job.repository, **app}, {**rule, "target": dict(job.target or {})})
    else:
        report = job.reporting or _legacy_policy(job)
    target = dict(job.target or {})
    change = {"job_id": job.id, "app": job.app, "rule": job.rule, "state": job.state, "reason": job.reason or "",
              "reason_code": job.reason_code or "", "ref": job.ref, "sha": job.sha,
              "target_type": target.get("type", ""), "environment": report.get("environment"),
              "production_environment": report.get("production_environment")}
    if report.get("environment_url"):
        change["environment_url"] = report["environment_url"]
    if target.get("promoted_from"):
        change["promoted_from"] = target["promoted_from"]
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


def item(job: JobModel) -> OutboxModel | None:
    """The outbox item for the job's current state, or None when nobody is to hear of it."""
    report = job.reporting or _legacy_policy(job)
    repo = report.get("repo", "") if refs.valid_sha(job.sha or "") and len(job.sha or "") == 40 else ""
    notify = notifications.wanted(report, job.state)
    if not repo and not notify:
        return None
    change = {**snapshot(job), "forge": report.get("forge", "github"), "repo": repo, "notify": notify}
    return OutboxModel(lane_of(repo, job), sortable_id(), job_id=job.id, change=change, pending=PENDING)


def stage(tx, job: JobModel) -> None:
    """Add the job's outbox item to the transaction that writes its state (TransactWrite)."""
    found = item(job)
    if found is not None:
        tx.save(found)


def for_job(job: JobModel) -> dict:
    """How the job's reports went, for `GET /jobs/ID` and `tahobuddy jobs ID`; `commit_status` says
    why a job's forge hears nothing of it."""
    items = list(OutboxModel.by_job.query(job.id))
    off = (job.reporting or {}).get("status_off", "")
    if not items:
        return {"commit_status": f"not sent: {off}"} if off else {}
    gave_up = [{"state": i.change.get("state"), "error": i.error} for i in items if i.outcome == "gave_up"]
    notified = [{"state": i.change.get("state"), "type": e["type"],
                 "result": (i.done or {}).get(f"notify:{n}", "pending")}
                for i in items for n, e in enumerate(i.change.get("notify") or [])]
    out = {"sent": sum(1 for i in items if i.outcome == "sent"), "pending": sum(1 for i in items if i.pending),
           "gave_up": gave_up, "last_error": next((i.error for i in reversed(items) if i.error), "")}
    if off:
        out["commit_status"] = f"not sent: {off}"
    return {**out, "notify": notified} if notified else out
