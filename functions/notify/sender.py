"""Deliver the outbox: each lane in order (a commit's, or a pull request's preview of one app), each
item once, retrying with backoff: the forge first (a commit status on GitHub, GitLab, Gitea or
Forgejo, each shaped by its provider from the one state table, functions/domain/statuses.py; on
GitHub also deployments and a preview's pull request comment), then the app's notifications
(channels.py).

Who calls it: on AWS the outbox table's DynamoDB Stream (app.deliver_outbox, at once) and the
scheduled sweep (retries); under `make run` the stack's tick (POST /api/v1/outbox/deliver every
2 s). Two callers never send one item twice at the same time: an item is leased by a conditional
update first.

An item that fails with a retryable answer (5xx, 429, rate limit, network) blocks its lane until
its backoff passes, so a forge never sees a later state before an earlier one; after
TAHOBUDDY_NOTIFY_ATTEMPTS tries, or at once for an answer retrying cannot fix (422, 404, 401),
it is given up, the error is kept (shown by `tahobuddy jobs ID`), and the lane moves on.
"""
from __future__ import annotations

import logging
import os
import time

from pynamodb.exceptions import UpdateError

from contract.states import JobState

from functions.config import settings
from functions.store import conditions
from functions.store.models import OutboxModel
from functions.notify import channels, forges, github, github_previews
from functions.notify.github import GitHubError
from functions.providers import client as forge_client, find as find_provider

REFUSED = (GitHubError, forge_client.StatusRefused)   # whatever a forge answers: `retry` says what to do

log = logging.getLogger(__name__)
LEASE_SECONDS = 60
BACKOFF_CAP = 300


def backoff(attempts: int, base: float | None = None) -> float:
    """Seconds before try `attempts + 1`: base, 2 base, 4 base ... capped at 5 minutes."""
    base = float(os.environ.get("TAHOBUDDY_NOTIFY_BACKOFF", 2)) if base is None else base
    return min(base * 2 ** max(attempts - 1, 0), BACKOFF_CAP)


def max_attempts() -> int:
    return int(os.environ.get("TAHOBUDDY_NOTIFY_ATTEMPTS", 15))


def _deployment_of(job_id: str) -> int | None:
    """The Deployment an earlier change of this job made (same lane, so already delivered)."""
    for item in OutboxModel.by_job.query(job_id):
        if (item.done or {}).get("deployment_id"):
            return int(item.done["deployment_id"])
    return None


def deliver_item(client: github.Client | None, item: OutboxModel) -> None:
    """Send what this change still owes its forge and the app's notify entries; each step done is
    saved, so a retry skips it. A notify entry that cannot be helped by retrying is marked given up
    and the others still go."""
    change, done = item.change, dict(item.done or {})
    repo, forge = change.get("repo"), change.get("forge") or "github"

    def mark(key, value=True):
        done[key] = value
        item.update(actions=[OutboxModel.done.set(done)])

    if repo and forge == "github" and client is None:
        raise GitHubError("no GitHub credentials in this process (TAHOBUDDY_GITHUB_*)", retry=True)
    steps = ((_to_github, _preview_comment) if forge == "github" else (_to_forge,)) if repo else ()
    refused = None
    for step in steps:
        try:
            step(client, item, done, mark)
        except REFUSED as exc:
            if exc.retry:
                raise
            refused = refused or exc  # the forge will not take it: the rest still goes, then the item gives up
    for n, entry in enumerate(change.get("notify") or []):
        if f"notify:{n}" in done:
            continue
        try:
            channels.send(entry, change, f"{item.seq}-{n}")
            mark(f"notify:{n}", "sent")
        except GitHubError as exc:
            if exc.retry:
                raise
            mark(f"notify:{n}", f"gave up: {exc}")
    if refused is not None:
        raise refused


def _to_forge(client, item: OutboxModel, done: dict, mark) -> None:
    """GitLab, Gitea or Forgejo: the commit status, shaped by the forge's provider and sent with the
    forge's token (functions/notify/forges.py). A preview's teardown sets no status."""
    change = item.change
    if "status" in done or change.get("teardown"):
        return
    forge, repo = change["forge"], change["repo"]
    s = forges.settings(forge, repo.split("/", 1)[0])
    if not s.token:
        raise forge_client.StatusRefused(f"no {forge} token in this process: set {s.token_names}", retry=False)
    request = find_provider(forge).report(repo, change["sha"],
                                          github.status_of(change, github.job_link(change["job_id"])))
    forge_client.send(forge, s.api_url, s.token, request)
    mark("status")


def _earlier(item: OutboxModel):
    """The lane's items before this one, newest first (all delivered: a lane goes in order)."""
    return OutboxModel.query(item.lane, OutboxModel.seq < item.seq, scan_index_forward=False)


def _to_github(client: github.Client, item: OutboxModel, done: dict, mark) -> None:
    change = item.change
    repo = change["repo"]
    if change.get("teardown"):
        _destroyed(client, item, done, mark)
        return
    if "status" not in done:
        client.call(repo, github.commit_status(client.s, change))
        mark("status")
    if not github.deploys(change):
        return
    deployment_id = done.get("deployment_id") or _deployment_of(change["job_id"])
    if not deployment_id:
        doc = client.call(repo, github.deployment(change))
        if "id" not in doc:  # 202: GitHub merged or declined instead of creating one
            raise GitHubError(f"no deployment made: {doc.get('message', doc)}", retry=False)
        deployment_id = doc["id"]
        mark("deployment_id", deployment_id)
    if "deployment_status" not in done:
        client.call(repo, github.deployment_status(client.s, change, deployment_id))
        mark("deployment_status")


