"""Registered agents: register, beat, list; and, for a queued job, why no agent has taken it.

Registering with an agent token gives a session token bound to the agent id and the token's pool
(store/sessions.py); a restart of the same agent id with the same token replaces the session, so a
late call of the old process is refused. An agent id that a live session of another agent token
holds is refused (409): no token takes over another's agent and its jobs. An agent not seen for 3
heartbeats is lost (Buildkite shows the same).
"""
from __future__ import annotations

from pynamodb.exceptions import DoesNotExist, PutError

from contract.queues import POOL_NAME
from contract.wire import AGENT_ID, AgentBeat, AgentHello, AgentSession

from functions.store import conditions, sessions, tokens
from functions.clock import now, now_iso
from functions.config import settings
from functions.errors import Conflict, Forbidden, InvalidInput, NotAuthorized
from functions.store.models import AgentModel, TokenModel

LOST_AFTER_BEATS = 3
STATES = ("idle", "busy", "stopping")


def register(hello: AgentHello, token: TokenModel) -> AgentSession:
    """A session for the agent `hello` describes, made with the agent token `token`."""
    s = settings()
    if not AGENT_ID.match(hello.agent_id):
        raise InvalidInput("agent_id", "letters, digits and _ . : @ -, at most 128")
    if not POOL_NAME.match(hello.pool) or hello.pool not in s.pools:
        raise InvalidInput("pool", f"unknown pool {hello.pool!r} (known: {', '.join(s.pools)}); set TAHOBUDDY_POOL "
                                   "on the agent, or declare the pool with TAHOBUDDY_POOLS on the API")
    if not hello.targets or not all(isinstance(t, str) for t in hello.targets):
        raise InvalidInput("targets", "must list the target types this agent runs")
    bound = tokens.pool_of(token)
    if hello.pool != bound:
        raise Forbidden(f"this agent token is for pool {bound!r}, not {hello.pool!r}: set TAHOBUDDY_POOL={bound} on "
                        f"the agent, or make a token for pool {hello.pool!r} with "
                        f"`tahobuddy token --role agent --pool {hello.pool}`")
    before = _held_by_another(hello.agent_id, token)
    session, session_digest = tokens.issue_session(hello.agent_id, hello.pool, token)
    row = AgentModel(hello.agent_id, pool=hello.pool, targets=sorted(hello.targets), version=hello.version[:40],
                     host=hello.host[:120], concurrency=hello.concurrency, state="idle", jobs=[],
                     started_at=now_iso(), last_seen=int(now()), heartbeat_seconds=s.agent_heartbeat,
                     session_digest=session_digest)
    try:  # only over the row just read: two registrations at once cannot both win
        row.save(condition=AgentModel.id.does_not_exist() if before is None
                 else AgentModel.session_digest == before.session_digest)
    except PutError as exc:
        if not conditions.failed(exc):
            raise
        raise Conflict(f"agent {hello.agent_id} registered at the same time elsewhere; try again") from exc
    # the previous session of this agent id now fails `current` with a clear message (its row ends by TTL)
    return AgentSession(hello.agent_id, session, s.agent_heartbeat, s.lease_seconds)


def _held_by_another(agent_id: str, token: TokenModel) -> AgentModel | None:
    """The agent row as it is (None: never registered); Conflict when a live session of another agent
    token holds the id. The same token may take it back (a restart); a dead session frees it."""
    try:
        agent = AgentModel.get(agent_id)
    except DoesNotExist:
        return None
    held = sessions.find(agent.session_digest) if agent.session_digest else None
    if held is not None and held.parent != token.digest and sessions.live(held):
        raise Conflict(f"agent id {agent_id} is held by a live session of another agent token (pool {held.pool!r}); "
                       "give this agent its own TAHOBUDDY_AGENT_ID, or revoke the other token to free the id")
    return agent


def current(session_row) -> AgentModel:
    """The agent a session token speaks for; refused once a newer registration replaced it."""
    try:
        agent = AgentModel.get(session_row.name)
    except DoesNotExist as exc:
        raise NotAuthorized(f"agent {session_row.name} is not registered; restart it") from exc
    if agent.session_digest != session_row.digest:
        raise NotAuthorized(f"agent {session_row.name} registered again; this session was replaced")
    return agent


def beat(agent: AgentModel, msg: AgentBeat, session=None) -> dict:
    """The agent is alive: its state and jobs now; its session lives on (store/sessions.py)."""
    if msg.state not in STATES:
        raise InvalidInput("state", f"must be one of {', '.join(STATES)}")
    if session is not None:
        sessions.renew(session)
    agent.update(actions=[AgentModel.last_seen.set(int(now())), AgentModel.state.set(msg.state),
                          AgentModel.jobs.set([str(j) for j in msg.jobs][:64])])
    return {"ok": True}


def status(agent: AgentModel, at: float | None = None) -> str:
    at = now() if at is None else at
    if at - agent.last_seen > LOST_AFTER_BEATS * max(1, agent.heartbeat_seconds):
        return "lost"
    return agent.state


def to_dict(agent: AgentModel, at: float | None = None) -> dict:
    return {"id": agent.id, "pool": agent.pool, "targets": list(agent.targets), "version": agent.version,
            "host": agent.host, "concurrency": agent.concurrency, "status": status(agent, at),
            "jobs": list(agent.jobs), "started_at": agent.started_at, "last_seen": int(agent.last_seen)}


def listing(pool: str | None = None) -> list[dict]:
    at = now()
    rows = [to_dict(a, at) for a in AgentModel.scan() if not pool or a.pool == pool]
    return sorted(rows, key=lambda a: (a["pool"], a["status"] == "lost", a["id"]))


def waiting_reason(pool: str, target_type: str, agents: list[dict]) -> str:
    """Why a queued job has not started, in the words a user acts on ('' when an agent should take it)."""
    mine = [a for a in agents if a["pool"] == pool]
    live = [a for a in mine if a["status"] != "lost"]
    if not live:
        lost = f" ({len(mine)} lost)" if mine else ""
        return f'waiting: no agent of pool "{pool}" seen{lost}; start one with TAHOBUDDY_POOL={pool}'
    if not any(target_type in a["targets"] for a in live):
        return (f'waiting: no agent of pool "{pool}" runs {target_type} targets '
                f"(its agents run: {', '.join(sorted({t for a in live for t in a['targets']}))})")
    if all(a["status"] in ("busy", "stopping") for a in live):
        return f'waiting: every agent of pool "{pool}" is busy'
    return ""


def explainer():
    """A `waiting(pool, target_type)` for job listings: one agent scan, however many jobs."""
    snapshot: list[dict] | None = None

    def waiting(pool: str, target_type: str) -> str:
        nonlocal snapshot
        if snapshot is None:
            snapshot = listing()
        return waiting_reason(pool, target_type, snapshot)
    return waiting
