"""Tokens, the audit log, pools and agents, dead letters, the sweeper, the outbox, previews."""
from __future__ import annotations

from chalice import Blueprint, Response

from functions.api import http
from functions.dispatch import dead_letters, pools, sweeper
from functions.store import previews
from functions.notify import github_webhooks, sender
from functions.store import agents, audit, tokens

bp = Blueprint(__name__)


@bp.route(f"{http.V1}/tokens", methods=["POST"])
@http.api("admin")
def create_token():
    body = http.body()
    made = tokens.create(str(body.get("role", "")), str(body.get("name", "")), body.get("expires_in"), body.get("pool"))
    return Response(body=made, status_code=201)


@bp.route(f"{http.V1}/tokens", methods=["GET"])
@http.api("admin")
def list_tokens():
    return {"tokens": tokens.listing()}


@bp.route(f"{http.V1}/tokens/{{token_id}}", methods=["DELETE"])
@http.api("admin")
def revoke_token(token_id):
    return tokens.revoke(token_id)


@bp.route(f"{http.V1}/audit", methods=["GET"])
@http.api("admin")
def list_audit():
    return {"audit": audit.listing(http.int_query("limit", 50, 500))}


@bp.route(f"{http.V1}/pools", methods=["GET"])
@http.api("admin")
def list_pools():
    return {"pools": pools.overview()}


@bp.route(f"{http.V1}/agents", methods=["GET"])
@http.api("admin")
def list_agents():
    return {"agents": agents.listing(http.query("pool"))}


@bp.route(f"{http.V1}/dlq", methods=["GET"])
@http.api("admin")
def list_dead_letters():
    return {"dead_letters": dead_letters.listing(http.query("pool"))}


@bp.route(f"{http.V1}/dlq/{{job_id}}/replay", methods=["POST"])
@http.api("admin")
def replay_dead_letter(job_id):
    return Response(body=dead_letters.replay(job_id), status_code=201)


@bp.route(f"{http.V1}/sweep", methods=["POST"])
@http.api("admin")
def sweep_now():
    return {**sweeper.sweep(), "webhooks": github_webhooks.sweep()}




@bp.route(f"{http.V1}/outbox/deliver", methods=["POST"])
@http.api("admin")
def deliver_outbox_now():
    """Send what is due now; `make run` calls it every 2 s (on AWS the stream and the sweep do)."""
    return sender.drain()




@bp.route(f"{http.V1}/previews", methods=["GET"])
@http.api("admin")
def list_previews():
    return {"previews": previews.listing(http.query("app"), closed=http.query("closed") == "1")}
