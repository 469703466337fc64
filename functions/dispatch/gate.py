"""The one gate every way in passes to make a job (STYLE §21): a webhook, the dashboard's Redeploy and
Roll back, `POST /apps/{name}/deploy` and `/rollback`, `dlq replay` and the sweeper's expiry all call
`admit`, and nothing else queues a job.

The trust rules it applies: a pull request's code (a `pull_request` rule, or a ref `refs/pull/*` or
`refs/merge-requests/*`) runs only as that pull request's preview: the same preview number, its own
network, hostname and route, no build secrets, and only while the preview is open (its opening passed
the fork, author and limit checks). A way in that names such a rule or ref otherwise is refused with
the reason (`Refused`, 403). A teardown stays a teardown; a preview has no rollback history.

The facts of a pull request (fork, author) come from its signed event when the forge sends it, and
from what the preview's row kept of that event for every other way in, checked against the rule as
it is now.
"""
from __future__ import annotations

from dataclasses import dataclass

from contract.states import Reason

from functions.clock import sortable_id
from functions.dispatch import enqueue
from functions.domain import apps, previews as rules
from functions.domain.previews import ACTIVE
from functions.errors import Refused, TahobuddyError
from functions.store import app_store, jobs
from functions.store import previews as store
from functions.store.models import JobModel


@dataclass(frozen=True)
class Facts:
    """What a signed event said of a pull request."""

    fork: bool
    association: str
    head_ref: str = ""
    base: str = ""                # the branch it merges into (what a rule's `paths` compare against)


@dataclass(frozen=True)
class Ask:
    """One job asked for, by one way in."""

    app: dict
    rule: dict
    ref: str
    sha: str
    way: str                      # webhook | manual | redeploy | replay | rollback | sweeper | schedule | backup
    trigger: str = ""             # the job's trigger; default: the way ("webhook" jobs say webhook)
    preview: int = 0              # the pull request, when the way knows it (an earlier job, an event)
    teardown: bool = False
    facts: Facts | None = None    # from the forge's signed event (webhook only)
    refused: str = ""             # the preview path's own refusal of an event (fork, author, limit)
    event_id: str = ""
    repository: str = ""
    key: str | None = None
    quiet: bool = True
    new_tag: bool = False
    send: bool = True
    reason: str = ""              # a note the job starts with (a schedule's tick)
    event_repository: str | None = None  # the repository the webhook named (where its status goes)
    group: str = ""               # a group of its own (a database's backups), else the target's
    override_freeze: bool = False  # an admin's deploy --now --override-freeze (audited by the caller)


def admit(ask: Ask) -> tuple[JobModel, bool]:
    """Queue the job `ask` stands for, as the trust rules allow it: (job, created now). Raises Refused."""
    number = _pull_request(ask)
    if not number:
        return enqueue.enqueue(ask.app, ask.rule, ask.repository or ask.app["repository"], ask.ref, ask.sha,
                               event_id=ask.event_id, trigger=ask.trigger or ask.way, new_tag=ask.new_tag,
                               key=ask.key, quiet=ask.quiet, send=ask.send, reason=ask.reason,
                               event_repository=ask.event_repository, group=ask.group,
                               override_freeze=ask.override_freeze)
    if ask.refused:
        return _refused(ask, number)
    if ask.teardown:
        return _teardown(ask, number)
    row = _open_preview(ask, number)
    sha = ask.sha or row.sha
    base = ask.facts.base if ask.facts else ""
    job, created = enqueue.enqueue(ask.app, rules.job_rule(ask.app, ask.rule, number, base), ask.app["repository"],
                                   ask.ref, sha, event_id=ask.event_id, trigger=ask.trigger or ask.way,
                                   key=ask.key, quiet=ask.quiet, preview=number, send=ask.send,
                                   event_repository=ask.event_repository)
    if created or not row.job_id:
        facts = ask.facts
        store.deploying(row, job.id, sha, facts.head_ref if facts else row.head_ref,
                        facts.fork if facts else None, facts.association if facts else None)
    return job, created


