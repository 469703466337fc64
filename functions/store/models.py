"""DynamoDB tables as PynamoDB models. Table names come from TAHOBUDDY_PREFIX.

The tables in EXPIRING have DynamoDB TTL on `expires_at` (functions/retention.py).

infra/resources.json declares the same tables for CloudFormation; a test keeps
the two in step.
"""
from __future__ import annotations

import functools

from pynamodb.connection import Connection
from pynamodb.transactions import TransactWrite
from pynamodb.attributes import (BinaryAttribute, BooleanAttribute, JSONAttribute, NumberAttribute,
                                 NumberSetAttribute, UnicodeAttribute, VersionAttribute)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from functions.config import settings

_S = settings()


class _Meta:
    region = _S.region
    host = _S.endpoint
    billing_mode = "PAY_PER_REQUEST"


def _meta(name: str):
    return type("Meta", (_Meta,), {"table_name": _S.table(name)})


SHARD_STORED_AS = "kind"   # the shard key's attribute name in the tables (kept: existing items and indexes use it)


def _index(index_name: str, hash_attr: str, range_attr: str | None):
    """A GSI class over (hash, range) with every attribute projected."""
    stored = SHARD_STORED_AS if hash_attr == "shard" else None
    attrs = {
        "Meta": type("Meta", (), {"index_name": index_name, "projection": AllProjection(),
                                  "billing_mode": "PAY_PER_REQUEST"}),
        hash_attr: UnicodeAttribute(hash_key=True, attr_name=stored),
    }
    if range_attr:
        attrs[range_attr] = UnicodeAttribute(range_key=True)
    return type(index_name, (GlobalSecondaryIndex,), attrs)()


class AppModel(Model):
    Meta = _meta("apps")
    name = UnicodeAttribute(hash_key=True)
    repo_key = UnicodeAttribute()
    app = JSONAttribute(attr_name="spec")                    # the app as validated (stored as `spec`, as before)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    version = VersionAttribute()
    by_repo = _index("by_repo", "repo_key", "name")


class EventModel(Model):
    """One webhook delivery; id = hook id + delivery id (GitHub's redelivery key)."""

    Meta = _meta("events")
    id = UnicodeAttribute(hash_key=True)
    shard = UnicodeAttribute(default="event", attr_name=SHARD_STORED_AS)  # by_time shard: event#00..15 (functions/store/shards.py)
    received_at = UnicodeAttribute()
    event_type = UnicodeAttribute()
    status = UnicodeAttribute(default="received")          # received -> processed
    summary = JSONAttribute(default=dict)                    # normalised event
    decision = JSONAttribute(default=list)                   # per app/rule outcome
    reason = UnicodeAttribute(default="")
    payload_size = NumberAttribute(default=0)
    payload_gz = BinaryAttribute(null=True, legacy_encoding=False)
    payload_s3_key = UnicodeAttribute(null=True)
    expires_at = NumberAttribute(null=True)                  # DynamoDB TTL, epoch seconds (functions/retention.py)
    by_time = _index("by_time", "shard", "received_at")


class JobModel(Model):
    Meta = _meta("jobs")
    id = UnicodeAttribute(hash_key=True)                    # time-sortable
    shard = UnicodeAttribute(default="job", attr_name=SHARD_STORED_AS)    # by_time shard: job#00..15 (functions/store/shards.py)
    app = UnicodeAttribute()
    rule = UnicodeAttribute()
    group = UnicodeAttribute()                               # app.target: one deploy at a time
    pool = UnicodeAttribute(default="default")               # whose queue carries it
    queued_in = UnicodeAttribute(null=True)                  # its pool while queued or awaiting approval, else
                                                             # absent: a sparse index
    target = JSONAttribute()
    repository = UnicodeAttribute()
    ref = UnicodeAttribute()
    sha = UnicodeAttribute(default="")
    state = UnicodeAttribute(default="queued")
    reason = UnicodeAttribute(default="")
    reason_code = UnicodeAttribute(default="")               # contract.states.Reason, kept as a code
    detail = UnicodeAttribute(default="")
    exit_code = NumberAttribute(null=True)
    resent = NumberAttribute(default=0)                      # messages the sweeper sent again
    not_before = NumberAttribute(default=0)                  # epoch seconds: the end of its quiet period
    attempts = NumberAttribute(default=0)
    agent_id = UnicodeAttribute(default="")
    lease_until = NumberAttribute(default=0)
    cancel_requested = UnicodeAttribute(default="")          # the reason, when asked
    event_id = UnicodeAttribute(default="")
    trigger = UnicodeAttribute(default="webhook")            # webhook | manual | rollback | teardown | purge | run
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    started_at = UnicodeAttribute(null=True)
    finished_at = UnicodeAttribute(null=True)
    log_lines = NumberAttribute(default=0)
    phases = JSONAttribute(default=dict)                     # step -> epoch seconds, as the agent saw them
    preview = NumberAttribute(default=0)                     # the pull request a preview/teardown job is for
    reporting = JSONAttribute(default=dict)                  # what it reports, copied when made (store/outbox.policy)
    expires_at = NumberAttribute(null=True)                  # DynamoDB TTL, epoch seconds (functions/retention.py)
    approval = JSONAttribute(null=True)                      # its rule's approval, while and after it waits for one
    by_app = _index("by_app", "app", "id")
    by_group = _index("by_group", "group", "id")
    by_time = _index("by_time", "shard", "id")
    by_queued = _index("by_queued", "queued_in", "id")        # sparse: the sweeper reads only jobs not yet started


