"""The one state table (STYLE §20): what commit status a job's state becomes on each forge, and the
words it shows. Pure; every forge's status goes out through one outbox and one sender
(functions/notify/sender.py), and each provider only shapes its own request (functions/providers).

A failed job that never ran (refused, its setup failed, never picked up) is told apart from one that
ran and failed: GitHub, Gitea and Forgejo say `error` for the first and `failure` for the second.
"""
from __future__ import annotations

from contract.states import AWAITING_STATUS, SKIPPED_STATUS, JobState, Reason

DESCRIPTION_LIMIT = 140          # GitHub refuses longer status descriptions; the others show them cut
NEVER_RAN = "never_ran"          # the row of a failed job that never ran

# job state             GitHub     GitLab      Gitea, Forgejo   what the status says
TABLE: dict[str, tuple[str, str, str, str]] = {
    JobState.AWAITING_APPROVAL.value: ("pending", "pending", "pending", AWAITING_STATUS),
    JobState.FROZEN.value:     ("pending", "pending",  "pending", ""),     # "" : "frozen until ..." from the reason
    JobState.QUEUED.value:     ("pending", "pending",  "pending", "queued"),
    JobState.RUNNING.value:    ("pending", "running",  "pending", "deploying"),
    JobState.SUCCEEDED.value:  ("success", "success",  "success", "deployed"),
    JobState.SKIPPED.value:    ("success", "success",  "success", SKIPPED_STATUS),  # never a failure: what it serves is current
    JobState.FAILED.value:     ("failure", "failed",   "failure", ""),     # "" : the reason says it
    NEVER_RAN:                 ("error",   "failed",   "error",   ""),
    JobState.CANCELED.value:   ("error",   "canceled", "warning", ""),
    JobState.SUPERSEDED.value: ("error",   "canceled", "warning", ""),
}
COLUMN = {"github": 0, "gitlab": 1, "gitea": 2, "forgejo": 2}


def row(state: str, reason_code: str = "") -> str:
    """The table's row for a job state: a failed job whose reason says it never ran has its own."""
    if state != JobState.FAILED.value:
        return state
    try:
        never_ran = Reason.parse(reason_code).never_ran
    except ValueError:
        never_ran = False
    return NEVER_RAN if never_ran else state


def word(forge: str, state: str, reason_code: str = "") -> str:
    """The forge's status word for a job state: `word('gitlab', 'running') == 'running'`."""
    return TABLE[row(state, reason_code)][COLUMN[forge]]


def short(text: str, limit: int = DESCRIPTION_LIMIT) -> str:
    """Cut visibly at the limit (whitespace kept as written)."""
    return text if len(text) <= limit else text[:limit - 3] + "..."


def description(state: str, reason: str = "", reason_code: str = "", promoted_from: str = "") -> str:
    """What the status says: the table's words (followed by a promotion's origin: 'deployed: promoted from
    staging (job ..., sha256:...)'), else the reason led by the state unless it already says it
    ('canceled: ...', 'superseded by ...')."""
    key = row(state, reason_code)
    said = TABLE[key][3]
    if said:
        return short(f"{said}: {promoted_from}") if promoted_from else said
    if key == NEVER_RAN:
        return short(f"never ran: {reason}")
    if key == JobState.FROZEN.value:
        return short(next((part for part in reason.split("; ") if part.startswith("frozen until")), "frozen"))
    return short(reason if reason.startswith(state) else f"{state}: {reason}" if reason else state)