def direct(rule: dict, ref: str, app: dict | None = None) -> bool:
    """Whether a webhook's job of `rule` at `ref` runs no pull request's code and is queued at once (no
    `approval`, no `freeze` window), so the gate would queue it as asked: the webhook's one-transaction path
    (dispatch/intake.py) may then write it with its event and send its message. Anything else must come
    through `admit`."""
    held = bool(rule.get("approval") or rule.get("freeze") or (app or {}).get("freeze"))
    return not (held or rules.is_preview_rule(rule) or rules.pull_request_ref(ref))


def refusal(ask: Ask) -> str:
    """Why `admit(ask)` would refuse ("" when it would queue the job); nothing is written."""
    try:
        number = _pull_request(ask)
        if number and not ask.teardown and not ask.refused:
            _open_preview(ask, number)
        elif number and ask.teardown:
            _stale_teardown(ask, number)
    except Refused as exc:
        return str(exc)
    return ""


def _pull_request(ask: Ask) -> int:
    """The pull request whose code the job would run (0: none), or Refused when it could not be a preview."""
    name, ref = ask.rule["name"], ask.ref
    if not (rules.is_preview_rule(ask.rule) or rules.pull_request_ref(ref) or ask.preview or ask.teardown):
        return 0
    if ask.way == "rollback":
        raise Refused(f"rule {name} deploys pull requests as previews, and a preview keeps no rollback history: "
                      "push to the pull request, or roll back a production rule")
    if not rules.is_preview_rule(ask.rule):
        raise Refused(f"{ref} is a pull request's ref: its code deploys only as a preview, through a pull_request "
                      f"rule, never through rule {name}" if rules.pull_request_ref(ref) else
                      f"rule {name} is no longer a pull_request rule: preview #{ask.preview} cannot be deployed "
                      "through it")
    number = ask.preview or rules.number_of(ref)
    if not number or (rules.number_of(ref) and rules.number_of(ref) != number):
        raise Refused(f"rule {name} is a pull_request rule: it deploys only a pull request's ref (refs/pull/N/head, "
                      f"or refs/merge-requests/N/head on GitLab), as preview #N; {ref!r} names none")
    return number


def _open_preview(ask: Ask, number: int):
    """The preview's row, when a deploy of it may be queued: open, of this rule, its pull request passing
    the rule's fork and author check, and `ask.sha` its head commit (what its webhook checked)."""
    app, row = ask.app["name"], store.find(ask.app["name"], number)
    if row is None or row.state not in ACTIVE:
        raise Refused(f"pull request #{number} has no open preview of app {app}"
                      f"{f' (it is {row.state})' if row else ''}: a preview opens when the forge's pull request "
                      "event is accepted, where its fork and author are checked")
    if row.rule != ask.rule["name"]:
        raise Refused(f"preview #{number} of app {app} belongs to rule {row.rule}, not {ask.rule['name']}")
    facts = ask.facts or Facts(row.fork is not False, row.author_association, row.head_ref)
    why = rules.refusal_for(ask.rule, number, facts.fork, facts.association, facts.head_ref)
    if why:
        raise Refused(why)
    if ask.facts is None and ask.sha and ask.sha != row.sha:
        raise Refused(f"commit {ask.sha[:12]} is not the head of pull request #{number} ({row.sha[:12]}): a preview "
                      "deploys only the commit its pull request's last event named")
    return row


def _stale_teardown(ask: Ask, number: int):
    """A teardown asked again (replay, redeploy) is refused once the pull request was opened again."""
    row = store.find(ask.app["name"], number)
    if ask.way not in ("webhook", "sweeper") and row is not None and row.state in ACTIVE:
        raise Refused(f"preview #{number} of app {ask.app['name']} was opened again ({row.state}) since this "
                      "teardown: close the pull request to tear it down")
    return row


