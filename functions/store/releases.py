"""What each app served, in the store rather than on one agent's disk, so any agent of the pool
can roll back (to an image its Docker Engine holds) or say which agent holds it.

Keyed by app, not rule: the rules of one app serve one hostname, so a deploy retires whatever
another rule of the app put live.
"""
from __future__ import annotations

from functions.clock import now_iso
from functions.store.models import JobModel, ReleaseModel

KEEP = 20  # entries handed to the agent with a claim; older ones stay in the table


def record(job: JobModel, agent_id: str, release: dict) -> None:
    image = str(release.get("image") or "")
    if not image:
        return
    detail = {k: str(v) for k, v in release.items() if k in ("container", "upstream") and v}
    ReleaseModel(job.app, job.id, rule=job.rule, image=image[:200], ref=str(release.get("ref") or job.ref),
                 sha=str(release.get("sha") or job.sha or ""), agent_id=agent_id, detail=detail, at=now_iso()).save()


def history(app: str, limit: int = KEEP) -> list[dict]:
    """Oldest first, as the runners read it."""
    rows = list(ReleaseModel.query(app, scan_index_forward=False, limit=limit))
    return [{"job": r.job_id, "rule": r.rule, "image": r.image, "ref": r.ref, "sha": r.sha, "agent_id": r.agent_id,
             "at": r.at, **r.detail} for r in reversed(rows)]
