"""The OpenAPI 3.1 description of `/api/v1`, built as data and served at `GET /api/v1/openapi.json`.

Why data and not prose: a test (tests/functional/test_openapi.py) compares `OPERATIONS` with the
routes Chalice registered, so a route nobody documented fails the suite with its path and method,
and schemathesis fuzzes the running API against these schemas. App, rule and target schemas come
from the same `Field` declarations the API validates with; the agent's messages come from the
dataclasses in `contract/wire.py`, so neither can drift from what the code accepts.

The document is public (like `/health`): it describes the API and holds no secret; every
operation except the webhook and these two says which bearer token it needs.
"""
from __future__ import annotations

import dataclasses
import typing

from contract import wire
from contract.states import JobState, Reason

from functions.domain import approvals, apps, databases, previews, rules, schedules, targets
from functions.domain.schema import field_schema, freeze

V1 = "/api/v1"
OPENAPI_PATH = f"{V1}/openapi.json"

_REF = "#/components/schemas/"


def ref(name: str) -> dict:
    return {"$ref": _REF + name}


def _named(fields, name: str):
    return next(f for f in fields if f.name == name)


def _nullable(json_type: str) -> dict:
    return {"type": [json_type, "null"]}


S, I, B, O = {"type": "string"}, {"type": "integer"}, {"type": "boolean"}, {"type": "object"}
STRS = {"type": "array", "items": S}


def obj(required: tuple = (), **props) -> dict:
    """An object schema; extra keys stay allowed, so a field added later does not break a client."""
    out = {"type": "object", "properties": props}
    if required:
        out["required"] = list(required)
    return out


# ---- schemas from the declarations the API validates with (functions/domain/schema.py) -------
def fields_schema(fields, **extra) -> dict:
    props = {f.name: field_schema(f) for f in fields}
    out = {"type": "object", "properties": {**props, **extra}}
    required = [f.name for f in fields if f.required]
    if required:
        out["required"] = required
    return out


def target_schema() -> dict:
    """One schema per target type (its own required fields), told apart by `type`."""
    variants = []
    for target_type, own in targets.TARGETS.items():
        one = fields_schema([f for f in list(targets.COMMON) + list(own) if f.name != "type"])
        one["properties"]["type"] = {"const": target_type}
        one["required"] = ["type", *one.get("required", [])]
        variants.append(one)
    return {"oneOf": variants, "description": "what a rule deploys to; the fields depend on `type`"}


def wire_schema(cls) -> dict:
    """A `contract.wire` dataclass as a JSON schema: its required fields and their JSON types."""
    json_types = {str: "string", int: "integer", float: "number", bool: "boolean", list: "array", dict: "object"}
    hints, props, required = typing.get_type_hints(cls), {}, []
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        base = typing.get_origin(hint) or hint
        if base is typing.Union:
            props[f.name] = _nullable(json_types[typing.get_origin(args[0]) or args[0]])
        else:
            props[f.name] = {"type": json_types[base]}
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            required.append(f.name)
    out = {"type": "object", "properties": props, "description": (cls.__doc__ or cls.__name__).strip()}
    if required:
        out["required"] = required
    return out


WIRE = (wire.AgentHello, wire.AgentSession, wire.AgentBeat, wire.AgentBeatAnswer, wire.ClaimAnswer,
        wire.JobBeatAnswer, wire.WaitAnswer, wire.LogBatch, wire.Finish, wire.Handback, wire.PreviewList,
        wire.AppOutput)
ROLES = ("admin", "agent", "session")


