"""Small checks of request bodies that are about meaning, not transport."""
from __future__ import annotations

from functions.errors import InvalidInput


def cancel_reason(body) -> str:
    """The reason of a cancel request: an optional JSON object `{"reason": ...}`."""
    body = body or {}
    if not isinstance(body, dict):  # was a 500 on a JSON list (found by schemathesis)
        raise InvalidInput("body", "send a JSON object like {\"reason\": \"...\"}, or no body")
    return str(body.get("reason") or "canceled by user")


def reject_reason(body) -> str:
    """The reason of a rejection: a JSON object `{"reason": ...}`; it is required (the job's reason says it)."""
    reason = body.get("reason") if isinstance(body, dict) else None
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidInput("reason", 'is required: send {"reason": "why it must not deploy"}')
    return reason.strip()[:500]
