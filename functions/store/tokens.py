"""Bearer tokens for the management and agent APIs, stored only as SHA-256 digests.

A token is shown once. Afterwards it is named by its id (the first 12 hex
characters of its digest), which lists and revokes it without revealing it.
A token may expire; authentication refuses it from then on. An agent token is for one pool
(none named: the default pool); the sessions its agents register are in store/sessions.py.
"""
from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timezone

from pynamodb.exceptions import DoesNotExist

from contract.queues import DEFAULT_POOL

from functions.store import audit, sessions
from functions.clock import now, now_iso
from functions.config import settings
from functions.errors import Forbidden, InvalidInput, NotAuthorized, NotFound
from functions.store.models import SessionModel, TokenModel

ROLES = ("admin", "agent")   # what a user may issue
SESSION = "session"          # made by registering an agent; its name is the agent id
_DURATION = re.compile(r"^(\d+)\s*([smhdw]?)$")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
MAX_TTL = 10 * 365 * 86400


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def ttl_seconds(value) -> int | None:
    """'30d', '12h', '45m', '90s' or a number of seconds -> seconds; None or '' -> never expires."""
    if value is None or value == "":
        return None
    m = _DURATION.match(str(value).strip().lower()) if not isinstance(value, bool) else None
    seconds = int(m.group(1)) * _UNIT[m.group(2)] if m else 0
    if not 0 < seconds <= MAX_TTL:
        raise InvalidInput("expires_in", "a duration like 30d, 12h, 45m, 90s or a number of seconds "
                                         "(at most ten years)")
    return seconds


def checked_pool(role: str, pool) -> str | None:
    """An agent token's pool (default: the default pool); other roles name none."""
    if role != "agent":
        if pool:
            raise InvalidInput("pool", f"only agent tokens are for a pool; a {role} token is not")
        return None
    pool = pool or DEFAULT_POOL
    if not isinstance(pool, str) or pool not in settings().pools:
        raise InvalidInput("pool", f"unknown pool {pool!r} (known: {', '.join(settings().pools)}); declare it with "
                                   "TAHOBUDDY_POOLS on the API")
    return pool


def issue(role: str, name: str, token: str | None = None, expires_in=None, pool: str | None = None) -> str:
    """Create a token (or register a given one) and return it; only its digest is stored."""
    if role not in ROLES:
        raise InvalidInput("role", f"must be one of {', '.join(ROLES)}")
    ttl, pool = ttl_seconds(expires_in), checked_pool(role, pool)
    token = token or f"tb_{role}_{secrets.token_urlsafe(32)}"
    TokenModel(digest(token), role=role, name=name or role, created_at=now_iso(),
               expires_at=int(now()) + ttl if ttl else None, pool=pool).save()
    return token


def create(role: str, name: str, expires_in=None, pool: str | None = None) -> dict:
    """A new token through the API: issued, audited, and described (the secret only here, once)."""
    token = issue(role, name, expires_in=expires_in, pool=pool)
    row = TokenModel.get(digest(token))
    changes = {"role": row.role, "name": row.name, **({"pool": row.pool} if row.pool else {})}
    audit.record("created", f"token/{audit.token_id(row.digest)}", changes)
    return {"token": token, **to_dict(row), "note": "shown once; only its hash is kept"}


def pool_of(row: TokenModel) -> str:
    """The one pool an agent token registers agents in (a token made before pools were bound: the default)."""
    return row.pool or DEFAULT_POOL


def _iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def to_dict(row: TokenModel) -> dict:
    return {"id": audit.token_id(row.digest), "name": row.name, "role": row.role, "created_at": row.created_at,
            "expires_at": _iso(row.expires_at), "expired": row.expires_at is not None and row.expires_at <= now(),
            "pool": pool_of(row) if row.role == "agent" else None}


def listing() -> list[dict]:
    """Admin and agent tokens; a session row an older version kept in this table is not a token to list."""
    return sorted((to_dict(r) for r in TokenModel.scan() if r.role != SESSION), key=lambda t: (t["created_at"], t["id"]))


def revoke(token_id: str) -> dict:
    if not re.fullmatch(r"[0-9a-f]{%d}" % audit.ID_LENGTH, token_id or ""):
        raise InvalidInput("id", f"a token id is {audit.ID_LENGTH} hex characters; see `tahobuddy token list`")
    rows = [r for r in TokenModel.scan() if audit.token_id(r.digest) == token_id]
    if not rows:
        raise NotFound(f"no token with id {token_id}; see `tahobuddy token list`")
    for row in rows:
        row.delete()
    audit.record("revoked", f"token/{token_id}", {"role": rows[0].role, "name": rows[0].name})
    return {"revoked": token_id, "name": rows[0].name, "role": rows[0].role}


def issue_session(agent_id: str, pool: str, parent: TokenModel) -> tuple[str, str]:
    """A session token of the agent token `parent`, bound to one agent id and pool: (token, digest)."""
    token = f"tb_session_{secrets.token_urlsafe(32)}"
    sessions.save(digest(token), agent_id, pool, parent)
    return token, digest(token)


def _row(token_digest: str, roles: tuple[str, ...]) -> TokenModel | SessionModel | None:
    """The token or session with this digest; the table the route expects is read first."""
    def token_row():
        try:
            return TokenModel.get(token_digest)
        except DoesNotExist:
            return None
    order = (lambda: sessions.find(token_digest), token_row)
    for read in (order if SESSION in roles else order[::-1]):
        row = read()
        if row is not None:
            return row
    return None


def authenticate(header: str | None, *roles: str) -> TokenModel | SessionModel:
    """The token row (or agent session) for an `Authorization: Bearer` header whose role is one of `roles`."""
    if not header or not header.lower().startswith("bearer "):
        raise NotAuthorized("send 'Authorization: Bearer <token>' (see TAHOBUDDY_TOKEN in .tahobuddy/dev.env)")
    row = _row(digest(header[7:].strip()), roles)
    if row is None:
        raise NotAuthorized("unknown token")
    if row.role == SESSION and isinstance(row, TokenModel):  # kept in the tokens table before sessions had theirs
        raise NotAuthorized("this session was made before sessions were bound to their agent token; restart the "
                            "agent so it registers again")
    if row.role == SESSION:  # it ends with its agent token, and on its own
        sessions.check(row)
    elif row.expires_at is not None and row.expires_at <= now():
        raise NotAuthorized(f"token expired at {_iso(row.expires_at)}; ask an admin for a new one "
                            "(tahobuddy token --expires-in ...)")
    if row.role not in roles:
        raise Forbidden(f"a {row.role} token cannot do this (needs {' or '.join(roles)})")
    return row
