"""Pull-request previews: a rule with `match: {pull_request: {base: GLOB}}` deploys each pull request
into the base branch to its own container, route and database, and tears it down when it closes.

This module holds the domain: the rule's `preview:` options, who may get a preview (forks and
outside authors only when the rule allows it: their code would run on the home server), the
per-app limit (taken by one conditional write, so it holds under concurrent openings), the store
of previews (models.PreviewModel, apart from the app's releases so a preview never becomes rollback
history), the teardown jobs of closed and expired previews, and
the list the agent's reconciler keeps.
"""
from __future__ import annotations

import re

from pynamodb.exceptions import PutError, UpdateError
from pynamodb.expressions.condition import size

from contract.states import Reason

from functions.dispatch import enqueue
from functions.store import jobs
from functions.domain import patterns
from functions.clock import now, now_iso
from functions.errors import InvalidInput, NotFound
from functions.config import settings
from functions.domain import preview_hosts
from functions.domain.fields import Field, check
from functions.store.models import JobModel, PreviewModel
from functions.domain.events import Action, WebhookEvent

TRUSTED = ("OWNER", "MEMBER", "COLLABORATOR")
DEFAULT_HOSTNAME = preview_hosts.DEFAULT_TEMPLATE
PREVIEW_FIELDS = (
    Field("hostname", "str", default=DEFAULT_HOSTNAME, examples=("pr-{number}.preview.example.com",),
          doc="template of the preview's host: {number} required, {hostname} the app's"),
    Field("allow_forks", "bool", default=False, doc="deploy PRs from forks and from authors who are not "
                                                    "OWNER, MEMBER or COLLABORATOR (their code runs here)"),
    Field("max_previews", "int", default=3, minimum=1,
          doc="previews of the app at once (queued, live or failed); more are refused"),
    Field("expire_after_days", "int", default=7, doc="the sweeper tears down a preview this long after its "
                                                     "last push; 0: never"),
    Field("seed", "list", examples=(["sh", "-c", "./bin/seed-demo-data"],),
          doc="argv run once in the preview's image, with DATABASE_URL, when its new database is made; the "
              "database starts empty without it"),
    *preview_hosts.LIMIT_FIELDS,
)
PR_FIELDS = (Field("base", "str", required=True, examples=("main", "release/*"),
                   doc="a glob on the base branch of the pull request"),)
ACTIVE = ("queued", "live", "failed")          # the states the reconciler keeps and the limit counts
SLOTS = 0                                      # the app's slot row: pull requests are numbered from 1 on every forge
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_HOST = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")


# ---- rules --------------------------------------------------------------------------------
def validate_rule(path: str, rule: dict, doc: dict, match: dict) -> dict:
    """A pull_request rule: its base glob, a docker target, and its `preview:` options."""
    from functions.domain import targets
    if "pull_request" not in match:
        raise InvalidInput(f"{path}.preview", "applies only to a rule with match: {pull_request: {base: GLOB}}")
    if set(match) != {"pull_request"}:
        raise InvalidInput(f"{path}.match", "pull_request cannot be combined with branch, tag or on_branch")
    pr = check(f"{path}.match.pull_request", match["pull_request"], PR_FIELDS)
    try:
        patterns.glob(pr["base"])
    except patterns.PatternError as exc:
        raise InvalidInput(f"{path}.match.pull_request.base", str(exc)) from exc
    rule["match"] = {"pull_request": pr}
    rule["target"] = targets.validate(f"{path}.target", doc.get("target"))
    if rule["target"]["type"] != "docker":
        raise InvalidInput(f"{path}.target.type", "previews run on docker targets (each is a container and a "
                                                  "route on the agent's machine)")
    options = check(f"{path}.preview", doc.get("preview") or {}, PREVIEW_FIELDS)
    names = set(_PLACEHOLDER.findall(options["hostname"]))
    if "number" not in names or names - {"number", "hostname"}:
        raise InvalidInput(f"{path}.preview.hostname", "must contain {number}, and no placeholder but {number} "
                                                       "and {hostname}, like pr-{number}.example.com")
    if not _HOST.match(options["hostname"].format(number=1, hostname="app.example.com").lower()):
        raise InvalidInput(f"{path}.preview.hostname", "must make a DNS name, like pr-{number}.{hostname}")
    if "seed" in options and not options["seed"]:
        raise InvalidInput(f"{path}.preview.seed", 'must be an argv list, like ["sh", "-c", "./seed.sh"]')
    rule["preview"] = options
    return rule


