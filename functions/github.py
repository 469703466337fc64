"""Kept so `functions.github.WebhookEvent` and friends still import: GitHub now lives in
`providers/github.py`, and the shared event shape in `providers/base.py`."""
from .providers.base import CONTENT_TYPES, ZERO_SHA, Action, WebhookEvent, decode_body
from .providers.github import normalise

__all__ = ["CONTENT_TYPES", "ZERO_SHA", "Action", "WebhookEvent", "decode_body", "normalise"]
