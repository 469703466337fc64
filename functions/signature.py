"""GitHub webhook signatures: HMAC-SHA256 over the raw body, compared in constant time.

Error messages never contain the expected digest or the secret.
"""
from __future__ import annotations

import hashlib
import hmac

from .errors import BadSignature

PREFIX = "sha256="


def sign(secret: str, body: bytes) -> str:
    """The `X-Hub-Signature-256` value GitHub would send for `body`."""
    return PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str | None) -> None:
    """Raise BadSignature unless `header` is GitHub's signature of `body` under `secret`."""
    if not secret:
        raise BadSignature("the server has no webhook secret configured (set TAHOBUDDY_WEBHOOK_SECRET)")
    if not header:
        raise BadSignature("missing X-Hub-Signature-256 header: set a secret on the GitHub webhook")
    if not header.startswith(PREFIX):
        raise BadSignature("X-Hub-Signature-256 must start with 'sha256='")
    if not hmac.compare_digest(sign(secret, body).encode(), header.strip().encode()):
        raise BadSignature("X-Hub-Signature-256 does not match the body: check the webhook secret")