def check_app(app: dict) -> None:
    """A hostname template that uses {hostname} needs the app's hostname."""
    for i, rule in enumerate(app.get("rules", [])):
        if "{hostname}" in (rule.get("preview") or {}).get("hostname", "") and not app.get("hostname"):
            raise InvalidInput(f"rules[{i}].preview.hostname", "uses {hostname}, and the app has none: set the "
                                                               "app's hostname, or a template like pr-{number}.x.y")


def matches(rule: dict, event: WebhookEvent) -> bool:
    base = ((rule.get("match") or {}).get("pull_request") or {}).get("base")
    return (event.action in (Action.PR_OPENED, Action.PR_CLOSED) and bool(base) and bool(event.base_branch)
            and patterns.matches(base, event.base_branch, is_regex=False))


def hostname(app: dict, rule: dict, number: int) -> str:
    return preview_hosts.hostname(app, rule, number, settings().preview_domain)


def refusal(rule: dict, event: WebhookEvent) -> str:
    """Why this pull request gets no preview from `rule` ("" when it may have one)."""
    if (rule.get("preview") or {}).get("allow_forks"):
        return ""
    if event.head_repo_is_fork:
        return (f"pull request #{event.pr_number} comes from a fork ({event.head_ref}): previews of forks are "
                "refused unless the rule sets preview.allow_forks")
    if event.author_association.upper() not in TRUSTED:
        return (f"pull request #{event.pr_number} is by an author with association "
                f"{event.author_association or 'unknown'} (not OWNER, MEMBER or COLLABORATOR): refused unless the "
                "rule sets preview.allow_forks")
    return ""


# ---- the webhook's decision ----------------------------------------------------------------
def decide(event: WebhookEvent, event_id: str, found: list[dict]) -> list[dict]:
    out = []
    for app in found:
        for rule in app["rules"]:
            if "pull_request" in rule.get("match", {}) and matches(rule, event):
                step = _open if event.action == Action.PR_OPENED else _close
                out.append({"app": app["name"], "rule": rule["name"], "preview": event.pr_number,
                            **step(app, rule, event, event_id)})
    return out


def _job_rule(app: dict, rule: dict, number: int, base: str = "") -> dict:
    """The rule as its jobs carry it: the target says which preview and where (the runner reads it), and
    the branch the pull request merges into (the base of the rule's `paths` filter)."""
    options = rule.get("preview") or {}
    preview = {"number": number, "hostname": hostname(app, rule, number)}
    if base:
        preview["base"] = base
    if options.get("seed"):
        preview["seed"] = list(options["seed"])
    preview.update({f.name: options[f.name] for f in preview_hosts.LIMIT_FIELDS if f.name in options})
    return {**rule, "target": {**rule["target"], "preview": preview}}


def _refuse(app: dict, rule: dict, event: WebhookEvent, event_id: str, why: str) -> dict:
    """A job that ends failed (`refused`) at once, so `tahobuddy jobs` shows it; one per PR commit."""
    job, created = enqueue.enqueue(app, _job_rule(app, rule, event.pr_number), app["repository"], event.ref,
                                    event.sha, event_id=event_id, trigger="preview", quiet=False,
                                    preview=event.pr_number, send=False,
                                    key=f"{app['name']}|{rule['name']}|pr-{event.pr_number}|{event.sha}|refused")
    if created:
        jobs.give_up(job, f"refused: {why}", Reason.REFUSED)
    return {"job_id": job.id, "outcome": "refused" if created else "duplicate", "reason": why}