class LogModel(Model):
    Meta = _meta("logs")
    job_id = UnicodeAttribute(hash_key=True)
    seq = NumberAttribute(range_key=True)
    line = UnicodeAttribute()
    at = UnicodeAttribute()
    expires_at = NumberAttribute(null=True)                  # DynamoDB TTL, epoch seconds (functions/retention.py)
    last = NumberAttribute(null=True)                        # an app output's counter row (seq 0) only: the last
                                                             # seq handed out (functions/store/output.py)


class DedupModel(Model):
    """app + rule + ref + commit -> the one job it made (SQS forgets after 5 minutes)."""

    Meta = _meta("dedup")
    key = UnicodeAttribute(hash_key=True)
    job_id = UnicodeAttribute()
    deleted = BooleanAttribute(default=False)
    created_at = UnicodeAttribute()
    expires_at = NumberAttribute(null=True)                  # DynamoDB TTL, epoch seconds (functions/retention.py)


class AgentModel(Model):
    """A registered agent: what it runs, and when it was last seen (Buildkite's agent list)."""

    Meta = _meta("agents")
    id = UnicodeAttribute(hash_key=True)
    pool = UnicodeAttribute()
    targets = JSONAttribute(default=list)
    version = UnicodeAttribute(default="")
    host = UnicodeAttribute(default="")
    concurrency = NumberAttribute(default=1)
    state = UnicodeAttribute(default="idle")                 # idle | busy | stopping
    jobs = JSONAttribute(default=list)                       # the job ids it runs now
    started_at = UnicodeAttribute()
    last_seen = NumberAttribute(default=0)                   # epoch seconds
    heartbeat_seconds = NumberAttribute(default=10)
    session_digest = UnicodeAttribute(default="")            # its current session token (a restart replaces it)


class ReleaseModel(Model):
    """What an app served, one row per successful deploy: rollback picks from here, on any agent."""

    Meta = _meta("releases")
    app = UnicodeAttribute(hash_key=True)
    job_id = UnicodeAttribute(range_key=True)
    rule = UnicodeAttribute(default="")
    image = UnicodeAttribute()
    ref = UnicodeAttribute()
    sha = UnicodeAttribute(default="")
    agent_id = UnicodeAttribute(default="")
    detail = JSONAttribute(default=dict)                     # container, upstream: what the runner needs
    at = UnicodeAttribute()


class ScheduleModel(Model):
    """The last tick a rule's `schedule` ran (functions/dispatch/schedules.py): one row per app and rule."""

    Meta = _meta("schedules")
    app = UnicodeAttribute(hash_key=True)
    rule = UnicodeAttribute(range_key=True)
    last_tick = NumberAttribute(default=0)                   # epoch seconds of the newest tick handled
    last_run_at = UnicodeAttribute(default="")               # when the sweeper handled it
    last_job = UnicodeAttribute(default="")
    last_outcome = UnicodeAttribute(default="")              # queued | skipped
    last_note = UnicodeAttribute(default="")                 # what happened, and whether it ran late


class BackupModel(Model):
    """One backup of an app's database, as the agent that made and restore-tested it reported it."""

    Meta = _meta("backups")
    app = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute(range_key=True)                  # APP-YYYYMMDDTHHMMSSZ.SUFFIX: sorts by time
    job_id = UnicodeAttribute(default="")
    agent_id = UnicodeAttribute(default="")
    to = UnicodeAttribute(default="")                        # the destination it was written to
    verified = UnicodeAttribute(default="")                  # "verified" or "failed: why"
    record = JSONAttribute(default=dict)                     # kind, image, bytes, counts, seconds, created_at


class TokenModel(Model):
    """API tokens, stored only as SHA-256 digests."""

    Meta = _meta("tokens")
    digest = UnicodeAttribute(hash_key=True)
    role = UnicodeAttribute()                                # admin | agent
    name = UnicodeAttribute()
    created_at = UnicodeAttribute()
    expires_at = NumberAttribute(null=True)                  # epoch seconds; none: never
    pool = UnicodeAttribute(null=True)                       # an agent token's pool; none: the default pool


class SessionModel(Model):
    """An agent's session: made when it registers with an agent token (its parent), bound to one agent id
    and pool, stored only as a digest. It ends with its parent, when the agent registers again, or when
    unused for TAHOBUDDY_AGENT_SESSION_SECONDS (DynamoDB TTL then deletes the row: store/sessions.py)."""

    Meta = _meta("sessions")
    role = "session"                                         # what authenticate() reads (not stored)
    digest = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute()                                # the agent id
    parent = UnicodeAttribute()                              # the agent token's digest
    pool = UnicodeAttribute()
    created_at = UnicodeAttribute()
    expires_at = NumberAttribute()                           # DynamoDB TTL, epoch seconds; renewed by beats


