"""A rule's `approval`: its jobs wait for a person before any agent sees them. Pure: who may decide,
when a waiting job has waited too long, and what its listing says. The decisions themselves are in
functions/dispatch/approvals.py; the sweeper passes the time it runs at, so tests inject the clock.
"""
from __future__ import annotations

import re

from functions.domain.fields import Field, check
from functions.errors import InvalidInput

DURATION = re.compile(r"^([1-9][0-9]{0,4})([mhd])$")
UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400}
MAX_TIMEOUT = 30 * 86400
FIELDS = (
    Field("required", "bool", required=True, doc="true: every job of the rule waits, in state awaiting_approval, "
                                                 "until an admin approves it (`tahobuddy approve JOB`)"),
    Field("approvers", "list", examples=(["alice-laptop", "release-bot"],),
          doc="token names that may approve or reject (any admin token when left out)"),
    Field("timeout", "str", default="7d", pattern=DURATION.pattern, examples=("7d", "12h", "30m"),
          hint="a duration like 30m, 12h or 7d (at most 30d)",
          doc="a job nobody approved or rejected by then ends canceled, saying so"),
)
# never held for approval or by a freeze: removals that follow an app's deletion or a pull request's closing,
# and a database's backups (a restore, which replaces the data, is held like a deploy)
UNGATED = frozenset({"purge", "teardown", "backup"})


def validate(path: str, doc) -> dict:
    out = check(path, doc, FIELDS)
    if timeout_seconds(out) > MAX_TIMEOUT:
        raise InvalidInput(f"{path}.timeout", "must be at most 30d")
    if out.get("approvers") is not None and (not out["approvers"] or not all(out["approvers"])):
        raise InvalidInput(f"{path}.approvers", "must list at least one token name (leave it out for any admin)")
    return out


def timeout_seconds(approval: dict) -> int:
    m = DURATION.match(approval.get("timeout") or "7d")
    return int(m.group(1)) * UNIT_SECONDS[m.group(2)] if m else 7 * 86400


def gates(rule: dict, trigger: str) -> dict | None:
    """The approval a job of `rule` made by `trigger` waits for, or None when it is queued at once."""
    approval = rule.get("approval") or {}
    return approval if approval.get("required") and trigger not in UNGATED else None


def may_decide(approval: dict, token_name: str) -> bool:
    """With `approvers`, only a token of a listed name approves or rejects; else any admin token does."""
    listed = approval.get("approvers")
    return not listed or token_name in listed


def timed_out(approval: dict, since: float, at: float) -> bool:
    return at - since >= timeout_seconds(approval)


def waiting(job_id: str, since_iso: str) -> str:
    return f"awaiting approval since {since_iso}, approve with tahobuddy approve {job_id}"


def timeout_reason(approval: dict) -> str:
    return (f"canceled: nobody approved or rejected it within {approval.get('timeout') or '7d'} (its rule's "
            "approval timeout); deploy again to ask anew")