def _open(app: dict, rule: dict, event: WebhookEvent, event_id: str) -> dict:
    name, number = app["name"], event.pr_number
    why = refusal(rule, event)
    if why:
        return _refuse(app, rule, event, event_id, why)
    row = find(name, number)
    limit = int((rule.get("preview") or {}).get("max_previews") or 1)
    if row is None or row.state not in ACTIVE:
        holders = _claim(name, number, limit)
        if holders is not None:
            return _refuse(app, rule, event, event_id, f"app {name} has {len(holders)} preview(s) "
                           f"(#{', #'.join(str(n) for n in holders)}), its max_previews of {limit}: close "
                           "one, or raise preview.max_previews")
        row = _start(app, rule, event)
    else:
        _claim(name, number, None)  # already counted; a row from before slots existed is counted from now on
    job, created = enqueue.enqueue(app, _job_rule(app, rule, number, event.base_branch), app["repository"],
                                    event.ref, event.sha, event_id=event_id, trigger="preview", preview=number,
                                    key=f"{name}|{rule['name']}|pr-{number}|{row.since}|{event.sha}")
    if created or not row.job_id:
        row.update(actions=[PreviewModel.job_id.set(job.id), PreviewModel.sha.set(event.sha),
                            PreviewModel.head_ref.set(event.head_ref),
                            PreviewModel.deployed_at.set(now())])  # expiry counts from the last push
    return {"job_id": job.id, "outcome": "queued" if created else "duplicate", "hostname": row.hostname}


def _start(app: dict, rule: dict, event: WebhookEvent) -> PreviewModel:
    """A new opening of the preview, saved before its job (a redelivery after a crash finds it, and its
    key). Written only if no other delivery of the same pull request started one meanwhile; if one
    did, that opening is the one, and its job key makes this delivery a duplicate."""
    name, number = app["name"], event.pr_number
    row = PreviewModel(name, number, rule=rule["name"], since=now_iso(), state="queued",
                       hostname=hostname(app, rule, number), sha=event.sha, head_ref=event.head_ref,
                       deployed_at=now(), expire_after_days=int((rule.get("preview") or {}).get("expire_after_days")
                                                                or 0))
    try:
        row.save(condition=PreviewModel.number.does_not_exist() | ~PreviewModel.state.is_in(*ACTIVE))
    except PutError as exc:
        if exc.cause_response_code != "ConditionalCheckFailedException":
            raise
        row = find(name, number) or row
    return row


# ---- the per-app limit: one set of held numbers, changed only by conditional writes ---------
def _slot_actions() -> list:
    """What makes the slot row recognisable: never a preview (state "slots", no rule)."""
    return [PreviewModel.state.set("slots"), PreviewModel.rule.set(""), PreviewModel.since.set("")]


def _claim(app: str, number: int, limit: int | None) -> list[int] | None:
    """Hold one of the app's `limit` preview slots for pull request `number` (no limit: just record it).

    None when held; else the numbers that hold them all. Counting rows and then writing one lets two
    requests opened at the same moment both see room for one more; this single conditional update
    (add the number if fewer than `limit` are held, or it is held already) cannot. Adding and removing
    a number are idempotent, so redeliveries and retries never make the count drift."""
    held = PreviewModel.holding
    condition = None if limit is None else held.does_not_exist() | (size(held) < limit) | held.contains(number)
    try:
        PreviewModel(app, SLOTS).update(actions=[held.add({number}), *_slot_actions()], condition=condition)
        return None
    except UpdateError as exc:
        if exc.cause_response_code != "ConditionalCheckFailedException":
            raise
    row = find(app, SLOTS)
    return sorted(int(n) for n in (row.holding or ())) if row is not None else []


def _release(app: str, number: int) -> None:
    """Give pull request `number`'s slot back (safe when it holds none)."""
    PreviewModel(app, SLOTS).update(actions=[PreviewModel.holding.delete({number}), *_slot_actions()])


def _close(app: dict, rule: dict, event: WebhookEvent, event_id: str) -> dict:
    row = find(app["name"], event.pr_number)
    if row is None or row.state == "closed":
        _release(app["name"], event.pr_number)  # an opening that crashed before its row held a slot
        return {"outcome": "no preview"}
    return teardown(app, rule, row, event.ref, event.sha, event_id, "pull request closed")


