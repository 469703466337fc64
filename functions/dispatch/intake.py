"""The webhook path: verify -> record -> match -> enqueue, answering the forge fast.

One path for every forge: the `Provider` (providers/) reads the headers and the body;
everything after `normalise` sees only a `WebhookEvent`. Nothing unverified is stored.

A push or a tag (the common delivery) whose jobs the gate would queue as asked (`gate.direct`: no
pull request's code) is decided first and written at once (`_at_once`): the
event, already `processed`, with every job it makes (dedup key, job, outbox item) is one
TransactWriteItems, then each job's message is sent. Three AWS calls for a matched delivery: the
query for the repository's apps, the transaction, the message. A redelivery finds the event
processed and sends its queued jobs' messages again (SQS drops a copy within 5 minutes; the
conditional claim lets one run after that), so a delivery that stopped before sending completes.
Anything else, and a transaction that lost a race (a dedup key already taken, the same delivery
twice at once), takes the step-by-step path: the event is stored, then decided, then marked
`processed`, and dispatch is idempotent.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from pynamodb.exceptions import TransactWriteError

from functions.store import app_store, conditions, events, jobs
from functions.dispatch import enqueue, gate, previews, queue
from functions.clock import now
from functions.domain import forges, refs, rules
from functions import providers
from functions.config import settings
from functions.errors import BadSignature, PayloadTooLarge, Refused
from functions.domain.events import Action, WebhookEvent
from functions.providers.base import decode_body
from functions.store.models import EventModel, transaction


@dataclass(frozen=True)
class Delivery:
    """One HTTP delivery as it arrived: which route (provider), its headers, its raw body."""

    provider: str
    headers: dict = field(default_factory=dict)
    body: bytes = b""

    def __post_init__(self):
        object.__setattr__(self, "headers", {str(k).lower(): str(v) for k, v in (self.headers or {}).items()})


def receive(d: Delivery) -> dict:
    s, provider = settings(), providers.find(d.provider)
    if len(d.body) > s.max_body:
        raise PayloadTooLarge(f"body is {len(d.body)} bytes; the limit is {s.max_body} (TAHOBUDDY_MAX_BODY)")
    secret = s.secret_for(provider.name)
    if not secret:
        names = " or ".join(dict.fromkeys(("TAHOBUDDY_WEBHOOK_SECRET", provider.secret_env)))
        raise BadSignature(f"the server has no webhook secret for {provider.name} configured (set {names})")
    provider.verify(d.headers, d.body, secret)
    event_type = provider.event_type(d.headers)
    event_id = provider.delivery_id(d.headers)
    event = provider.normalise(event_type, decode_body(d.body, d.headers.get("content-type", "")))
    done = _at_once(event_id, event, d.body, provider.name)
    if done is not None:
        return done
    row, first = events.record(event_id, event, d.body)
    if not first and row.status == "processed":
        _send_queued(row.decision)
        return {"event": row.id, "status": "duplicate", "reason": "delivery already processed",
                "jobs": [o["job_id"] for o in row.decision if o.get("job_id")]}
    decision, reason = decide(event, row.id, provider.name)
    events.finish(row, decision, reason)
    return {"event": row.id, "status": "processed", "action": event.action.value, "reason": reason,
            "jobs": [o["job_id"] for o in decision if o.get("job_id")], "decision": decision}


AT_ONCE = (Action.BRANCH_PUSH, Action.TAG_CREATED, Action.TAG_MOVED, Action.PING, Action.IGNORED)
MAX_WRITES = 100   # DynamoDB's limit on the items of one transaction


def _at_once(event_id: str, event: WebhookEvent, body: bytes, forge: str) -> dict | None:
    """Decide a push, a tag, a ping or an inert delivery, and write the processed event with the jobs
    it makes as one transaction; None when the step-by-step path must do it (see the module's doc)."""
    if event.action not in AT_ONCE:
        return None
    matches, reason = ([], event.reason) if event.action in (Action.PING, Action.IGNORED) else _matches(event, forge)
    if not all(gate.direct(rule, event.ref, app) for app, rule in matches):
        return None  # a pull request's code: only the gate's own path (admit) may queue it
    if 3 * len(matches) + 1 > MAX_WRITES:
        return None
    row, at, made = events.new_row(event_id, event, body), now(), []  # received before its jobs are made
    for app, rule in matches:
        key = enqueue.dedup_key(app["name"], rule["name"], event.ref, event.sha, event.action == Action.TAG_CREATED)
        made.append((app, rule, key, enqueue.new_job(enqueue.job_fields(
            app, rule, app["repository"], event.ref, event.sha, event_id=event_id,
            event_repository=event.repository))))
    decision = [{"app": app["name"], "rule": rule["name"], "job_id": job.id, "outcome": "queued"}
                for app, rule, _, job in made]
    row = events.decided(row, decision, reason if not made else f"{len(decision)} rule(s) matched")
    try:
        with transaction() as tx:
            tx.save(row, condition=EventModel.id.does_not_exist())
            for _, _, key, job in made:
                enqueue.stage_new(tx, key, job, at)
    except TransactWriteError as exc:
        if not conditions.failed(exc):
            raise
        return None
    for _, _, _, job in made:
        queue.send(job.id, job.group, job.target["type"], job.pool)
    return {"event": row.id, "status": "processed", "action": event.action.value, "reason": row.reason,
            "jobs": [o["job_id"] for o in decision], "decision": decision}


def _send_queued(decision: list[dict]) -> None:
    """A redelivered delivery: the messages of its jobs still queued go again (a stop between the
    transaction and the send is completed here; SQS drops the copy of one already sent)."""
    for job_id in [o["job_id"] for o in decision if o.get("outcome") == "queued"]:
        job = jobs.get(job_id)
        if job.state == "queued":
            queue.send(job.id, job.group, job.target["type"], job.pool)


def _matches(event: WebhookEvent, forge: str) -> tuple[list[tuple[dict, dict]], str]:
    """The (app, rule) pairs a push or tag deploys, or none and why."""
    found, reason = _apps(event, forge)
    pairs = [(app, rule) for app in found for rule in app["rules"] if rules.evaluate(rule, event)]
    if found and not pairs:
        names = ", ".join(a["name"] for a in found)
        reason = f"no matching rule for {event.ref_type} {event.ref_name} (apps checked: {names})"
    return pairs, reason


def _apps(event: WebhookEvent, forge: str) -> tuple[list[dict], str]:
    """The apps of `forge` that use the event's repository, or none and why."""
    found = app_store.for_repository(refs.event_repo_keys(event.repository, event.repo_urls))
    repository = event.repository or (event.repo_urls or ["?"])[0]
    if not found:
        return [], f"no app uses repository {repository}"
    hosts = settings().forge_hosts
    others = [a for a in found if forges.of(a, hosts) != forge]
    found = [a for a in found if forges.of(a, hosts) == forge]
    if not found:  # one forge's secret must not deploy another forge's repositories
        names = ", ".join(f"{a['name']} ({forges.of(a, hosts)})" for a in others)
        return [], (f"no {forge} app uses repository {repository}: a delivery on /hooks/{forge} deploys only apps "
                    f"whose forge is {forge}; apps of other forges use it: {names}")
    return found, ""


def decide(event: WebhookEvent, event_id: str, forge: str) -> tuple[list[dict], str]:
    if event.action in (Action.PING, Action.IGNORED):
        return [], event.reason
    found, reason = _apps(event, forge)
    if not found:
        return [], reason
    if event.action == Action.DELETED:
        return _forget(event, found), event.reason + "; nothing to deploy"
    if event.action in (Action.PR_OPENED, Action.PR_CLOSED, Action.PR_RETARGETED):
        decision = previews.decide(event, event_id, found)
        return decision, (f"pull request #{event.pr_number}: {len(decision)} preview rule(s) matched" if decision else
                          f"no preview rule matches pull requests into {event.base_branch or '?'}")
    decision = []
    for app in found:
        for rule in app["rules"]:
            if rules.evaluate(rule, event):
                try:
                    job, created = gate.admit(gate.Ask(app, rule, event.ref, event.sha, "webhook", event_id=event_id,
                                                       event_repository=event.repository,
                                                       new_tag=event.action == Action.TAG_CREATED))
                except Refused as exc:
                    decision.append({"app": app["name"], "rule": rule["name"], "outcome": "refused",
                                     "reason": str(exc)})
                    continue
                decision.append({"app": app["name"], "rule": rule["name"], "job_id": job.id,
                                 "outcome": "queued" if created else "duplicate"})
    if not decision:
        names = ", ".join(a["name"] for a in found)
        return [], f"no matching rule for {event.ref_type} {event.ref_name} (apps checked: {names})"
    return decision, f"{len(decision)} rule(s) matched"


def _forget(event: WebhookEvent, found: list[dict]) -> list[dict]:
    if event.ref_type != "tag":
        return []
    as_created = WebhookEvent(event.event_type, Action.TAG_CREATED, ref_type="tag", ref_name=event.ref_name)
    out = []
    for app in found:
        for rule in app["rules"]:
            if rules.evaluate({**rule, "match": {k: v for k, v in rule["match"].items() if k != "on_branch"}},
                              as_created) and enqueue.forget_tag(app["name"], rule["name"], event.ref):
                out.append({"app": app["name"], "rule": rule["name"], "outcome": "tag forgotten"})
    return out