class AuditModel(Model):
    """Who changed what, when: one item per change of an app or a token, listed newest first."""

    Meta = _meta("audit")
    id = UnicodeAttribute(hash_key=True)                    # time-sortable
    shard = UnicodeAttribute(default="audit", attr_name=SHARD_STORED_AS)
    at = UnicodeAttribute()
    action = UnicodeAttribute()                              # created | replaced | deleted | revoked
    subject = UnicodeAttribute()                             # app/NAME or token/ID
    token_id = UnicodeAttribute(default="")
    token_name = UnicodeAttribute(default="")
    changes = JSONAttribute(default=dict)
    expires_at = NumberAttribute(null=True)                  # DynamoDB TTL, epoch seconds (functions/retention.py)
    by_time = _index("by_time", "shard", "id")


class OutboxModel(Model):
    """One job state change to report (GitHub commit status, deployment status), in a lane per commit.

    Items of a lane (repository@sha) are delivered in `seq` order by functions/notify/sender.py; the
    sparse `pending` index lists only those still to send, so the sender never scans what is done.
    """

    Meta = _meta("outbox")
    lane = UnicodeAttribute(hash_key=True)                   # owner/name@sha, owner/name#pr-N/app: in order
    seq = UnicodeAttribute(range_key=True)                   # time-sortable
    job_id = UnicodeAttribute()
    change = JSONAttribute()                                 # the job as it was at this change
    pending = UnicodeAttribute(null=True)                    # "pending" until sent or given up
    attempts = NumberAttribute(default=0)
    next_at = NumberAttribute(default=0)                     # epoch seconds: not before (backoff)
    lease_until = NumberAttribute(default=0)                 # a sender works on it until then
    done = JSONAttribute(default=dict)                       # steps already sent: status, deployment id...
    outcome = UnicodeAttribute(default="")                   # "" | sent | gave_up
    error = UnicodeAttribute(default="")                     # the last failure, as GitHub answered it
    expires_at = NumberAttribute(null=True)                  # DynamoDB TTL, epoch seconds (functions/retention.py)
    by_pending = _index("by_pending", "pending", "seq")
    by_job = _index("by_job", "job_id", "seq")



class PreviewModel(Model):
    """One pull request's preview of one app: where it is served and what it runs. Kept apart from
    releases, so a preview never becomes the app's rollback history; a closed one stays, as `closed`."""

    Meta = _meta("previews")
    app = UnicodeAttribute(hash_key=True)
    number = NumberAttribute(range_key=True)                 # the pull request
    rule = UnicodeAttribute()
    hostname = UnicodeAttribute(default="")
    sha = UnicodeAttribute(default="")
    head_ref = UnicodeAttribute(default="")
    fork = BooleanAttribute(null=True)                       # what the forge last said of the pull request: its
    author_association = UnicodeAttribute(default="")        # head in a fork, its author's trust (a row from before
                                                             # these were kept: None, read as a fork)
    state = UnicodeAttribute(default="queued")               # queued | live | failed | closing | closed
    job_id = UnicodeAttribute(default="")                    # the last deploy or teardown job
    since = UnicodeAttribute()                               # opened (or reopened) at
    deployed_at = NumberAttribute(default=0)                 # epoch seconds of the last deploy: expiry counts from it
    expire_after_days = NumberAttribute(default=0)           # 0: never
    release = JSONAttribute(default=dict)                    # image, container, upstream of the live one
    holding = NumberSetAttribute(null=True)                  # on the app's slot row (number 0, state "slots") only:
                                                             # the pull requests holding its max_previews slots


@functools.lru_cache(maxsize=1)
def _connection() -> Connection:
    """The one connection every transaction uses, as every model keeps one of its own. A new Connection per
    transaction made a new botocore session and client each time, parsing botocore's service models again:
    about 0.2 s of CPU per webhook and per job state change. Its client is made once and is thread-safe."""
    return Connection(region=_S.region, host=_S.endpoint)


def transaction() -> TransactWrite:
    """One DynamoDB TransactWriteItems over these tables (`with transaction() as tx: tx.save(...)`):
    all its writes happen, or none (a job's state change and its outbox item)."""
    return TransactWrite(connection=_connection())


EXPIRING = (EventModel, JobModel, LogModel, DedupModel, AuditModel, OutboxModel, SessionModel)
"""Tables with DynamoDB TTL on `expires_at`; only items that carry it ever expire (functions/retention.py says which)."""

ALL_MODELS = (AppModel, EventModel, JobModel, LogModel, DedupModel, TokenModel, AuditModel, AgentModel,
              ReleaseModel, OutboxModel, PreviewModel, SessionModel, ScheduleModel, BackupModel)
