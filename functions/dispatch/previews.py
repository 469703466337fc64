"""The jobs of pull-request previews: a pull request opened (or pushed to) queues its preview's deploy
job, once the fork and author checks and the app's limit allow it; one closed, or idle past its rule's
expire_after_days, queues its teardown job. The rules are in functions/domain/previews.py, the rows in
functions/store/previews.py."""
from __future__ import annotations

from contract.states import Reason

from functions.dispatch import enqueue
from functions.domain import previews as rules
from functions.domain.previews import ACTIVE
from functions.errors import NotFound
from functions.domain.events import Action, WebhookEvent
from functions.store import app_store, jobs
from functions.store import previews as store
from functions.store.models import PreviewModel


# ---- the webhook's decision ----------------------------------------------------------------
def decide(event: WebhookEvent, event_id: str, found: list[dict]) -> list[dict]:
    out = []
    for app in found:
        for rule in app["rules"]:
            if "pull_request" in rule.get("match", {}) and rules.matches(rule, event):
                step = _open if event.action == Action.PR_OPENED else _close
                out.append({"app": app["name"], "rule": rule["name"], "preview": event.pr_number,
                            **step(app, rule, event, event_id)})
    return out


def _refuse(app: dict, rule: dict, event: WebhookEvent, event_id: str, why: str) -> dict:
    """A job that ends failed (`refused`) at once, so `tahobuddy jobs` shows it; one per PR commit."""
    job, created = enqueue.enqueue(app, rules.job_rule(app, rule, event.pr_number), app["repository"], event.ref,
                                    event.sha, event_id=event_id, trigger="preview", quiet=False,
                                    preview=event.pr_number, send=False,
                                    key=f"{app['name']}|{rule['name']}|pr-{event.pr_number}|{event.sha}|refused")
    if created:
        jobs.give_up(job, f"refused: {why}", Reason.REFUSED)
    return {"job_id": job.id, "outcome": "refused" if created else "duplicate", "reason": why}


def _open(app: dict, rule: dict, event: WebhookEvent, event_id: str) -> dict:
    name, number = app["name"], event.pr_number
    why = rules.refusal(rule, event)
    if why:
        return _refuse(app, rule, event, event_id, why)
    row = store.find(name, number)
    options = rule.get("preview") or {}
    limit = int(options.get("max_previews") or 1)
    if row is None or row.state not in ACTIVE:
        holders = store.claim(name, number, limit)
        if holders is not None:
            return _refuse(app, rule, event, event_id, f"app {name} has {len(holders)} preview(s) "
                           f"(#{', #'.join(str(n) for n in holders)}), its max_previews of {limit}: close "
                           "one, or raise preview.max_previews")
        row = store.start(name, number, rule["name"], rules.hostname(app, rule, number), event.sha, event.head_ref,
                          int(options.get("expire_after_days") or 0))
    else:
        store.claim(name, number, None)  # already counted; a row from before slots existed is counted from now on
    job, created = enqueue.enqueue(app, rules.job_rule(app, rule, number), app["repository"], event.ref, event.sha,
                                    event_id=event_id, trigger="preview", preview=number,
                                    key=f"{name}|{rule['name']}|pr-{number}|{row.since}|{event.sha}")
    if created or not row.job_id:
        store.deploying(row, job.id, event.sha, event.head_ref)
    return {"job_id": job.id, "outcome": "queued" if created else "duplicate", "hostname": row.hostname}


def _close(app: dict, rule: dict, event: WebhookEvent, event_id: str) -> dict:
    row = store.find(app["name"], event.pr_number)
    if row is None or row.state == "closed":
        store.release_slot(app["name"], event.pr_number)  # an opening that crashed before its row held a slot
        return {"outcome": "no preview"}
    return teardown(app, rule, row, event.ref, event.sha, event_id, "pull request closed")


def teardown(app: dict, rule: dict, row: PreviewModel, ref: str, sha: str, event_id: str, why: str) -> dict:
    """Queue the one teardown job of this opening of the preview (a redelivered close makes no second)."""
    job, created = enqueue.enqueue(app, rules.job_rule(app, rule, int(row.number)), app["repository"], ref, sha,
                                    event_id=event_id, trigger="teardown", quiet=False, preview=int(row.number),
                                    key=f"{app['name']}|{rule['name']}|pr-{int(row.number)}|teardown|{row.since}")
    if created:
        store.closing(row, job.id)
    store.release_slot(app["name"], int(row.number))  # closing no longer counts against max_previews
    return {"job_id": job.id, "outcome": f"teardown queued ({why})" if created else "duplicate"}


# ---- expiry --------------------------------------------------------------------------------
def expire() -> list[str]:
    """Queue the teardown of every preview idle longer than its rule's expire_after_days."""
    out = []
    for row in store.idle():
        try:
            app = app_store.get(row.app)
            rule = next(r for r in app["rules"] if r["name"] == row.rule)
        except (NotFound, StopIteration):
            store.closed(row)  # the reconciler removes what it left
            store.release_slot(row.app, int(row.number))
            continue
        done = teardown(app, rule, row, f"refs/pull/{int(row.number)}/head", row.sha, "",
                        f"no push for {int(row.expire_after_days)} day(s)")
        if done.get("job_id"):
            out.append(done["job_id"])
    return out
