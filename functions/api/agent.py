"""The agent's side (contract/wire.py): register, beat, claim, wait, heartbeat, logs, finish, release, and
its apps' output."""
from __future__ import annotations

from chalice import Blueprint, Response

from contract.wire import AgentBeat, AgentHello

from functions.api import http
from functions.dispatch import agent_api
from functions.store import agents, audit, tokens

bp = Blueprint(__name__)


def _agent():
    """The registered agent whose session token made this request (never a header it picks)."""
    return agents.current(audit.caller())


@bp.route(f"{http.V1}/agents/register", methods=["POST"])
@http.api("agent")
def agent_register():
    hello = agent_api.parse(AgentHello, http.body())
    return Response(body=agents.register(hello, audit.caller()).to_dict(), status_code=201)


@bp.route(f"{http.V1}/agents/heartbeat", methods=["POST"])
@http.api(tokens.SESSION)
def agent_beat():
    return agents.beat(_agent(), agent_api.parse(AgentBeat, http.body()), audit.caller())


@bp.route(f"{http.V1}/agent/jobs/{{job_id}}/claim", methods=["POST"])
@http.api(tokens.SESSION)
def agent_claim(job_id):
    return agent_api.claim(job_id, _agent())


@bp.route(f"{http.V1}/agent/jobs/{{job_id}}/wait", methods=["POST"])
@http.api(tokens.SESSION)
def agent_wait(job_id):
    return agent_api.wait(job_id, _agent())


@bp.route(f"{http.V1}/agent/jobs/{{job_id}}/heartbeat", methods=["POST"])
@http.api(tokens.SESSION)
def agent_heartbeat(job_id):
    return agent_api.heartbeat(job_id, _agent())


@bp.route(f"{http.V1}/agent/jobs/{{job_id}}/logs", methods=["POST"])
@http.api(tokens.SESSION)
def agent_logs(job_id):
    return agent_api.append_logs(job_id, _agent(), http.body())


@bp.route(f"{http.V1}/agent/jobs/{{job_id}}/finish", methods=["POST"])
@http.api(tokens.SESSION)
def agent_finish(job_id):
    return agent_api.finish(job_id, _agent(), http.body())


@bp.route(f"{http.V1}/agent/previews", methods=["GET"])
@http.api(tokens.SESSION)
def agent_previews():
    return agent_api.kept_previews(_agent())


@bp.route(f"{http.V1}/agent/jobs/{{job_id}}/release", methods=["POST"])
@http.api(tokens.SESSION)
def agent_release(job_id):
    return agent_api.release(job_id, _agent(), http.body())


@bp.route(f"{http.V1}/agent/apps/{{name}}/output", methods=["POST"])
@http.api(tokens.SESSION)
def agent_app_output(name):
    return agent_api.append_output(name, _agent(), http.body())
