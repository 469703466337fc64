"""Tahobuddy's HTTP API (Chalice). Routes only: each one authenticates, calls a
domain module, and returns its dict. Domain errors become Chalice errors in `api`.
"""
from __future__ import annotations

import functools
import os
import urllib.parse

from chalice import (BadRequestError, Chalice, ChaliceViewError, ConflictError, ForbiddenError, NotFoundError,
                     Rate, Response, UnauthorizedError)

from contract.wire import AgentBeat, AgentHello

from . import (agent_api, agents, app_store, audit, dead_letters, dispatch, events, intake, jobs, logs, queue, refs,
               rules, sweeper, tokens)
from .config import settings
from .errors import (BadSignature, Conflict, Forbidden, InvalidInput, NotAuthorized, NotFound, PayloadTooLarge,
                     TahobuddyError)
from .github import Action, WebhookEvent
from .notify import hooks, outbox, sender

app = Chalice(app_name="tahobuddy")
V1 = "/api/v1"
HOOK_CONTENT_TYPES = ["application/json", "application/x-www-form-urlencoded"]


class PayloadTooLargeError(ChaliceViewError):
    STATUS_CODE = 413


_ERRORS = ((InvalidInput, BadRequestError), (PayloadTooLarge, PayloadTooLargeError),
           (BadSignature, UnauthorizedError),
           (NotAuthorized, UnauthorizedError), (Forbidden, ForbiddenError), (NotFound, NotFoundError),
           (Conflict, ConflictError))


def api(*roles: str):
    """Authenticate with one of `roles` (none: public), act as that token (for the audit log),
    and map domain errors to HTTP."""
    def wrap(view):
        @functools.wraps(view)
        def handler(*args, **kwargs):
            try:
                caller = tokens.authenticate(app.current_request.headers.get("authorization"), *roles) \
                    if roles else None
                with audit.acting_as(caller):
                    return view(*args, **kwargs)
            except TahobuddyError as exc:
                for domain, http in _ERRORS:
                    if isinstance(exc, domain):
                        raise http(str(exc)) from exc
                raise ChaliceViewError(str(exc)) from exc
        return handler
    return wrap


def _body() -> dict:
    body = app.current_request.json_body
    if not isinstance(body, dict):
        raise InvalidInput("body", "send a JSON object")
    return body


def _query(name: str, default: str | None = None) -> str | None:
    return (app.current_request.query_params or {}).get(name, default)


def _int_query(name: str, default: int, high: int) -> int:
    raw = _query(name)
    if raw is None:
        return default
    if not raw.isdigit():
        raise InvalidInput(name, "must be a whole number")
    return min(int(raw), high)


@app.route(f"{V1}/health", methods=["GET"])
def health():
    return {"status": "ok"}


@app.route(f"{V1}/hooks/github", methods=["POST"], content_types=HOOK_CONTENT_TYPES)
@api()
def github_hook():
    req = app.current_request
    h = req.headers
    return intake.receive(intake.Delivery(
        event_type=h.get("x-github-event", ""), delivery_id=h.get("x-github-delivery", ""),
        hook_id=h.get("x-github-hook-id", ""), content_type=h.get("content-type", ""),
        signature=h.get("x-hub-signature-256"), body=req.raw_body or b""))


# ---- apps -----------------------------------------------------------------
@app.route(f"{V1}/apps", methods=["GET"])
@api("admin")
def list_apps():
    return {"apps": app_store.listing()}


@app.route(f"{V1}/apps", methods=["POST"])
@api("admin")
def create_app():
    spec, _ = app_store.save(_body(), create_only=True)
    return Response(body=spec, status_code=201)


@app.route(f"{V1}/apps/{{name}}", methods=["PUT"])
@api("admin")
def put_app(name):
    spec, created = app_store.save(_body(), name=name)
    return Response(body=spec, status_code=201 if created else 200)


@app.route(f"{V1}/apps/{{name}}", methods=["GET"])
@api("admin")
def get_app(name):
    return app_store.get(name)


@app.route(f"{V1}/apps/{{name}}", methods=["DELETE"])
@api("admin")
def delete_app(name):
    app_store.delete(name)
    return {"deleted": name}


