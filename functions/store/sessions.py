"""Agent sessions: what registering with an agent token gives, and what every later call proves.

A session is bound to one agent id, one pool and its parent (the agent token that registered it).
Every call checks the parent again: revoking the agent token, or its expiry, ends its sessions at
once. A session also ends on its own when unused for TAHOBUDDY_AGENT_SESSION_SECONDS (a day by
default); an agent's beats (every 10 s) renew it, so only a stopped or cut-off agent's session ends.
Its `expires_at` is the DynamoDB TTL attribute (store/retention.py): the table deletes a dead row.
Only the SHA-256 digest of a session token is stored, as for every token.
"""
from __future__ import annotations

from datetime import datetime, timezone

from pynamodb.exceptions import DoesNotExist

from functions.clock import now, now_iso
from functions.config import settings
from functions.errors import NotAuthorized
from functions.store.models import SessionModel, TokenModel

def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def save(session_digest: str, agent_id: str, pool: str, parent: TokenModel) -> SessionModel:
    """A new session of `parent` for `agent_id` in `pool` (the token itself is made by store/tokens.py)."""
    row = SessionModel(session_digest, name=agent_id, pool=pool, parent=parent.digest, created_at=now_iso(),
                       expires_at=int(now()) + settings().agent_session_seconds)
    row.save()
    return row


def find(session_digest: str) -> SessionModel | None:
    try:
        return SessionModel.get(session_digest)
    except DoesNotExist:
        return None


def parent_problem(row: SessionModel, at: float | None = None) -> str:
    """Why the session's agent token no longer stands behind it ("" while it does)."""
    at = now() if at is None else at
    try:
        parent = TokenModel.get(row.parent)
    except DoesNotExist:
        return "its agent token was revoked"
    if parent.expires_at is not None and parent.expires_at <= at:
        return f"its agent token expired at {_iso(parent.expires_at)}"
    return ""


def check(row: SessionModel) -> SessionModel:
    """The session, if it still counts; else NotAuthorized saying why and what to do."""
    if row.expires_at <= now():
        raise NotAuthorized(f"session expired at {_iso(row.expires_at)}: agent {row.name} sent no heartbeat for "
                            f"{settings().agent_session_seconds} s; restart the agent to register again")
    problem = parent_problem(row)
    if problem:
        raise NotAuthorized(f"session of agent {row.name} ended: {problem}; give the agent a new agent token "
                            "(tahobuddy token --role agent --pool POOL) and restart it")
    return row


def live(row: SessionModel | None) -> bool:
    """Whether a session still counts (not expired, its agent token still valid)."""
    return row is not None and row.expires_at > now() and not parent_problem(row)


def renew(row: SessionModel) -> None:
    """Push the end of an agent's session on, once half its lifetime has gone (one write per half-life)."""
    lifetime = settings().agent_session_seconds
    if row.expires_at - now() < lifetime / 2:
        row.update(actions=[SessionModel.expires_at.set(int(now()) + lifetime)])
