"""The audit log: which token changed which app or token, when, and what changed.

The route wrapper in `app.py` runs each request `acting_as` the token that
authenticated it, so the domain modules that make a change can say who made
it without every view passing the caller along.
"""
from __future__ import annotations

import contextlib
import contextvars

from functions.clock import now, now_iso, sortable_id
from functions.config import settings
from functions.store.models import AuditModel, TokenModel

_CALLER: contextvars.ContextVar[TokenModel | None] = contextvars.ContextVar("tahobuddy_caller", default=None)
ID_LENGTH = 12


def token_id(digest: str) -> str:
    """A token's public id: the start of its SHA-256 digest (the secret cannot be derived from it)."""
    return digest[:ID_LENGTH]


@contextlib.contextmanager
def acting_as(row: TokenModel | None):
    reset = _CALLER.set(row)
    try:
        yield
    finally:
        _CALLER.reset(reset)


def caller() -> TokenModel | None:
    """The token row the current request authenticated with (None on public routes)."""
    return _CALLER.get()


def record(action: str, subject: str, changes: dict) -> None:
    caller = _CALLER.get()
    AuditModel(sortable_id(), at=now_iso(), action=action, subject=subject, changes=changes,
               expires_at=settings().retention.audit(now()),  # none by default: kept (functions/retention.py)
               token_id=token_id(caller.digest) if caller else "",
               token_name=caller.name if caller else "").save()


def app_diff(before: dict, after: dict) -> dict:
    """What a replace changed: top-level fields by name, rules by name (added, removed, changed)."""
    fields = sorted(k for k in set(before) | set(after) if k != "rules" and before.get(k) != after.get(k))
    old = {r["name"]: r for r in before.get("rules", [])}
    new = {r["name"]: r for r in after.get("rules", [])}
    rules = {"added": sorted(set(new) - set(old)), "removed": sorted(set(old) - set(new)),
             "changed": sorted(n for n in set(old) & set(new) if old[n] != new[n])}
    out = {"fields": fields} if fields else {}
    if any(rules.values()):
        out["rules"] = {k: v for k, v in rules.items() if v}
    return out


def summary(changes: dict) -> str:
    parts = [f"{', '.join(changes['fields'])} changed"] if changes.get("fields") else []
    for what, names in (changes.get("rules") or {}).items():
        parts.append(f"rule {', '.join(names)} {what}")
    parts += [f"{k}={v}" for k, v in changes.items() if k not in ("fields", "rules")]
    return "; ".join(parts)


def to_dict(row: AuditModel) -> dict:
    return {"id": row.id, "at": row.at, "action": row.action, "subject": row.subject,
            "token": {"id": row.token_id, "name": row.token_name}, "changes": row.changes,
            "summary": summary(row.changes)}


def listing(limit: int = 50) -> list[dict]:
    return [to_dict(r) for r in AuditModel.by_time.query("audit", scan_index_forward=False, limit=limit)]
