"""Webhook deliveries as stored events: recorded once, then marked with the decision."""
from __future__ import annotations

import dataclasses

from pynamodb.exceptions import DoesNotExist, PutError

from functions.store import conditions, payloads, shards
from functions.clock import now, now_iso
from functions.config import settings
from functions.errors import NotFound
from functions.domain.events import WebhookEvent
from functions.store.models import EventModel


def new_row(event_id: str, event: WebhookEvent, body: bytes) -> EventModel:
    """The delivery as a stored event, not yet written (a large body goes to S3 now)."""
    summary = dataclasses.asdict(event)
    summary["action"], summary["ref"] = event.action.value, event.ref
    return EventModel(event_id, shard=shards.key("event", event_id), received_at=now_iso(), event_type=event.event_type,
                      summary=summary, expires_at=settings().retention.event(now()), **payloads.store(event_id, body))


def record(event_id: str, event: WebhookEvent, body: bytes) -> tuple[EventModel, bool]:
    """Store a delivery once (conditional put). Returns (row, first_time)."""
    row = new_row(event_id, event, body)
    try:
        row.save(condition=EventModel.id.does_not_exist())
        return row, True
    except PutError as exc:
        if not conditions.failed(exc):
            raise
    return EventModel.get(event_id), False


def decided(row: EventModel, decision: list[dict], reason: str) -> EventModel:
    """The row as it is once processed: written in one go with what the decision made (dispatch/intake)."""
    row.status, row.decision, row.reason = "processed", decision, reason
    return row


def finish(row: EventModel, decision: list[dict], reason: str) -> None:
    row.update(actions=[EventModel.status.set("processed"), EventModel.decision.set(decision),
                        EventModel.reason.set(reason)])


def to_dict(row: EventModel, with_payload: bool = False) -> dict:
    out = {"id": row.id, "event_type": row.event_type, "received_at": row.received_at, "status": row.status,
           "summary": row.summary, "decision": row.decision, "reason": row.reason,
           "payload_size": row.payload_size, "payload_in_s3": bool(row.payload_s3_key)}
    if with_payload:
        out["payload"] = payloads.load(row).decode("utf-8", errors="replace")
    return out


def get(event_id: str) -> EventModel:
    try:
        return EventModel.get(event_id)
    except DoesNotExist as exc:
        raise NotFound(f"no event {event_id!r}") from exc


def listing(limit: int = 50) -> list[dict]:
    return [to_dict(r) for r in shards.newest(EventModel.by_time, "event", "received_at", limit)]
