"""The store of previews (models.PreviewModel, apart from the app's releases so a preview never becomes
rollback history): one row per (app, pull request), the app's slot row that holds its per-app limit
(taken by one conditional write, so it holds under concurrent openings), what a preview or teardown
job's end changes, and the list the agent's reconciler keeps."""
from __future__ import annotations

from pynamodb.exceptions import PutError, UpdateError
from pynamodb.expressions.condition import size

from functions.clock import now, now_iso
from functions.store import conditions
from functions.domain.previews import ACTIVE, SLOTS
from functions.store.models import JobModel, PreviewModel


def find(app: str, number: int) -> PreviewModel | None:
    try:
        return PreviewModel.get(app, number)
    except PreviewModel.DoesNotExist:
        return None


def start(app: str, number: int, rule: str, hostname: str, sha: str, head_ref: str,
          expire_after_days: int, fork: bool, association: str) -> PreviewModel:
    """A new opening of the preview, saved before its job (a redelivery after a crash finds it, and its
    key). Written only if no other delivery of the same pull request started one meanwhile; if one
    did, that opening is the one, and its job key makes this delivery a duplicate."""
    row = PreviewModel(app, number, rule=rule, since=now_iso(), state="queued", hostname=hostname, sha=sha,
                       head_ref=head_ref, deployed_at=now(), expire_after_days=expire_after_days, fork=fork,
                       author_association=association)
    try:
        row.save(condition=PreviewModel.number.does_not_exist() | ~PreviewModel.state.is_in(*ACTIVE))
    except PutError as exc:
        if not conditions.failed(exc):
            raise
        row = find(app, number) or row
    return row


def deploying(row: PreviewModel, job_id: str, sha: str, head_ref: str, fork: bool | None = None,
              association: str | None = None) -> None:
    """The preview's newest deploy job; its expiry counts from this push. `fork` and `association`: what
    the forge's event said of the pull request (a redeploy by hand keeps what the row holds)."""
    facts = [] if fork is None else [PreviewModel.fork.set(fork),
                                     PreviewModel.author_association.set(association or "")]
    row.update(actions=[PreviewModel.job_id.set(job_id), PreviewModel.sha.set(sha),
                        PreviewModel.head_ref.set(head_ref), PreviewModel.deployed_at.set(now()), *facts])


def closing(row: PreviewModel, job_id: str) -> None:
    row.update(actions=[PreviewModel.state.set("closing"), PreviewModel.job_id.set(job_id)])


def closed(row: PreviewModel) -> None:
    row.update(actions=[PreviewModel.state.set("closed")])


# ---- the per-app limit: one set of held numbers, changed only by conditional writes ---------
def _slot_actions() -> list:
    """What makes the slot row recognisable: never a preview (state "slots", no rule)."""
    return [PreviewModel.state.set("slots"), PreviewModel.rule.set(""), PreviewModel.since.set("")]


def claim(app: str, number: int, limit: int | None) -> list[int] | None:
    """Hold one of the app's `limit` preview slots for pull request `number` (no limit: just record it).

    None when held; else the numbers that hold them all. Counting rows and then writing one lets two
    requests opened at the same moment both see room for one more; this single conditional update
    (add the number if fewer than `limit` are held, or it is held already) cannot. Adding and removing
    a number are idempotent, so redeliveries and retries never make the count drift."""
    held = PreviewModel.holding
    condition = None if limit is None else held.does_not_exist() | (size(held) < limit) | held.contains(number)
    try:
        PreviewModel(app, SLOTS).update(actions=[held.add({number}), *_slot_actions()], condition=condition)
        return None
    except UpdateError as exc:
        if not conditions.failed(exc):
            raise
    row = find(app, SLOTS)
    return sorted(int(n) for n in (row.holding or ())) if row is not None else []


def release_slot(app: str, number: int) -> None:
    """Give pull request `number`'s slot back (safe when it holds none)."""
    PreviewModel(app, SLOTS).update(actions=[PreviewModel.holding.delete({number}), *_slot_actions()])


# ---- the agent's side ------------------------------------------------------------------------
def releases_for(job: JobModel) -> list[dict]:
    """What a preview job hands its runner as history: only this preview's live container."""
    row = find(job.app, int(job.preview))
    return [dict(row.release)] if row is not None and row.release else []


def ending(job: JobModel, state: str, release: dict) -> list:
    """What a preview or teardown job's end changes in its preview's row, as (row, actions, condition) to
    write in one transaction with the job's end (store/jobs.finish): a reader never sees the teardown
    `succeeded` and the preview still `closing`. Nothing when a newer job of the preview decides its state."""
    row = find(job.app, int(job.preview)) if job.preview else None
    if row is None or row.job_id != job.id:
        return []
    ours = PreviewModel.job_id == job.id
    if job.trigger == "teardown":
        return [(row, [PreviewModel.state.set("closed"), PreviewModel.release.set({})], ours)] \
            if state == "succeeded" else []
    if state == "skipped":  # no watched path changed against its base: a live preview stays, else none opens
        return [] if row.release else [
            (row, [PreviewModel.state.set("closed")], ours),
            (PreviewModel(job.app, SLOTS), [PreviewModel.holding.delete({int(job.preview)}), *_slot_actions()], None)]
    if state == "succeeded" and release:
        keep = {k: str(v) for k, v in release.items() if k in ("image", "container", "upstream", "ref", "sha",
                                                                "digest")}
        return [(row, [PreviewModel.state.set("live"), PreviewModel.sha.set(job.sha),
                       PreviewModel.release.set({**keep, "job": job.id}), PreviewModel.deployed_at.set(now())], ours)]
    if state != "succeeded" and not row.release:
        return [(row, [PreviewModel.state.set("failed")], ours)]
    return []


def digests(app: str) -> list[str]:
    """The registry digests (repo@sha256:...) the app's previews serve: a prebuilt `image:` they pulled. Every
    row not closed counts (a failed teardown's container may still run), so the app's registry pruning keeps them."""
    return sorted({str(r.release["digest"]) for r in PreviewModel.query(app)
                   if r.number != SLOTS and r.state != "closed" and (r.release or {}).get("digest")})


def kept() -> list[dict]:
    """Every preview the reconciler must leave alone: queued, live or failed (a failed synchronize keeps
    the older container serving)."""
    return [{"app": r.app, "number": int(r.number), "state": r.state} for r in PreviewModel.scan()
            if r.state in ACTIVE]


# ---- listing and expiry ---------------------------------------------------------------------
def to_dict(row: PreviewModel) -> dict:
    return {"app": row.app, "number": int(row.number), "rule": row.rule, "hostname": row.hostname, "sha": row.sha,
            "head_ref": row.head_ref, "state": row.state, "since": row.since, "job_id": row.job_id,
            "expire_after_days": int(row.expire_after_days or 0)}


def listing(app: str | None = None, closed: bool = False) -> list[dict]:
    rows = PreviewModel.query(app) if app else PreviewModel.scan()
    out = [to_dict(r) for r in rows if r.number != SLOTS and (closed or r.state != "closed")]
    return sorted(out, key=lambda p: (p["app"], p["number"]))


def idle() -> list[PreviewModel]:
    """Live or failed previews with no push for longer than their rule's expire_after_days."""
    at = now()
    return [row for row in PreviewModel.scan() if row.state in ("live", "failed") and int(row.expire_after_days or 0)
            and at - float(row.deployed_at or 0) >= int(row.expire_after_days) * 86400]