def _destroyed(client: github.Client, item: OutboxModel, done: dict, mark) -> None:
    """A preview's teardown: no commit status and no Deployment of its own; once it has succeeded,
    every Deployment the preview made since its last teardown gets `inactive` (GitHub's auto_inactive
    skips transient environments, so each push's Deployment would otherwise stay active)."""
    if item.change["state"] != JobState.SUCCEEDED.value:
        return
    made: list[int] = []
    for prev in _earlier(item):
        if prev.change.get("teardown") and prev.change.get("state") == JobState.SUCCEEDED.value:
            break  # what came before was destroyed by that teardown
        did = (prev.done or {}).get("deployment_id")
        if did and int(did) not in made:
            made.append(int(did))
    for did in made:
        if f"inactive:{did}" in done:
            continue
        try:
            client.call(item.change["repo"], github_previews.inactive_status(client.s, item.change, did))
            mark(f"inactive:{did}")
        except GitHubError as exc:
            if exc.status != 404:
                raise
            mark(f"inactive:{did}", "gone")  # someone deleted that Deployment: nothing left to destroy


FAILED_ENDS = (JobState.FAILED.value, JobState.CANCELED.value)


def _still_served(item: OutboxModel) -> bool:
    """Whether the pull request's last success was a deploy (it still serves) rather than a teardown."""
    for prev in _earlier(item):
        if prev.change.get("state") == JobState.SUCCEEDED.value:
            return not prev.change.get("teardown")
    return False


def _preview_comment(client: github.Client, item: OutboxModel, done: dict, mark) -> None:
    """The pull request's one comment about this app's preview: made by the first change, edited by
    every later one (its id is found on the lane's earlier items); made again if someone deleted it."""
    change = item.change
    if "comment_id" in done or not github_previews.owes_comment(change):
        return
    body = github_previews.comment_body(client.s, change, change["state"] in FAILED_ENDS and _still_served(item))
    known = next((p.done["comment_id"] for p in _earlier(item) if (p.done or {}).get("comment_id")), None)
    if known:
        try:
            client.call(change["repo"], github_previews.update_comment(change, known, body))
            mark("comment_id", int(known))
            return
        except GitHubError as exc:
            if exc.status != 404:
                raise
    doc = client.call(change["repo"], github_previews.create_comment(change, body))
    mark("comment_id", int(doc["id"]))


def _lease(item: OutboxModel, now: float) -> bool:
    try:
        item.update(actions=[OutboxModel.lease_until.set(int(now) + LEASE_SECONDS)],
                    condition=OutboxModel.lease_until < int(now) + 1)
        return True
    except UpdateError as exc:
        if not conditions.failed(exc):
            raise
        return False  # another sender holds the lease


def _expires(lane: str):
    """A sent or given-up item expires (a pending one never does): functions/retention.py."""
    return OutboxModel.expires_at.set(settings().retention.outbox_done(time.time(), lane))


def deliver_lane(client: github.Client | None, lane: str, now: float | None = None, counts: dict | None = None) -> dict:
    counts = {"sent": 0, "retrying": 0, "gave_up": 0} if counts is None else counts
    now = time.time() if now is None else now
    for item in OutboxModel.query(lane):
        if not item.pending:
            continue
        if item.next_at > now or not _lease(item, now):
            break  # it waits for its backoff (or another sender has it): later changes wait behind it
        try:
            deliver_item(client, item)
        except Exception as exc:  # noqa: BLE001 - GitHubError says whether to retry; a bug retries too
            retry = getattr(exc, "retry", True)
            attempts = item.attempts + 1
            error = str(exc)[:1000]
            if retry and attempts < max_attempts():
                item.update(actions=[OutboxModel.attempts.set(attempts), OutboxModel.error.set(error),
                                     OutboxModel.next_at.set(now + backoff(attempts)), OutboxModel.lease_until.set(0)])
                counts["retrying"] += 1
                break
            log.warning("outbox: gave up on %s %s: %s", lane, item.change.get("state"), error)
            item.update(actions=[OutboxModel.attempts.set(attempts), OutboxModel.error.set(error),
                                 OutboxModel.pending.remove(), OutboxModel.outcome.set("gave_up"),
                                 OutboxModel.lease_until.set(0), _expires(lane)])
            counts["gave_up"] += 1
            continue
        item.update(actions=[OutboxModel.pending.remove(), OutboxModel.outcome.set("sent"),
                             OutboxModel.lease_until.set(0), _expires(lane)])
        counts["sent"] += 1
    return counts


def drain(client: github.Client | None = None, limit: int = 500) -> dict:
    """Every lane with something due, oldest first; bounded by `limit` pending items looked at."""
    client = client or github.client()
    counts = {"sent": 0, "retrying": 0, "gave_up": 0}
    lanes: list[str] = []
    for item in OutboxModel.by_pending.query("pending", limit=limit):
        if item.lane not in lanes:
            lanes.append(item.lane)
    now = time.time()
    for lane in lanes:
        deliver_lane(client, lane, now, counts)
    return counts


def on_stream(records) -> dict:
    """The outbox table's stream: deliver the lanes that just got an item (INSERTs only: our own
    updates also stream, and must not loop)."""
    client = github.client()
    counts = {"sent": 0, "retrying": 0, "gave_up": 0}
    lanes = []
    for record in records:
        image = record.new_image or {}
        lane = (image.get("lane") or {}).get("S")
        if record.event_name == "INSERT" and lane and lane not in lanes:
            lanes.append(lane)
    for lane in lanes:
        deliver_lane(client, lane, counts=counts)
    return counts