def _teardown(ask: Ask, number: int) -> tuple[JobModel, bool]:
    row = _stale_teardown(ask, number)
    job, created = enqueue.enqueue(ask.app, rules.job_rule(ask.app, ask.rule, number), ask.app["repository"],
                                   ask.ref, ask.sha, event_id=ask.event_id, trigger="teardown", key=ask.key,
                                   quiet=False, preview=number, send=ask.send,
                                   event_repository=ask.event_repository)
    if created and row is not None:
        store.closing(row, job.id)
    return job, created


def _refused(ask: Ask, number: int) -> tuple[JobModel, bool]:
    """A job that ends failed (`refused`) at once, so `tahobuddy jobs` shows it; never sent to an agent."""
    job, created = enqueue.enqueue(ask.app, rules.job_rule(ask.app, ask.rule, number), ask.app["repository"],
                                   ask.ref, ask.sha, event_id=ask.event_id, trigger=ask.trigger or "preview",
                                   key=ask.key, quiet=False, preview=number, send=False,
                                   event_repository=ask.event_repository)
    if created:
        jobs.give_up(job, f"refused: {ask.refused}", Reason.REFUSED)
    return job, created


# ---- the ways in that start from an earlier job ---------------------------------------------------
_TRIGGERS = {"redeploy": "manual"}   # a Redeploy is a deploy by hand, as it always said
ONE_OFF = {"run": "run the command again with `tahobuddy run APP -- ...`",
           "purge": "a purge runs once, when the app is deleted with --purge",
           "backup": "make another with `tahobuddy db backup APP`",
           "restore": "restore again with `tahobuddy db restore APP --from NAME --yes`",
           "promote": "promote again with `tahobuddy promote APP --from RULE --to RULE`"}


def ask_again(old: JobModel, way: str) -> Ask:
    """The same app, rule, ref and commit as `old`, as a new job; a preview's or teardown's stays one."""
    if old.trigger in ONE_OFF:  # its rule would make it a deploy: never run as something it was not
        raise Refused(f"job {old.id} is a {old.trigger} job, not a deploy: {ONE_OFF[old.trigger]}")
    app = app_store.get(old.app)
    teardown = old.trigger == "teardown"
    return Ask(app, apps.rule(app, old.rule), old.ref, old.sha, way,
               trigger="teardown" if teardown else _TRIGGERS.get(way, way),
               preview=int(old.preview or 0), teardown=teardown, event_id=old.event_id if way == "replay" else "",
               repository=old.repository, key=f"{way}|{old.id}|{sortable_id()}",
               quiet=not teardown)


def again(old: JobModel, way: str) -> JobModel:
    """Redeploy (the dashboard) or replay (a dead letter) `old`: through the gate like any way in."""
    why = again_refusal(old, way)
    if why:
        raise Refused(why)
    job, _ = admit(ask_again(old, way))
    return job


def again_refusal(old: JobModel, way: str = "redeploy") -> str:
    """Why `again(old, way)` would be refused, for a screen that offers it only when it would work."""
    if old.reason_code == Reason.REFUSED.value and old.preview and old.trigger != "teardown":
        row = store.find(old.app, int(old.preview))
        if row is None or row.state not in ACTIVE:  # the refused job's own reason is the clearest
            return old.reason.removeprefix("refused: ")
    try:
        return refusal(ask_again(old, way))
    except TahobuddyError as exc:  # the app or rule is gone: the same error the button would meet
        return str(exc)


def by_hand(app: dict, rule: dict, ref: str, sha: str, trigger: str = "manual", now: bool = False,
            override_freeze: bool = False) -> JobModel:
    """A deploy or rollback by hand (always a new job). `now` skips the quiet period; a rollback always does.
    `override_freeze` starts it inside a freeze window (the caller audits that)."""
    job, _ = admit(Ask(app, rule, ref, sha, "rollback" if trigger == "rollback" else "manual", trigger=trigger,
                       key=f"{trigger}|{sortable_id()}", quiet=not now and trigger != "rollback",
                       override_freeze=override_freeze))
    return job