@app.route(f"{V1}/apps/{{name}}/deploy", methods=["POST"])
@api("admin")
def deploy_app(name):
    """Queue jobs for a ref by hand: every rule that matches it, or the named `rule`."""
    body, spec = _body(), app_store.get(name)
    ref, sha = body.get("ref"), body.get("sha") or ""
    if not isinstance(ref, str) or not ref:
        raise InvalidInput("ref", "is required: a branch, a tag, or refs/heads/... or refs/tags/...")
    if sha and not refs.valid_sha(sha):
        raise InvalidInput("sha", "must be a full 40-hex commit SHA")
    candidates = [refs.split(ref)] if ref.startswith("refs/") else [("tag", ref), ("branch", ref)]
    if not all(kind and refs.valid_name(n) for kind, n in candidates):
        raise InvalidInput("ref", f"{ref!r} is not a valid git ref")
    chosen = []
    for kind, ref_name in candidates:  # a bare name: the rules of a tag first, then of a branch
        event = WebhookEvent("manual", Action.TAG_MOVED if kind == "tag" else Action.BRANCH_PUSH,
                             ref_type=kind, ref_name=ref_name, sha=sha)
        chosen = [(r, event.ref) for r in spec["rules"]
                  if (r["name"] == body["rule"] if body.get("rule") else rules.evaluate(r, event))]
        if chosen:
            break
    if not chosen:
        raise InvalidInput("ref", f"no rule of app {name} matches {ref!r}; name one with \"rule\"")
    made = [jobs.to_dict(dispatch.manual(spec, r, full_ref, sha)) for r, full_ref in chosen]
    return Response(body={"jobs": made}, status_code=201)


@app.route(f"{V1}/apps/{{name}}/rollback", methods=["POST"])
@api("admin")
def rollback_app(name):
    """Queue a rollback: the agent redeploys an image it kept (`to` a ref, or the one before live)."""
    body, spec = _body(), app_store.get(name)
    to = body.get("to") or ""
    if not isinstance(to, str) or (to and not refs.valid_name(to.split("/", 2)[-1])):
        raise InvalidInput("to", "must be a tag, branch or commit the app was deployed at")
    docker_rules = [r for r in spec["rules"] if r["target"]["type"] == "docker"
                    and (not body.get("rule") or r["name"] == body["rule"])]
    if not docker_rules:
        raise InvalidInput("rule", f"app {name} has no docker rule to roll back")
    job = dispatch.manual(spec, docker_rules[0], to, "", trigger="rollback")
    return Response(body={"jobs": [jobs.to_dict(job)]}, status_code=201)


# ---- events and jobs --------------------------------------------------------
@app.route(f"{V1}/events", methods=["GET"])
@api("admin")
def list_events():
    return {"events": events.listing(_int_query("limit", 50, 500))}


@app.route(f"{V1}/events/{{event_id}}", methods=["GET"])
@api("admin")
def get_event(event_id):
    row = events.get(urllib.parse.unquote(event_id))
    return events.to_dict(row, with_payload=_query("payload") == "1")


@app.route(f"{V1}/jobs", methods=["GET"])
@api("admin")
def list_jobs():
    return {"jobs": jobs.listing(_query("app"), _query("state"), _int_query("limit", 50, 500),
                                 waiting=agents.explainer())}


@app.route(f"{V1}/jobs/{{job_id}}", methods=["GET"])
@api("admin")
def get_job(job_id):
    job = jobs.to_dict(jobs.get(job_id), waiting=agents.explainer())
    reports = outbox.for_job(job_id)  # how its GitHub statuses went: a delivery that gave up shows here
    return {**job, "reports": reports} if reports else job


@app.route(f"{V1}/jobs/{{job_id}}/logs", methods=["GET"])
@api("admin")
def job_logs(job_id):
    job = jobs.get(job_id)
    lines = logs.read(job_id, _int_query("after", 0, 10**9), _int_query("limit", 1000, 5000))
    return {"job": job_id, "state": job.state, "lines": lines}


@app.route(f"{V1}/jobs/{{job_id}}/cancel", methods=["POST"])
@api("admin")
def cancel_job(job_id):
    reason = (app.current_request.json_body or {}).get("reason", "") if app.current_request.raw_body else ""
    return jobs.to_dict(jobs.cancel(job_id, str(reason or "canceled by user")))


@app.route(f"{V1}/tokens", methods=["POST"])
@api("admin")
def create_token():
    body = _body()
    made = tokens.create(str(body.get("role", "")), str(body.get("name", "")), body.get("expires_in"))
    return Response(body=made, status_code=201)


@app.route(f"{V1}/tokens", methods=["GET"])
@api("admin")
def list_tokens():
    return {"tokens": tokens.listing()}


