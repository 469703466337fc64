"""The webhook path: verify -> record -> match -> enqueue, answering the forge fast.

One path for every forge: the `Provider` (providers/) reads the headers and the body;
everything after `normalise` sees only a `WebhookEvent`. Order matters: nothing
unverified is stored; the event is stored before any job is queued, and marked
`processed` only after, so a redelivery of a delivery that crashed half-way
completes it (dispatch is idempotent).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from functions.store import app_store, events
from functions.dispatch import enqueue, gate, previews
from functions.domain import forges, refs, rules
from functions import providers
from functions.config import settings
from functions.errors import BadSignature, PayloadTooLarge, Refused
from functions.domain.events import Action, WebhookEvent
from functions.providers.base import decode_body


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
    kind = provider.event_type(d.headers)
    event_id = provider.delivery_id(d.headers)
    event = provider.normalise(kind, decode_body(d.body, d.headers.get("content-type", "")))
    row, first = events.record(event_id, event, d.body)
    if not first and row.status == "processed":
        return {"event": row.id, "status": "duplicate", "reason": "delivery already processed",
                "jobs": [o["job_id"] for o in row.decision if o.get("job_id")]}
    decision, reason = decide(event, row.id, provider.name)
    events.finish(row, decision, reason)
    return {"event": row.id, "status": "processed", "action": event.action.value, "reason": reason,
            "jobs": [o["job_id"] for o in decision if o.get("job_id")], "decision": decision}


def decide(event: WebhookEvent, event_id: str, forge: str) -> tuple[list[dict], str]:
    if event.action in (Action.PING, Action.IGNORED):
        return [], event.reason
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