def teardown(app: dict, rule: dict, row: PreviewModel, ref: str, sha: str, event_id: str, why: str) -> dict:
    """Queue the one teardown job of this opening of the preview (a redelivered close makes no second)."""
    job, created = enqueue.enqueue(app, _job_rule(app, rule, int(row.number)), app["repository"], ref, sha,
                                    event_id=event_id, trigger="teardown", quiet=False, preview=int(row.number),
                                    key=f"{app['name']}|{rule['name']}|pr-{int(row.number)}|teardown|{row.since}")
    if created:
        row.update(actions=[PreviewModel.state.set("closing"), PreviewModel.job_id.set(job.id)])
    _release(app["name"], int(row.number))  # closing no longer counts against max_previews
    return {"job_id": job.id, "outcome": f"teardown queued ({why})" if created else "duplicate"}


# ---- the agent's side ------------------------------------------------------------------------
def find(app: str, number: int) -> PreviewModel | None:
    try:
        return PreviewModel.get(app, number)
    except PreviewModel.DoesNotExist:
        return None


def releases_for(job: JobModel) -> list[dict]:
    """What a preview job hands its runner as history: only this preview's live container."""
    row = find(job.app, int(job.preview))
    return [dict(row.release)] if row is not None and row.release else []


def finished(job: JobModel, state: str, release: dict) -> None:
    """A preview or teardown job ended: the store says what runs now."""
    row = find(job.app, int(job.preview))
    if row is None or row.job_id != job.id:
        return  # a newer job of this preview decides its state
    if job.trigger == "teardown":
        if state == "succeeded":
            row.update(actions=[PreviewModel.state.set("closed"), PreviewModel.release.set({})])
        return
    if state == "succeeded" and release:
        keep = {k: str(v) for k, v in release.items() if k in ("image", "container", "upstream", "ref", "sha")}
        row.update(actions=[PreviewModel.state.set("live"), PreviewModel.sha.set(job.sha),
                            PreviewModel.release.set({**keep, "job": job.id}),
                            PreviewModel.deployed_at.set(now())])
    elif state == "skipped":  # no watched path changed against its base: a live preview stays, else none opens
        if not row.release:
            row.update(actions=[PreviewModel.state.set("closed")])
            _release(job.app, int(job.preview))
    elif state != "succeeded" and not row.release:
        row.update(actions=[PreviewModel.state.set("failed")])


def kept() -> list[dict]:
    """Every preview the reconciler must leave alone: queued, live or failed (a failed synchronize keeps
    the older container serving)."""
    return [{"app": r.app, "number": int(r.number), "state": r.state} for r in PreviewModel.scan()
            if r.state in ACTIVE]


# ---- listing and expiry ---------------------------------------------------------------------
def to_dict(row: PreviewModel) -> dict:
    return {"app": row.app, "number": int(row.number), "rule": row.rule, "hostname": row.hostname, "sha": row.sha,
            "head_ref": row.head_ref, "state": row.state, "since": row.since, "job_id": row.job_id,
            "expire_after_days": int(row.expire_after_days or 0)}


def listing(app: str | None = None, closed: bool = False) -> list[dict]:
    rows = PreviewModel.query(app) if app else PreviewModel.scan()
    out = [to_dict(r) for r in rows if r.number != SLOTS and (closed or r.state != "closed")]
    return sorted(out, key=lambda p: (p["app"], p["number"]))


def expire() -> list[str]:
    """Queue the teardown of every preview idle longer than its rule's expire_after_days."""
    from functions.store import app_store  # app_store -> apps -> rules -> previews: imported when used
    out, at = [], now()
    for row in PreviewModel.scan():
        days = int(row.expire_after_days or 0)
        if row.state not in ("live", "failed") or not days or at - float(row.deployed_at or 0) < days * 86400:
            continue
        try:
            app = app_store.get(row.app)
            rule = next(r for r in app["rules"] if r["name"] == row.rule)
        except (NotFound, StopIteration):
            row.update(actions=[PreviewModel.state.set("closed")])  # the reconciler removes what it left
            _release(row.app, int(row.number))
            continue
        done = teardown(app, rule, row, f"refs/pull/{int(row.number)}/head", row.sha, "",
                        f"no push for {days} day(s)")
        if done.get("job_id"):
            out.append(done["job_id"])
    return out
