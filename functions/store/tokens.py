"""Bearer tokens for the management and agent APIs, stored only as SHA-256 digests.

A token is shown once. Afterwards it is named by its id (the first 12 hex
characters of its digest), which lists and revokes it without revealing it.
A token may expire; authentication refuses it from then on.
"""
from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timezone

from pynamodb.exceptions import DoesNotExist

from functions.store import audit
from functions.clock import now, now_iso
from functions.errors import Forbidden, InvalidInput, NotAuthorized, NotFound
from functions.store.models import TokenModel

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


def issue(role: str, name: str, token: str | None = None, expires_in=None) -> str:
    """Create a token (or register a given one) and return it; only its digest is stored."""
    if role not in ROLES:
        raise InvalidInput("role", f"must be one of {', '.join(ROLES)}")
    ttl = ttl_seconds(expires_in)
    token = token or f"tb_{role}_{secrets.token_urlsafe(32)}"
    TokenModel(digest(token), role=role, name=name or role, created_at=now_iso(),
               expires_at=int(now()) + ttl if ttl else None).save()
    return token


def create(role: str, name: str, expires_in=None) -> dict:
    """A new token through the API: issued, audited, and described (the secret only here, once)."""
    token = issue(role, name, expires_in=expires_in)
    row = TokenModel.get(digest(token))
    audit.record("created", f"token/{audit.token_id(row.digest)}", {"role": row.role, "name": row.name})
    return {"token": token, **to_dict(row), "note": "shown once; only its hash is kept"}


def _iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def to_dict(row: TokenModel) -> dict:
    return {"id": audit.token_id(row.digest), "name": row.name, "role": row.role, "created_at": row.created_at,
            "expires_at": _iso(row.expires_at), "expired": row.expires_at is not None and row.expires_at <= now()}


def listing() -> list[dict]:
    return sorted((to_dict(r) for r in TokenModel.scan()), key=lambda t: (t["created_at"], t["id"]))


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


def issue_session(agent_id: str) -> tuple[str, str]:
    """A session token bound to one agent id (made when the agent registers): (token, digest)."""
    token = f"tb_session_{secrets.token_urlsafe(32)}"
    TokenModel(digest(token), role=SESSION, name=agent_id, created_at=now_iso()).save()
    return token, digest(token)


def authenticate(header: str | None, *roles: str) -> TokenModel:
    """The token row for an `Authorization: Bearer` header whose role is one of `roles`."""
    if not header or not header.lower().startswith("bearer "):
        raise NotAuthorized("send 'Authorization: Bearer <token>' (see TAHOBUDDY_TOKEN in .tahobuddy/dev.env)")
    try:
        row = TokenModel.get(digest(header[7:].strip()))
    except DoesNotExist as exc:
        raise NotAuthorized("unknown token") from exc
    if row.expires_at is not None and row.expires_at <= now():
        raise NotAuthorized(f"token expired at {_iso(row.expires_at)}; ask an admin for a new one "
                            "(tahobuddy token --expires-in ...)")
    if row.role not in roles:
        raise Forbidden(f"a {row.role} token cannot do this (needs {' or '.join(roles)})")
    return row