def schemas() -> dict:
    job_states = [s.value for s in JobState]
    out = {
        "Error": obj(("Code", "Message"), Code={**S, "description": "Chalice's error name, e.g. BadRequestError"},
                     Message={**S, "description": "what went wrong and what to do"}),
        "Health": obj(("status",), status=S),
        "Target": target_schema(),
        "Rule": fields_schema(rules.RULE_FIELDS, match=fields_schema(rules.MATCH_FIELDS, pull_request=fields_schema(
                                  previews.PR_FIELDS)), target=ref("Target"),
                              preview=fields_schema(previews.PREVIEW_FIELDS),
                              schedule=fields_schema(schedules.FIELDS), approval=fields_schema(approvals.FIELDS),
                              freeze={**field_schema(_named(rules.RULE_FIELDS, "freeze")), **freeze()}),
        "App": fields_schema(apps.APP_FIELDS, rules={"type": "array", "items": ref("Rule")},
                             database=fields_schema(apps.DATABASE_FIELDS,
                                                    backup=fields_schema(databases.BACKUP_FIELDS)),
                             freeze={**field_schema(_named(apps.APP_FIELDS, "freeze")), **freeze()}),
        "Delivery": obj(("event", "status"), event=S, status={"type": "string", "enum": ["processed", "duplicate"]},
                        action=S, reason=S, jobs=STRS, decision={"type": "array", "items": O}),
        "Event": obj(("id", "event_type", "received_at", "status"), id=S, event_type=S, received_at=S, status=S,
                     summary=O, decision={"type": "array", "items": O}, reason=S, payload_size=I,
                     payload_in_s3=B, payload={**S, "description": "only with ?payload=1"}),
        "Job": obj(("id", "app", "rule", "pool", "state"), id=S, app=S, rule=S, group=S, pool=S, target=O,
                   repository=S, ref=S, sha=S, state={"type": "string", "enum": job_states}, reason=S,
                   reason_code={"type": "string", "enum": [r.value for r in Reason]}, detail=S,
                   exit_code=_nullable("integer"), attempts=I, resent=I, agent_id=S, cancel_requested=S,
                   event_id=S, trigger=S, preview={**I, "description": "the pull request of a preview job"},
                   created_at=S, updated_at=S, started_at=_nullable("string"),
                   finished_at=_nullable("string"), log_lines=I,
                   phases={"type": "object", "additionalProperties": {"type": "number"}},
                   not_before={"type": "number", "description": "epoch seconds: the end of its quiet period"},
                   approval={**_nullable("object"), "description": "its rule's approval, when it has one"},
                   reports={**O, "description": "how its GitHub statuses and notifications went (one job's page)"},
                   waiting={**S, "description": "why a queued job waits (quiet period, no live agent of its pool) "
                                                "or that it awaits approval, since when and how to approve it"}),
        "Jobs": obj(("jobs",), jobs={"type": "array", "items": ref("Job")}),
        "Preview": obj(("app", "number", "hostname", "state", "since"), app=S, number=I, rule=S, hostname=S, sha=S,
                       head_ref=S, job_id=S, since=S, expire_after_days=I,
                       state={"type": "string", "enum": ["queued", "live", "failed", "closing", "closed"]}),
        "LogLine": obj(("seq", "line", "at"), seq=I, line=S, at=S),
        "JobLogs": obj(("job", "state", "lines"), job=S, state=S, lines={"type": "array", "items": ref("LogLine")},
                       dropped=I),  # lines after `after` the per-job cap (TAHOBUDDY_LOG_MAX_LINES) removed
        "AppOutputLines": obj(("app", "preview", "lines", "last_seq"), app=S, preview=I,
                              lines={"type": "array", "items": ref("LogLine")},
                              last_seq={**I, "description": "follow on with after=this"},
                              dropped={**I, "description": "lines after `after` the per-app cap removed"}),
        "Agent": obj(("id", "pool", "status"), id=S, pool=S, targets=STRS, version=S, host=S, concurrency=I,
                     status={"type": "string", "enum": ["idle", "busy", "stopping", "lost"]}, jobs=STRS,
                     started_at=S, last_seen=I),
        "Pool": obj(("name", "waiting", "in_flight", "dead_letters", "agents", "live_agents"), name=S, waiting=I,
                    in_flight=I, dead_letters=I, agents=I, live_agents=I),
        "DeadLetter": obj(("pool", "message_id", "job_id", "state", "reason"), pool=S, message_id=S,
                          sent_at={"type": "number", "description": "epoch seconds SQS first received it"},
                          job_id=S, state=S, reason=S, app=S, rule=S, ref=S),
        "Replayed": obj(("replayed", "job"), replayed=S, job=ref("Job"), reason_code=S),
        "SweepReport": obj(("dead_lettered", "resent", "failed"), dead_lettered=STRS, resent=STRS, failed=STRS,
                           webhooks={**O, "description": "failed GitHub deliveries redelivered (opt-in)"},
                           expired={**STRS, "description": "teardown jobs of expired previews"},
                           scheduled={"type": "array", "items": O,
                                      "description": "schedule ticks handled: app, rule, tick, outcome, job_id, note"},
                           backups={**STRS, "description": "backup jobs queued for database.backup.schedule"},
                           deleted_expired={"type": "object", "additionalProperties": I,
                                            "description": "table -> items past their expires_at deleted "
                                                           "(only where no DynamoDB TTL does it: "
                                                           "TAHOBUDDY_DELETE_EXPIRED)"}),
        "Schedule": obj(("app", "rule", "cron", "timezone", "overlap", "next_run"), app=S, rule=S, cron=S,
                        timezone=S, overlap={"type": "string", "enum": ["skip", "queue"]},
                        next_run={**S, "description": "the next tick, UTC"},
                        next_run_local={**S, "description": "the next tick in the schedule's timezone"},
                        last_tick=S, last_run_at=S, last_job=S,
                        last_outcome={"type": "string", "enum": ["", "queued", "skipped"]},
                        last_note={**S, "description": "what the last tick did, and whether it ran late"}),
        "Backup": obj(("app", "name", "verified"), app=S, name=S, to=S, job_id=S, agent_id=S, kind=S, image=S,
                      verified={**S, "description": "verified, or failed: why (its restore test)"}, bytes=I,
                      counts={"type": "object", "additionalProperties": I,
                              "description": "rows per table (keys per Redis database) at dump time"},
                      created_at=S, dump_seconds={"type": "number"}, verify_seconds={"type": "number"}),
        "RestoreRequest": obj(("from", "yes"), **{"from": {**S, "description": "a backup's name"}},
                              yes={"type": "boolean", "description": "true: replace the app's database"}),
        "OutboxReport": obj(("sent", "retrying", "gave_up"), sent=I, retrying=I, gave_up=I),
        "Token": obj(("id", "name", "role", "created_at", "expires_at", "expired"), id=S, name=S,
                     role={"type": "string", "enum": ["admin", "agent"]}, created_at=S,
                     expires_at=_nullable("string"), expired=B,
                     pool={**_nullable("string"), "description": "an agent token's pool; null for admin tokens"}),
        "NewToken": {"allOf": [ref("Token"), obj(("token",), token={**S, "description": "shown once"}, note=S)]},
        "TokenRequest": obj(("role", "name"), role={"type": "string", "enum": ["admin", "agent"]}, name=S,
                            pool={**S, "description": "agent tokens: the one pool its agents register in "
                                                      "(default: default)"},
                            expires_in={"type": ["integer", "string", "null"],
                                        "description": "seconds, or 30d / 12h / 15m"}),
        "Revoked": obj(("revoked", "name", "role"), revoked=S, name=S, role=S),
        "Audit": obj(("id", "at", "action", "subject"), id=S, at=S, action=S, subject=S,
                     token=obj(("id", "name"), id=S, name=S), changes=O, summary=S),
        "DeployRequest": obj(("ref",), ref={**S, "description": "a tag, a branch, or refs/heads/... refs/tags/..."},
                             sha={**S, "pattern": "^[0-9a-f]{40}$"}, rule=S,
                             now={"type": "boolean", "description": "skip the targets' quiet period"},
                             override_freeze={"type": "boolean", "description": "with now: deploy inside a "
                                              "freeze window (audited as override_freeze)"}),
        "RollbackRequest": obj(to={**S, "description": "a ref the app was deployed at; default: the one before"},
                               rule=S),
        "PromoteRequest": obj(("from", "to"), **{"from": {**S, "description": "the rule whose serving image goes"},
                                                 "to": {**S, "description": "the rule whose docker, heroku "
                                                                            "(method container) or aws-ecs target "
                                                                            "receives that digest, without a build"}}),
        "RunRequest": obj(("argv",), argv={**STRS, "minItems": 1, "description": "the command, as an argv list"},
                          rule={**S, "description": "the docker rule whose serving image runs it (default: the first)"},
                          timeout={**I, "minimum": 1, "description": "seconds before it is stopped (default: the "
                                                                      "target's timeout)"}),
        "CancelRequest": obj(reason=S),
        "RejectRequest": obj(("reason",), reason={**S, "minLength": 1, "description": "why: the job's reason says it"}),
        "LogAck": obj(("last_seq",), last_seq=I),
        "Deleted": obj(("deleted",), deleted=S, purge_jobs={"type": "array", "items": ref("Job"),
                                                            "description": "with purge=true: the purge jobs"}),
        "WhoAmI": obj(("role", "name"), role={"type": "string", "enum": ["admin", "agent", "session"]}, name=S,
                      pool={**_nullable("string"), "description": "the pool of an agent token or session"}),
    }
    out.update({cls.__name__: wire_schema(cls) for cls in WIRE})
    return out