@app.route(f"{V1}/tokens/{{token_id}}", methods=["DELETE"])
@api("admin")
def revoke_token(token_id):
    return tokens.revoke(token_id)


@app.route(f"{V1}/audit", methods=["GET"])
@api("admin")
def list_audit():
    return {"audit": audit.listing(_int_query("limit", 50, 500))}


# ---- pools, agents, dead letters, the sweeper ------------------------------------
@app.route(f"{V1}/pools", methods=["GET"])
@api("admin")
def list_pools():
    live = agents.listing()
    return {"pools": [{"name": p, **queue.depth(p), "agents": sum(1 for a in live if a["pool"] == p),
                       "live_agents": sum(1 for a in live if a["pool"] == p and a["status"] != "lost")}
                      for p in settings().pools]}


@app.route(f"{V1}/agents", methods=["GET"])
@api("admin")
def list_agents():
    return {"agents": agents.listing(_query("pool"))}


@app.route(f"{V1}/dlq", methods=["GET"])
@api("admin")
def list_dead_letters():
    return {"dead_letters": dead_letters.listing(_query("pool"))}


@app.route(f"{V1}/dlq/{{job_id}}/replay", methods=["POST"])
@api("admin")
def replay_dead_letter(job_id):
    return Response(body=dead_letters.replay(job_id), status_code=201)


@app.route(f"{V1}/sweep", methods=["POST"])
@api("admin")
def sweep_now():
    return {**sweeper.sweep(), "webhooks": hooks.sweep()}


@app.schedule(Rate(1, unit=Rate.MINUTES))
def sweep_every_minute(event):
    """On AWS: dead letters end their jobs, lost messages are re-sent (functions/sweeper.py),
    GitHub reports that failed are retried once their backoff passed, and (opt-in) failed webhook
    deliveries are redelivered (functions/notify)."""
    return {**sweeper.sweep(), "outbox": sender.drain(), "webhooks": hooks.sweep()}


# ---- GitHub reports: the outbox ---------------------------------------------------------------
@app.route(f"{V1}/outbox/deliver", methods=["POST"])
@api("admin")
def deliver_outbox_now():
    """Send what is due now; `make run` calls it every 2 s (on AWS the stream and the sweep do)."""
    return sender.drain()


# the stack's template (infra/template.py) points this at the outbox table's stream
OUTBOX_STREAM = os.environ.get("TAHOBUDDY_OUTBOX_STREAM_ARN",
                               "arn:aws:dynamodb:us-east-1:123456789012:table/tahobuddy-prod-outbox/stream/latest")


@app.on_dynamodb_record(stream_arn=OUTBOX_STREAM, batch_size=50, starting_position="TRIM_HORIZON")
def deliver_outbox(event):
    """On AWS: a new outbox item is sent at once (retries: the sweep above)."""
    return sender.on_stream(list(event))


# ---- the agent's side -------------------------------------------------------
def _agent():
    """The registered agent whose session token made this request (never a header it picks)."""
    return agents.current(audit.caller())


@app.route(f"{V1}/agents/register", methods=["POST"])
@api("agent")
def agent_register():
    hello = agent_api.parse(AgentHello, _body())
    return Response(body=agents.register(hello).to_dict(), status_code=201)


@app.route(f"{V1}/agents/heartbeat", methods=["POST"])
@api(tokens.SESSION)
def agent_beat():
    return agents.beat(_agent(), agent_api.parse(AgentBeat, _body()))


@app.route(f"{V1}/agent/jobs/{{job_id}}/claim", methods=["POST"])
@api(tokens.SESSION)
def agent_claim(job_id):
    return agent_api.claim(job_id, _agent())


@app.route(f"{V1}/agent/jobs/{{job_id}}/heartbeat", methods=["POST"])
@api(tokens.SESSION)
def agent_heartbeat(job_id):
    return agent_api.heartbeat(job_id, _agent())


@app.route(f"{V1}/agent/jobs/{{job_id}}/logs", methods=["POST"])
@api(tokens.SESSION)
def agent_logs(job_id):
    return agent_api.append_logs(job_id, _agent(), _body())


@app.route(f"{V1}/agent/jobs/{{job_id}}/finish", methods=["POST"])
@api(tokens.SESSION)
def agent_finish(job_id):
    return agent_api.finish(job_id, _agent(), _body())


@app.route(f"{V1}/agent/jobs/{{job_id}}/release", methods=["POST"])
@api(tokens.SESSION)
def agent_release(job_id):
    return agent_api.release(job_id, _agent(), _body())
