"""The jobs of pull-request previews: a pull request opened (or pushed to) queues its preview's deploy
job, once the fork and author checks and the app's limit allow it; one closed, or idle past its rule's
expire_after_days, queues its teardown job. The rules are in functions/domain/previews.py, the rows in
functions/store/previews.py."""
from __future__ import annotations

from functions.dispatch import gate
from functions.domain import previews as rules
from functions.domain.previews import ACTIVE
from functions.errors import NotFound, Refused
from functions.domain.events import Action, WebhookEvent
from functions.store import app_store
from functions.store import previews as store
from functions.store.models import PreviewModel


# ---- the webhook's decision ----------------------------------------------------------------
def decide(event: WebhookEvent, event_id: str, found: list[dict]) -> list[dict]:
    """Open (or push to) previews of the rules whose base glob matches; close and retarget follow the
    previews that exist, whatever the pull request's base is now (a base changed before the close must
    not let a preview escape its teardown)."""
    out = []
    for app in found:
        for rule, step in _steps(app, event):
            try:
                done = step(app, rule, event, event_id)
            except Refused as exc:
                done = {"outcome": "refused", "reason": str(exc)}
            out.append({"app": app["name"], "rule": rule["name"], "preview": event.pr_number, **done})
    return out


def _steps(app: dict, event: WebhookEvent) -> list:
    preview_rules = [r for r in app["rules"] if rules.is_preview_rule(r)]
    if event.action == Action.PR_OPENED:
        return [(r, _open) for r in preview_rules if rules.matches(r, event)]
    row = store.find(app["name"], event.pr_number)
    live = row is not None and row.state not in ("closed", "closing")
    if event.action == Action.PR_RETARGETED:
        owner = next((r for r in preview_rules if live and r["name"] == row.rule), None)
        return [(owner, _retarget)] if owner else []
    owner = next((r for r in preview_rules if row is not None and r["name"] == row.rule), None)
    if owner is None and live:  # its rule is gone: no teardown job can name it; the reconciler removes it
        return [({"name": row.rule}, _forget)]
    return [(owner, _close)] if owner else [(r, _close) for r in preview_rules if rules.matches(r, event)]


def _retarget(app: dict, rule: dict, event: WebhookEvent, event_id: str) -> dict:
    if rules.base_matches(rule, event.base_branch):
        return {"outcome": f"preview kept (base {event.base_branch} still matches)"}
    row = store.find(app["name"], event.pr_number)
    return teardown(app, rule, row, event.ref, event.sha or row.sha, event_id,
                    f"base changed to {event.base_branch or '?'}")


def _forget(app: dict, rule: dict, event: WebhookEvent, event_id: str) -> dict:
    row = store.find(app["name"], event.pr_number)
    store.closed(row)
    store.release_slot(app["name"], event.pr_number)
    return {"outcome": f"closed (rule {row.rule} is gone: the agent's reconciler removes what is left)"}


def _facts(event: WebhookEvent) -> gate.Facts:
    return gate.Facts(event.head_repo_is_fork, event.author_association, event.head_ref, event.base_branch)


def _refuse(app: dict, rule: dict, event: WebhookEvent, event_id: str, why: str) -> dict:
    """A job that ends failed (`refused`) at once, so `tahobuddy jobs` shows it; one per PR commit."""
    job, created = gate.admit(gate.Ask(
        app, rule, event.ref, event.sha, "webhook", trigger="preview", preview=event.pr_number, refused=why,
        facts=_facts(event), event_id=event_id,
        key=f"{app['name']}|{rule['name']}|pr-{event.pr_number}|{event.sha}|refused"))
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
                          int(options.get("expire_after_days") or 0), event.head_repo_is_fork,
                          event.author_association)
    else:
        store.claim(name, number, None)  # already counted; a row from before slots existed is counted from now on
    job, created = gate.admit(gate.Ask(app, rule, event.ref, event.sha, "webhook", trigger="preview",
                                       preview=number, facts=_facts(event), event_id=event_id,
                                       key=f"{name}|{rule['name']}|pr-{number}|{row.since}|{event.sha}"))
    return {"job_id": job.id, "outcome": "queued" if created else "duplicate", "hostname": row.hostname}


def _close(app: dict, rule: dict, event: WebhookEvent, event_id: str) -> dict:
    row = store.find(app["name"], event.pr_number)
    if row is None or row.state == "closed":
        store.release_slot(app["name"], event.pr_number)  # an opening that crashed before its row held a slot
        return {"outcome": "no preview"}
    return teardown(app, rule, row, event.ref, event.sha, event_id, "pull request closed")


def teardown(app: dict, rule: dict, row: PreviewModel, ref: str, sha: str, event_id: str, why: str,
             way: str = "webhook") -> dict:
    """Queue the one teardown job of this opening of the preview (a redelivered close makes no second)."""
    number = int(row.number)
    job, created = gate.admit(gate.Ask(app, rule, ref, sha, way, preview=number, teardown=True, event_id=event_id,
                                       key=f"{app['name']}|{rule['name']}|pr-{number}|teardown|{row.since}"))
    store.release_slot(app["name"], number)  # closing no longer counts against max_previews
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
                        f"no push for {int(row.expire_after_days)} day(s)", way="sweeper")
        if done.get("job_id"):
            out.append(done["job_id"])
    return out