# ---- operations ---------------------------------------------------------------------------
ERRORS = {400: "bad input: the message names the field", 401: "no token, an unknown or expired one",
          403: "a token of another role", 404: "no such thing", 409: "it changed meanwhile, or is another's",
          413: "body too large", 503: "storage (DynamoDB/SQS) unavailable: try again (GitHub: redeliver)"}
NAME = {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,62}$"}
ID = {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$"}
LIMIT = {"type": "integer", "minimum": 0}


@dataclasses.dataclass(frozen=True)
class Operation:
    method: str
    path: str                     # under /api/v1
    summary: str
    role: str = "admin"           # "" public, admin, agent, session
    ok: int = 200
    answer: dict | None = None    # the 2xx body's schema
    body: dict | None = None      # the request body's schema
    body_required: bool = True
    query: dict = dataclasses.field(default_factory=dict)
    errors: tuple = (401, 403, 503)
    path_params: dict = dataclasses.field(default_factory=dict)


def _list(key: str, item: str) -> dict:
    return obj((key,), **{key: {"type": "array", "items": ref(item)}})


_SESSION = (400, 401, 403, 404, 409, 503)
OPERATIONS = (
    Operation("GET", "/health", "Is the API up?", role="", answer=ref("Health"), errors=()),
    Operation("GET", "/openapi.json", "This document", role="", answer=O, errors=()),
    Operation("GET", "/whoami", "Which token this is: its role and name, never the secret", role="any",
              answer=ref("WhoAmI"), errors=(401, 503)),
    Operation("POST", "/hooks/github", "A GitHub webhook delivery (signed with X-Hub-Signature-256)", role="",
              answer=ref("Delivery"), body=O, errors=(400, 401, 413, 503)),
    Operation("POST", "/hooks/gitlab", "A GitLab webhook delivery (X-Gitlab-Token)", role="",
              answer=ref("Delivery"), body=O, errors=(400, 401, 413, 503)),
    Operation("POST", "/hooks/gitea", "A Gitea webhook delivery (X-Gitea-Signature)", role="",
              answer=ref("Delivery"), body=O, errors=(400, 401, 413, 503)),
    Operation("POST", "/hooks/forgejo", "A Forgejo webhook delivery (X-Forgejo-Signature)", role="",
              answer=ref("Delivery"), body=O, errors=(400, 401, 413, 503)),
    Operation("GET", "/apps", "Every app", answer=_list("apps", "App")),
    Operation("POST", "/apps", "Create an app", ok=201, answer=ref("App"), body=ref("App"),
              errors=(400, 401, 403, 409, 503)),
    Operation("GET", "/apps/{name}", "One app", answer=ref("App"), errors=(401, 403, 404, 503)),
    Operation("PUT", "/apps/{name}", "Create or replace an app (201 when created)", answer=ref("App"),
              body=ref("App"), errors=(400, 401, 403, 409, 503)),
    Operation("DELETE", "/apps/{name}", "Delete an app (purge=true: and queue the removal of its volumes, "
              "database and containers on its agents)", answer=ref("Deleted"),
              query={"purge": {"type": "string", "enum": ["true"]}}, errors=(401, 403, 404, 503)),
    Operation("POST", "/apps/{name}/deploy", "Queue jobs for a ref by hand", ok=201, answer=ref("Jobs"),
              body=ref("DeployRequest"), errors=(400, 401, 403, 404, 503)),
    Operation("POST", "/apps/{name}/rollback", "Queue a rollback to an image the agent kept", ok=201,
              answer=ref("Jobs"), body=ref("RollbackRequest"), errors=(400, 401, 403, 404, 503)),
    Operation("POST", "/apps/{name}/promote", "Queue a deploy of the digest one rule serves to another rule's "
              "docker, heroku (container) or aws-ecs target", ok=201, answer=ref("Jobs"), body=ref("PromoteRequest"), errors=(400, 401, 403, 404, 503)),
    Operation("POST", "/apps/{name}/run", "Queue a one-off command in a new container of the serving image",
              ok=201, answer=ref("Jobs"), body=ref("RunRequest"), errors=(400, 401, 403, 404, 503)),
    Operation("GET", "/apps/{name}/output", "What the app's serving container printed: the newest lines, or "
              "those after `after` to follow", answer=ref("AppOutputLines"),
              query={"preview": LIMIT, "after": LIMIT, "since": {**LIMIT, "description": "seconds back"},
                     "limit": LIMIT}, errors=(400, 401, 403, 404, 503)),
    Operation("GET", "/schedules", "Rules with a schedule: next and last runs", answer=_list("schedules", "Schedule")),
    Operation("POST", "/apps/{name}/backups", "Queue a backup of the app's database (restore-tested)", ok=201,
              answer=ref("Jobs"), body=O, body_required=False, errors=(400, 401, 403, 404, 503)),
    Operation("GET", "/apps/{name}/backups", "The app's database backups, newest first",
              answer=_list("backups", "Backup"), errors=(401, 403, 404, 503)),
    Operation("POST", "/apps/{name}/restore", "Queue a restore of the app's database from a backup", ok=201,
              answer=ref("Jobs"), body=ref("RestoreRequest"), errors=(400, 401, 403, 404, 503)),
    Operation("GET", "/events", "Webhook deliveries, newest first", answer=_list("events", "Event"),
              query={"limit": LIMIT}, errors=(400, 401, 403, 503)),
    Operation("GET", "/events/{event_id}", "One delivery", answer=ref("Event"),
              query={"payload": {"type": "string", "enum": ["1"]}}, errors=(401, 403, 404, 503)),
    Operation("GET", "/jobs", "Jobs, newest first", answer=_list("jobs", "Job"),
              query={"app": S, "state": S, "limit": LIMIT}, errors=(400, 401, 403, 503)),
    Operation("GET", "/jobs/{job_id}", "One job", answer=ref("Job"), errors=(401, 403, 404, 503)),
    Operation("GET", "/jobs/{job_id}/logs", "A job's log lines after `after`", answer=ref("JobLogs"),
              query={"after": LIMIT, "limit": LIMIT}, errors=(400, 401, 403, 404, 503)),
    Operation("POST", "/jobs/{job_id}/approve", "Approve a job awaiting approval: it is queued for its agent",
              answer=ref("Job"), errors=(401, 403, 404, 409, 503)),
    Operation("POST", "/jobs/{job_id}/reject", "Reject a job awaiting approval: it ends canceled with the reason",
              answer=ref("Job"), body=ref("RejectRequest"), errors=(400, 401, 403, 404, 409, 503)),
    Operation("POST", "/jobs/{job_id}/cancel", "Ask for a job to stop", answer=ref("Job"),
              body=ref("CancelRequest"), body_required=False, errors=(400, 401, 403, 404, 409, 503)),
    Operation("POST", "/tokens", "Issue a token", ok=201, answer=ref("NewToken"), body=ref("TokenRequest"),
              errors=(400, 401, 403, 503)),
    Operation("GET", "/tokens", "Every token (never the secret)", answer=_list("tokens", "Token")),
    Operation("DELETE", "/tokens/{token_id}", "Revoke a token", answer=ref("Revoked"),
              errors=(400, 401, 403, 404, 503)),
    Operation("GET", "/audit", "Changes of apps and tokens, newest first", answer=_list("audit", "Audit"),
              query={"limit": LIMIT}, errors=(400, 401, 403, 503)),
    Operation("GET", "/pools", "Pools: queue depth and agents", answer=_list("pools", "Pool")),
    Operation("GET", "/previews", "Pull-request previews (closed ones with closed=1)",
              answer=_list("previews", "Preview"), query={"app": S, "closed": {"type": "string", "enum": ["1"]}},
              errors=(400, 401, 403, 503)),
    Operation("GET", "/agents", "Registered agents", answer=_list("agents", "Agent"), query={"pool": S}),
    Operation("GET", "/dlq", "Dead letters", answer=_list("dead_letters", "DeadLetter"), query={"pool": S},
              errors=(400, 401, 403, 503)),
    Operation("POST", "/dlq/{job_id}/replay", "Queue a dead-lettered job again", ok=201, answer=ref("Replayed"),
              errors=(400, 401, 403, 404, 503)),
    Operation("POST", "/sweep", "End dead-lettered jobs and re-send lost messages now", answer=ref("SweepReport")),
    Operation("POST", "/outbox/deliver", "Send the GitHub reports and notifications that are due now",
              answer=ref("OutboxReport")),
    Operation("POST", "/agents/register", "An agent trades its agent token for a session", role="agent", ok=201,
              answer=ref("AgentSession"), body=ref("AgentHello"), errors=(400, 401, 403, 503)),
    Operation("POST", "/agents/heartbeat", "The agent is alive", role="session", answer=ref("AgentBeatAnswer"),
              body=ref("AgentBeat"), errors=_SESSION),
    Operation("POST", "/agent/jobs/{job_id}/claim", "Take a job off the queue", role="session",
              answer=ref("ClaimAnswer"), errors=_SESSION),
    Operation("POST", "/agent/jobs/{job_id}/wait", "A held message: keep waiting out the quiet period, claim, "
              "or drop it", role="session", answer=ref("WaitAnswer"), errors=_SESSION),
    Operation("POST", "/agent/jobs/{job_id}/heartbeat", "Extend the lease; says whether to cancel",
              role="session", answer=ref("JobBeatAnswer"), errors=_SESSION),
    Operation("POST", "/agent/jobs/{job_id}/logs", "Append numbered log lines", role="session",
              answer=ref("LogAck"), body=ref("LogBatch"), errors=_SESSION),
    Operation("POST", "/agent/jobs/{job_id}/finish", "End a job", role="session", answer=ref("Job"),
              body=ref("Finish"), errors=_SESSION),
    Operation("GET", "/agent/previews", "The previews the agent's reconciler keeps", role="session",
              answer=ref("PreviewList"), errors=(401, 403, 503)),
    Operation("POST", "/agent/apps/{name}/output", "Append what an app's serving container printed (an agent of "
              "a pool the app's docker rules deploy to)", role="session", answer=ref("LogAck"),
              body=ref("AppOutput"), errors=_SESSION),
    Operation("POST", "/agent/jobs/{job_id}/release", "Hand a job back to the queue", role="session",
              answer=ref("Job"), body=ref("Handback"), errors=_SESSION),
)

_PARAMS = {"name": NAME, "event_id": ID, "job_id": ID, "token_id": {"type": "string", "pattern": "^[0-9a-f]{12}$"}}
_EXTRA_OK = {("PUT", "/apps/{name}"): 201}


def _operation(op: Operation) -> dict:
    params = [{"name": p, "in": "path", "required": True, "schema": _PARAMS[p]}
              for p in _PARAMS if "{" + p + "}" in op.path]
    params += [{"name": k, "in": "query", "required": False, "schema": v} for k, v in op.query.items()]
    responses = {str(op.ok): {"description": "done", "content": {"application/json": {"schema": op.answer or O}}}}
    if (op.method, op.path) in _EXTRA_OK:
        responses[str(_EXTRA_OK[op.method, op.path])] = responses[str(op.ok)]
    for code in op.errors:
        responses[str(code)] = {"$ref": f"#/components/responses/E{code}"}
    out = {"summary": op.summary, "operationId": f"{op.method.lower()}{op.path.replace('/', '_')}",
           "parameters": params, "responses": responses,
           "security": [{r: []} for r in ROLES] if op.role == "any" else [{op.role: []}] if op.role else []}
    if op.body:
        types = ("application/json", "application/x-www-form-urlencoded") if op.path.startswith("/hooks/") \
            else ("application/json",)
        out["requestBody"] = {"required": op.body_required, "content": {t: {"schema": op.body} for t in types}}
    return out


def document(server: str = "/") -> dict:
    paths: dict = {}
    for op in OPERATIONS:
        paths.setdefault(V1 + op.path, {})[op.method.lower()] = _operation(op)
    bearer = {"type": "http", "scheme": "bearer"}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Tahobuddy API", "version": "1",
                 "description": "Tag-driven build and deploy. Errors are Chalice's body "
                                "{\"Code\": ..., \"Message\": ...}."},
        "servers": [{"url": server}],
        "paths": paths,
        "components": {
            "schemas": schemas(),
            "responses": {f"E{code}": {"description": why, "content": {"application/json": {"schema": ref("Error")}}}
                          for code, why in ERRORS.items()},
            "securitySchemes": {"admin": {**bearer, "description": "an admin token"},
                                "agent": {**bearer, "description": "an agent token (only to register)"},
                                "session": {**bearer, "description": "the session an agent got by registering"}},
        },
    }
