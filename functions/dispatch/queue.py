"""The SQS FIFO job queues: one per pool, one message per job, grouped per app + target.

Group = app.target, so one deploy runs at a time per target. The dedup id is the job id (plus
the number of times the sweeper re-sent it), which the DynamoDB dedup item gives out once per
app + rule + ref + commit.
"""
from __future__ import annotations

import functools

import boto3

from contract.queues import QueueMessage

from functions.config import boto_kwargs, settings
from functions.errors import InvalidInput


@functools.lru_cache(maxsize=1)
def _sqs():
    return boto3.client("sqs", **boto_kwargs())


def _known(pool: str) -> str:
    if pool not in settings().pools:
        raise InvalidInput("pool", f"unknown pool {pool!r} (known: {', '.join(settings().pools)})")
    return pool


@functools.lru_cache(maxsize=64)
def url(pool: str) -> str:
    return _sqs().get_queue_url(QueueName=settings().queue_name(_known(pool)))["QueueUrl"]


@functools.lru_cache(maxsize=64)
def dead_letter_url(pool: str) -> str:
    return _sqs().get_queue_url(QueueName=settings().dead_letter_queue_name(_known(pool)))["QueueUrl"]


def send(job_id: str, group: str, target_type: str, pool: str, resend: int = 0) -> None:
    dedup = job_id if not resend else f"{job_id}.{resend}"
    _sqs().send_message(QueueUrl=url(pool), MessageBody=QueueMessage(job_id, target_type, pool).to_body(),
                        MessageGroupId=group, MessageDeduplicationId=dedup)


def depth(pool: str) -> dict:
    """Approximate counts: waiting, in flight, and dead letters."""
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    q = _sqs().get_queue_attributes(QueueUrl=url(pool), AttributeNames=names)["Attributes"]
    d = _sqs().get_queue_attributes(QueueUrl=dead_letter_url(pool), AttributeNames=names[:1])["Attributes"]
    return {"waiting": int(q.get(names[0], 0)), "in_flight": int(q.get(names[1], 0)),
            "dead_letters": int(d.get(names[0], 0))}


def dead_letters(pool: str, limit: int = 100, hold: int = 30, take=lambda letter: False) -> list[dict]:
    """Up to `limit` dead letters of a pool. A receive can't peek: each message is held for `hold`
    seconds while we page, then deleted when `take(letter)` says so, or made visible again."""
    sqs, q, got, seen = _sqs(), dead_letter_url(pool), [], set()
    for _ in range(max(1, limit // 10) + 1):  # bounded paging
        batch = sqs.receive_message(QueueUrl=q, MaxNumberOfMessages=10, WaitTimeSeconds=0, VisibilityTimeout=hold,
                                    AttributeNames=["All"]).get("Messages", [])
        fresh = [m for m in batch if m["MessageId"] not in seen]
        if not fresh:
            break
        for m in fresh:
            seen.add(m["MessageId"])
            got.append(m)
        if len(got) >= limit:
            break
    out = []
    for m in got:
        try:
            message = QueueMessage.from_body(m["Body"])
        except ValueError:
            message = None
        letter = {"message_id": m["MessageId"], "pool": pool, "message": message, "body": m["Body"][:2000],
                  "sent_at": int(m.get("Attributes", {}).get("SentTimestamp", 0)) / 1000}
        if take(letter):
            sqs.delete_message(QueueUrl=q, ReceiptHandle=m["ReceiptHandle"])
            letter["taken"] = True
        else:
            sqs.change_message_visibility(QueueUrl=q, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0)
        out.append(letter)
    return out
