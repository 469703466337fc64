"""Sign-in sessions as signed cookies, and CSRF tokens bound to them.

The cookie holds `v2.<token digest>.<expiry>.<HMAC>`: nothing secret, only which API token signed
in (the SHA-256 digest the tokens table is keyed by, so a request reads one item, never a scan)
and until when. The signature uses a key of its own, TAHOBUDDY_SESSION_KEY, made by `make run`
(.tahobuddy/secrets.json) and by the AWS template (a Secrets Manager secret); without it nobody
signs in, since a key derived from another secret lets whoever holds that one forge sessions. A
cookie that claims to last longer than LIFETIME from now is refused, so a forged far-off date
cannot outlive a key rotation. Each request checks the token still exists with the admin role, so
revoking a token ends its sessions.
A form's CSRF token is an HMAC of the session cookie under a second label: a page of another
site can neither read the cookie (HttpOnly, SameSite=Strict) nor compute the token.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import time
from dataclasses import dataclass, field

from pynamodb.exceptions import DoesNotExist

from functions.store import audit
from functions.config import settings
from functions.errors import TahobuddyError
from functions.store.models import TokenModel

COOKIE = "tahobuddy_session"
LIFETIME = 12 * 3600
ROLE = "admin"   # who may sign in: agent and session tokens are for machines
MIN_KEY = 32     # characters: `make run` and the template make 64
SKEW = 300       # seconds of clock difference between the functions that sign and read a cookie
_DIGEST = re.compile(r"^[0-9a-f]{64}$")


class NoSessionKey(TahobuddyError):
    """The server has no key of its own to sign sessions with; the message says what to set."""


def _key(label: str) -> bytes:
    base = settings().session_key
    if len(base) < MIN_KEY:
        raise NoSessionKey(
            f"the dashboard signs sessions only with a key of its own: set TAHOBUDDY_SESSION_KEY on the API to "
            f"{MIN_KEY} or more random characters (`make run` keeps one in .tahobuddy/secrets.json; on AWS the "
            f"template's SessionKey secret provides it)" + (" (the one set is too short)" if base else ""))
    return hmac.new(base.encode(), f"tahobuddy-dashboard-{label}".encode(), hashlib.sha256).digest()


def can_sign() -> str:
    """"" when sessions can be signed; else why not, in words an operator acts on."""
    try:
        _key("session")
    except NoSessionKey as exc:
        return str(exc)
    return ""


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


def _row_for(digest: str) -> TokenModel | None:
    """The admin token a cookie names, read by its key (one GetItem)."""
    try:
        row = TokenModel.get(digest)
    except DoesNotExist:
        return None
    return row if row.role == ROLE else None


def sign_in(row: TokenModel, at: float | None = None) -> str:
    """The cookie value for an authenticated admin token row; NoSessionKey when the server has no key."""
    expires = int(at if at is not None else time.time()) + LIFETIME
    body = f"v2.{row.digest}.{expires}"
    return f"{body}.{_mac('session', body)}"


def read(cookie: str | None, at: float | None = None) -> Session | None:
    """The session a cookie proves, or None (unsigned, tampered, expired, dated beyond the lifetime, its
    token revoked, or no key on the server to check it with)."""
    parts = (cookie or "").split(".")
    if len(parts) != 4 or parts[0] != "v2" or not _DIGEST.match(parts[1]) or not parts[2].isdigit():
        return None
    body = ".".join(parts[:3])
    try:
        if not hmac.compare_digest(_mac("session", body), parts[3]):
            return None
    except NoSessionKey:
        return None
    expires, at = int(parts[2]), (at if at is not None else time.time())
    if not at < expires <= at + LIFETIME + SKEW:  # expired, or claims more than a sign-in ever gives
        return None
    row = _row_for(parts[1])
    if row is None or (row.expires_at is not None and row.expires_at <= at):
        return None
    return Session(audit.token_id(row.digest), row.name, row.role, expires, cookie, row)


def cookie_header(value: str, secure: bool, max_age: int = LIFETIME) -> str:
    flags = "; Secure" if secure else ""
    return f"{COOKIE}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict{flags}"


def from_header(header: str | None) -> str | None:
    for part in (header or "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == COOKIE:
            return value
    return None
