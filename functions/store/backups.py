"""The backups of each app's database, as the agents report them with a backup job's finish: what
`tahobuddy db backups` lists and what a restore checks before it is queued. Retention happens where the
backups are (the agent deletes them, runners/db_backup.py) and is mirrored here from its report."""
from __future__ import annotations

from pynamodb.exceptions import DoesNotExist

from functions.errors import NotFound
from functions.store.models import BackupModel, JobModel

FIELDS = ("kind", "image", "bytes", "counts", "created_at", "dump_seconds", "verify_seconds")


def record(job: JobModel, agent_id: str, to: str, report: dict) -> None:
    name = str(report.get("name") or "")
    if not name.startswith(f"{job.app}-"):
        return
    BackupModel(job.app, name, job_id=job.id, agent_id=agent_id, to=to, verified=str(report.get("verified") or ""),
                record={k: report[k] for k in FIELDS if k in report}).save()
    for gone in report.get("removed") or ():
        if isinstance(gone, str):
            BackupModel(job.app, gone).delete()


def listing(app: str) -> list[dict]:
    """Newest first."""
    return [to_dict(b) for b in BackupModel.query(app, scan_index_forward=False)]


def get(app: str, name: str) -> dict:
    try:
        return to_dict(BackupModel.get(app, name))
    except DoesNotExist:
        raise NotFound(f"app {app} has no backup {name}: `tahobuddy db backups {app}` lists them") from None


def to_dict(b: BackupModel) -> dict:
    return {"app": b.app, "name": b.name, "verified": b.verified, "to": b.to, "job_id": b.job_id,
            "agent_id": b.agent_id, **b.record}
