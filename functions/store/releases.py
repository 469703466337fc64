"""What each app served, in the store rather than on one agent's disk, so any agent of the pool
can roll back: to an image its Docker Engine holds, or pulled by the digest a registry holds
(`digest`: <registry>/<app>@sha256:...), or else it says which agent holds it.

Keyed by app, not rule: the rules of one app serve one hostname, so a deploy retires whatever
another rule of the app put live.
"""
from __future__ import annotations

from functions.clock import now_iso
from functions.store.models import JobModel, ReleaseModel

KEEP = 20  # entries handed to the agent with a claim; older ones stay in the table


def recording(job: JobModel, agent_id: str, release: dict) -> list:
    """The release a succeeded job put live, as (item, actions, condition) to write in one transaction with
    the job's end (store/jobs.finish): a reader who sees the job succeeded finds its release in the history."""
    image = str(release.get("image") or "")
    if not image:
        return []
    detail = {k: str(v) for k, v in release.items() if k in ("container", "upstream", "digest") and v}
    m = ReleaseModel
    return [(ReleaseModel(job.app, job.id), [
        m.rule.set(job.rule), m.image.set(image[:200]), m.ref.set(str(release.get("ref") or job.ref)),
        m.sha.set(str(release.get("sha") or job.sha or "")), m.agent_id.set(agent_id), m.detail.set(detail),
        m.at.set(now_iso())], None)]


def history(app: str, limit: int = KEEP) -> list[dict]:
    """Oldest first, as the runners read it."""
    rows = list(ReleaseModel.query(app, scan_index_forward=False, limit=limit))
    return [{"job": r.job_id, "rule": r.rule, "image": r.image, "ref": r.ref, "sha": r.sha, "agent_id": r.agent_id,
             "at": r.at, **r.detail} for r in reversed(rows)]
