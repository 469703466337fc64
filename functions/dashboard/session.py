"""Sign-in sessions as signed cookies, and CSRF tokens bound to them.

The cookie holds `v1.<token id>.<expiry>.<HMAC>`: nothing secret, only which API token signed in
and until when. The signature uses a server key from TAHOBUDDY_SESSION_KEY, or, when unset, one
derived from the webhook secret with a fixed label (so `make run` needs no new setting). Each
request checks the token still exists with the admin role, so revoking a token ends its sessions.
A form's CSRF token is an HMAC of the session cookie under a second label: a page of another
site can neither read the cookie (HttpOnly, SameSite=Strict) nor compute the token.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import time
from dataclasses import dataclass, field

from functions.store import audit
from functions.config import settings
from functions.errors import NotAuthorized
from functions.store.models import TokenModel

COOKIE = "tahobuddy_session"
LIFETIME = 12 * 3600
ROLE = "admin"   # who may sign in: agent and session tokens are for machines


def _key(label: str) -> bytes:
    base = os.environ.get("TAHOBUDDY_SESSION_KEY") or f"webhook:{settings().webhook_secret}"
    if base == "webhook:":
        raise NotAuthorized("the dashboard needs TAHOBUDDY_SESSION_KEY (or TAHOBUDDY_WEBHOOK_SECRET) to sign sessions")
    return hmac.new(base.encode(), f"tahobuddy-dashboard-{label}".encode(), hashlib.sha256).digest()


def _mac(label: str, text: str) -> str:
    return hmac.new(_key(label), text.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Session:
    token_id: str
    name: str
    role: str
    expires: int
    cookie: str
    row: TokenModel = field(compare=False, repr=False)

    @property
    def csrf(self) -> str:
        return _mac("csrf", self.cookie)

    def csrf_ok(self, sent: str | None) -> bool:
        return bool(sent) and hmac.compare_digest(self.csrf, sent)


def _row_for(token_id: str) -> TokenModel | None:
    for row in TokenModel.scan(TokenModel.role == ROLE):
        if audit.token_id(row.digest) == token_id:
            return row
    return None


def sign_in(row: TokenModel, at: float | None = None) -> str:
    """The cookie value for an authenticated admin token row."""
    expires = int(at if at is not None else time.time()) + LIFETIME
    body = f"v1.{audit.token_id(row.digest)}.{expires}"
    return f"{body}.{_mac('session', body)}"


def read(cookie: str | None, at: float | None = None) -> Session | None:
    """The session a cookie proves, or None (unsigned, tampered, expired, or its token revoked)."""
    parts = (cookie or "").split(".")
    if len(parts) != 4 or parts[0] != "v1" or not parts[2].isdigit():
        return None
    body = ".".join(parts[:3])
    if not hmac.compare_digest(_mac("session", body), parts[3]):
        return None
    expires = int(parts[2])
    if expires <= (at if at is not None else time.time()):
        return None
    row = _row_for(parts[1])
    if row is None or (row.expires_at is not None and row.expires_at <= time.time()):
        return None
    return Session(parts[1], row.name, row.role, expires, cookie, row)


def cookie_header(value: str, secure: bool, max_age: int = LIFETIME) -> str:
    flags = "; Secure" if secure else ""
    return f"{COOKIE}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict{flags}"


def from_header(header: str | None) -> str | None:
    for part in (header or "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == COOKIE:
            return value
    return None
