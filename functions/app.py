"""Tahobuddy's HTTP API (Chalice). Routes only: each one authenticates, calls a
domain module, and returns its dict. Domain errors become Chalice errors in `api`.
"""
from __future__ import annotations

import functools
import os
import urllib.parse

from botocore.exceptions import ConnectionError as NoConnection, HTTPClientError
from chalice import (BadRequestError, Chalice, ChaliceViewError, ConflictError, ForbiddenError, NotFoundError,
                     Rate, Response, UnauthorizedError)

from contract.wire import AgentBeat, AgentHello

from . import (agent_api, agents, app_store, audit, dead_letters, dispatch, events, intake, jobs, logs, openapi,
               previews, queue, refs, rules, sweeper, tokens)
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


class StorageUnavailableError(ChaliceViewError):
    STATUS_CODE = 503


UNAVAILABLE = ("storage unavailable (DynamoDB/SQS could not be reached); nothing was changed: try again "
               "(GitHub shows the delivery as failed: redeliver it)")


def _unreachable(exc: BaseException) -> bool:
    """Whether `exc` (or what it wraps: PynamoDB keeps the botocore error as its cause) says the AWS
    endpoint could not be reached, which is a 503 to retry, never a 500."""
    seen = 0
    while exc is not None and seen < 8:
        if isinstance(exc, (NoConnection, HTTPClientError)):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


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
            except Exception as exc:
                if _unreachable(exc):  # first: a domain error may wrap it (a PutError read as a Conflict)
                    raise StorageUnavailableError(UNAVAILABLE) from exc
                if not isinstance(exc, TahobuddyError):
                    raise
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


@app.route(f"{V1}/whoami", methods=["GET"])
@api(*tokens.ROLES, tokens.SESSION)
def whoami():
    """Which token this is (`tahobuddy doctor` checks an agent's token with it): never the secret."""
    caller = audit.caller()
    return {"role": caller.role, "name": caller.name}


@app.route(openapi.OPENAPI_PATH, methods=["GET"])
def openapi_document():
    """Public, like /health: it describes the API and holds no secret (functions/openapi.py)."""
    return openapi.document()


def _hook(provider: str) -> dict:
    req = app.current_request
    return intake.receive(intake.Delivery(provider, dict(req.headers), req.raw_body or b""))


@app.route(f"{V1}/hooks/github", methods=["POST"], content_types=HOOK_CONTENT_TYPES)
@api()
def github_hook():
    return _hook("github")


@app.route(f"{V1}/hooks/gitlab", methods=["POST"], content_types=HOOK_CONTENT_TYPES)
@api()
def gitlab_hook():
    return _hook("gitlab")


@app.route(f"{V1}/hooks/gitea", methods=["POST"], content_types=HOOK_CONTENT_TYPES)
@api()
def gitea_hook():
    return _hook("gitea")


@app.route(f"{V1}/hooks/forgejo", methods=["POST"], content_types=HOOK_CONTENT_TYPES)
@api()
def forgejo_hook():
    return _hook("forgejo")


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
    now = body.get("now", False)
    if not isinstance(now, bool):
        raise InvalidInput("now", "must be true or false (true skips the targets' quiet period)")
    made = [jobs.to_dict(dispatch.manual(spec, r, full_ref, sha, now=now)) for r, full_ref in chosen]
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
    body = (app.current_request.json_body if app.current_request.raw_body else None) or {}
    if not isinstance(body, dict):  # was a 500 on a JSON list (found by schemathesis)
        raise InvalidInput("body", "send a JSON object like {\"reason\": \"...\"}, or no body")
    reason = body.get("reason", "")
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


@app.route(f"{V1}/agent/jobs/{{job_id}}/wait", methods=["POST"])
@api(tokens.SESSION)
def agent_wait(job_id):
    return agent_api.wait(job_id, _agent())


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


@app.route(f"{V1}/agent/previews", methods=["GET"])
@api(tokens.SESSION)
def agent_previews():
    return agent_api.kept_previews(_agent())


@app.route(f"{V1}/previews", methods=["GET"])
@api("admin")
def list_previews():
    return {"previews": previews.listing(_query("app"), closed=_query("closed") == "1")}


@app.route(f"{V1}/agent/jobs/{{job_id}}/release", methods=["POST"])
@api(tokens.SESSION)
def agent_release(job_id):
    return agent_api.release(job_id, _agent(), _body())


# ---- the web dashboard (functions/dashboard/: pages signed in by a session cookie) --------
from .dashboard import actions as d_actions, agents_screen, apps_screen, events_screen, jobs_screen, signin  # noqa: E402
from .dashboard import assets as d_assets, web as d_web  # noqa: E402

FORM = ["application/x-www-form-urlencoded"]


def _page() -> d_web.Page:
    return d_web.Page(app.current_request)


@app.route("/", methods=["GET"])
def dashboard_home():
    page = _page()
    return d_web.redirect(page.url("/apps" if page.session else "/login"))


@app.route("/login", methods=["GET"])
def dashboard_login_form():
    return signin.form(_page())


@app.route("/login", methods=["POST"], content_types=FORM)
def dashboard_login():
    return signin.submit(_page())


@app.route("/logout", methods=["POST"], content_types=FORM)
def dashboard_logout():
    return signin.sign_out(_page())


@app.route("/apps", methods=["GET"])
def dashboard_apps():
    return apps_screen.show(_page())


@app.route("/apps/{name}/rollback", methods=["POST"], content_types=FORM)
def dashboard_rollback(name):
    return d_actions.rollback(_page(), name)


@app.route("/jobs", methods=["GET"])
def dashboard_jobs():
    return jobs_screen.listing(_page())


@app.route("/jobs/{job_id}", methods=["GET"])
def dashboard_job(job_id):
    return jobs_screen.show(_page(), job_id)


@app.route("/jobs/{job_id}/log", methods=["GET"])
def dashboard_job_log(job_id):
    return jobs_screen.log_since(_page(), job_id)


@app.route("/jobs/{job_id}/cancel", methods=["POST"], content_types=FORM)
def dashboard_cancel(job_id):
    return d_actions.cancel(_page(), job_id)


@app.route("/jobs/{job_id}/redeploy", methods=["POST"], content_types=FORM)
def dashboard_redeploy(job_id):
    return d_actions.redeploy(_page(), job_id)


@app.route("/events", methods=["GET"])
def dashboard_events():
    return events_screen.listing(_page())


@app.route("/events/{event_id}", methods=["GET"])
def dashboard_event(event_id):
    return events_screen.show(_page(), urllib.parse.unquote(event_id))


@app.route("/agents", methods=["GET"])
def dashboard_agents():
    return agents_screen.show(_page())


@app.route("/assets/{name}", methods=["GET"])
def dashboard_asset(name):
    found = d_assets.load(name)
    if found is None:
        raise NotFoundError(f"no dashboard asset {name!r}")
    text, content_type = found
    return Response(body=text, status_code=200, headers={
        "Content-Type": content_type, "Cache-Control": "public, max-age=31536000, immutable",
        "X-Content-Type-Options": "nosniff"})
