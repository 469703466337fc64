"""The last tick each rule's `schedule` ran, so a tick runs once however many sweepers see it."""
from __future__ import annotations

from pynamodb.exceptions import DoesNotExist, PutError, UpdateError

from functions.clock import now_iso
from functions.store import conditions
from functions.store.models import ScheduleModel


def get(app: str, rule: str) -> ScheduleModel | None:
    try:
        return ScheduleModel.get(app, rule)
    except DoesNotExist:
        return None


def start(app: str, rule: str, tick: float) -> ScheduleModel:
    """The row of a schedule seen for the first time: its ticks count from `tick` on, never from the past."""
    row = ScheduleModel(app, rule, last_tick=tick)
    try:
        row.save(condition=ScheduleModel.app.does_not_exist())
    except PutError as exc:
        if not conditions.failed(exc):
            raise
        return ScheduleModel.get(app, rule)        # another sweeper started it first
    return row


def advance(row: ScheduleModel, tick: float, outcome: str, note: str, job_id: str = "") -> bool:
    """Mark `tick` handled; False when another sweeper handled it (or a newer one) first."""
    try:
        row.update(actions=[ScheduleModel.last_tick.set(tick), ScheduleModel.last_run_at.set(now_iso()),
                            ScheduleModel.last_job.set(job_id), ScheduleModel.last_outcome.set(outcome),
                            ScheduleModel.last_note.set(note[:1000])],
                   condition=ScheduleModel.last_tick < tick)
    except UpdateError as exc:
        if not conditions.failed(exc):
            raise
        return False
    return True
