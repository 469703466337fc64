"""Kept so `functions.signature.sign/verify` still import: GitHub's signature check now lives
in `providers/github.py` (HMAC-SHA256 over the raw body, compared in constant time)."""
from .providers.github import PREFIX, sign
from .providers.github import verify_signature as verify

__all__ = ["PREFIX", "sign", "verify"]
