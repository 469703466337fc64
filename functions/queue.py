"""The SQS FIFO job queue: one message per job, grouped per app + target."""
from __future__ import annotations

import functools
import json

import boto3

from .config import boto_kwargs, settings


@functools.lru_cache(maxsize=1)
def _sqs():
    return boto3.client("sqs", **boto_kwargs())


@functools.lru_cache(maxsize=1)
def url() -> str:
    s = settings()
    return s.queue_url or _sqs().get_queue_url(QueueName=s.queue_name)["QueueUrl"]


def send(job_id: str, group: str, target_type: str = "") -> None:
    """Group = app.target, so one deploy runs at a time per target; the dedup id is the job id,
    which the DynamoDB dedup item gives out once per app + rule + ref + commit. The target type
    rides along so an agent that does not serve it can pass without claiming."""
    _sqs().send_message(QueueUrl=url(), MessageBody=json.dumps({"job_id": job_id, "target": target_type}),
                        MessageGroupId=group, MessageDeduplicationId=job_id)
