"""How long the tables keep what they record: when an item's DynamoDB TTL attribute is set, and to what.

A home installation receives every push for years; without an end, the events, jobs, their logs,
the dedup keys and the sent outbox items grow forever. DynamoDB deletes an item once the epoch
seconds in its `expires_at` have passed (TTL, typically within two days; infra/template.py and
local/provision.py turn it on). What is kept, and why:

- events, finished jobs: `days` after they were received / ended (GitHub Actions keeps logs 90 days);
- log lines: `days` + LOG_MARGIN_DAYS after they were written, and a job's own expiry is capped at
  its first line's, so a job's log never disappears before the job does;
- a queued or running job: never (it gets `expires_at` only when it ends, and loses it if requeued);
- dedup keys: `dedup_days`. They stop a redelivered webhook from queueing a second job, so they
  must outlive the forge's redelivery window: 3 days on github.com, 7 on GitHub Enterprise Server;
- sent or given-up outbox items: `outbox_days`; pending ones never expire. A preview's lane keeps
  its items `days`: later pushes to the pull request find its comment and deployments there;
- agent sessions: once unused for TAHOBUDDY_AGENT_SESSION_SECONDS (a day; an agent's beats renew
  it), as their own `expires_at` says (store/sessions.py); a dead session's row serves nothing;
- an app's output (what its serving container prints, functions/store/output.py): `output_days` (7)
  after it was written, and at most TAHOBUDDY_OUTPUT_MAX_LINES lines per app or preview;
- the audit log: kept unless `audit_days` is set: it is the one record of who changed an app or a
  token, one small item per change, and an operator may need it long after an incident;
- apps, rules, tokens (their own expiry), releases (rollback history), previews: never.

Pure: the settings (functions/config.py) hold a `Retention`, the stores ask it for the epoch.
"""
from __future__ import annotations

from dataclasses import dataclass

ATTRIBUTE = "expires_at"
DAY = 24 * 3600
LOG_MARGIN_DAYS = 7          # longer than a job runs: attempts x timeout, plus requeues (max_queued is 3 days)
GITHUB_REDELIVERY_DAYS = 3   # github.com lets an admin redeliver deliveries of the past 3 days
DEFAULTS = {"days": 90, "dedup_days": 7, "outbox_days": 14, "audit_days": 0, "output_days": 7}
ENV = {"days": "TAHOBUDDY_RETENTION_DAYS", "dedup_days": "TAHOBUDDY_DEDUP_RETENTION_DAYS",
       "outbox_days": "TAHOBUDDY_OUTBOX_RETENTION_DAYS", "audit_days": "TAHOBUDDY_AUDIT_RETENTION_DAYS",
       "output_days": "TAHOBUDDY_OUTPUT_RETENTION_DAYS"}


class RetentionError(ValueError):
    """A retention setting that cannot work; the message names the variable and what to set."""


@dataclass(frozen=True)
class Retention:
    days: int = DEFAULTS["days"]
    dedup_days: int = DEFAULTS["dedup_days"]
    outbox_days: int = DEFAULTS["outbox_days"]
    audit_days: int = DEFAULTS["audit_days"]       # 0: keep forever
    output_days: int = DEFAULTS["output_days"]     # an app's output lines

    def event(self, received: float) -> int:
        return _at(received, self.days)

    def log_line(self, written: float) -> int:
        return _at(written, self.days + LOG_MARGIN_DAYS)

    def output_line(self, written: float) -> int:
        return _at(written, self.output_days)

    def finished_job(self, ended: float, first_log_line: int | None = None) -> int:
        """`days` after it ended, but never after its first log line goes (a run longer than the margin)."""
        own = _at(ended, self.days)
        return min(own, int(first_log_line)) if first_log_line else own

    def dedup(self, created: float) -> int:
        return _at(created, self.dedup_days)

    def outbox_done(self, done: float, lane: str) -> int:
        return _at(done, self.days if is_preview_lane(lane) else self.outbox_days)

    def audit(self, at: float) -> int | None:
        return _at(at, self.audit_days) if self.audit_days else None

    def as_dict(self) -> dict:
        return {"days": self.days, "dedup_days": self.dedup_days, "outbox_days": self.outbox_days,
                "audit_days": self.audit_days, "output_days": self.output_days, "log_margin_days": LOG_MARGIN_DAYS}


def _at(start: float, days: int) -> int:
    return int(start) + int(days) * DAY


def is_preview_lane(lane: str) -> bool:
    """functions/store/outbox.lane_of: owner/name#pr-N/app is a preview's lane, owner/name@sha a commit's."""
    return "#pr-" in lane


def expired(expires_at, at: float) -> bool:
    """Past its expiry (DynamoDB's own rule: the epoch is at or before now); no attribute: never."""
    return expires_at is not None and int(expires_at) <= int(at)


def parse(env) -> Retention:
    """The retention from TAHOBUDDY_*_RETENTION_DAYS; a clear error for what cannot work."""
    values = {}
    for key, name in ENV.items():
        raw = str(env.get(name, "") or DEFAULTS[key]).strip()
        try:
            values[key] = int(raw)
        except ValueError:
            raise RetentionError(f"{name}={raw!r}: set a whole number of days, e.g. {DEFAULTS[key]}") from None
    if values["days"] < 1:
        raise RetentionError(f"{ENV['days']}={values['days']}: events, jobs and logs must be kept at least 1 day")
    if values["dedup_days"] < GITHUB_REDELIVERY_DAYS:
        raise RetentionError(
            f"{ENV['dedup_days']}={values['dedup_days']}: keep dedup keys at least {GITHUB_REDELIVERY_DAYS} days "
            "(GitHub lets deliveries of the past 3 days be redelivered; 7 on GitHub Enterprise Server), or a "
            "redelivered push queues a second job")
    if values["outbox_days"] < 1:
        raise RetentionError(f"{ENV['outbox_days']}={values['outbox_days']}: keep sent reports at least 1 day")
    if values["output_days"] < 1:
        raise RetentionError(f"{ENV['output_days']}={values['output_days']}: keep an app's output at least 1 day")
    if values["audit_days"] < 0:
        raise RetentionError(f"{ENV['audit_days']}={values['audit_days']}: 0 keeps the audit log forever, "
                             "else a number of days")
    return Retention(**values)
