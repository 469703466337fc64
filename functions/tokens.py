"""Bearer tokens for the management and agent APIs, stored only as SHA-256 digests."""
from __future__ import annotations

import hashlib
import secrets

from pynamodb.exceptions import DoesNotExist

from .clock import now_iso
from .errors import Forbidden, InvalidInput, NotAuthorized
from .models import TokenModel

ROLES = ("admin", "agent")


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue(role: str, name: str, token: str | None = None) -> str:
    """Create a token (or register a given one) and return it; only its digest is stored."""
    if role not in ROLES:
        raise InvalidInput("role", f"must be one of {', '.join(ROLES)}")
    token = token or f"tb_{role}_{secrets.token_urlsafe(32)}"
    TokenModel(digest(token), role=role, name=name or role, created_at=now_iso()).save()
    return token


def authenticate(header: str | None, *roles: str) -> TokenModel:
    """The token row for an `Authorization: Bearer` header whose role is one of `roles`."""
    if not header or not header.lower().startswith("bearer "):
        raise NotAuthorized("send 'Authorization: Bearer <token>' (see TAHOBUDDY_TOKEN in .tahobuddy/dev.env)")
    try:
        row = TokenModel.get(digest(header[7:].strip()))
    except DoesNotExist as exc:
        raise NotAuthorized("unknown token") from exc
    if row.role not in roles:
        raise Forbidden(f"a {row.role} token cannot do this (needs {' or '.join(roles)})")
    return row
