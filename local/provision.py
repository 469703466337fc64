"""Create Tahobuddy's tables, queues and bucket, idempotently, wherever boto3 points.

Used by `make run` and by the tests against moto server; on real AWS the same
resources come from CloudFormation (infra/resources.json).
"""
from __future__ import annotations

import json

import boto3

from functions.config import boto_kwargs, settings
from functions.store.models import ALL_MODELS, EXPIRING
from functions.retention import ATTRIBUTE

VISIBILITY_TIMEOUT = 120
MAX_RECEIVES = 5
RETENTION = 14 * 24 * 3600


def tables() -> list[str]:
    made = []
    for model in ALL_MODELS:
        if not model.exists():
            model.create_table(billing_mode="PAY_PER_REQUEST", wait=True)
            made.append(model.Meta.table_name)
    for model in EXPIRING:
        time_to_live(model.Meta.table_name)
    return made


def time_to_live(table: str) -> bool:
    """DynamoDB TTL on `expires_at`, as infra/resources.json declares it; True when this call turned it on.
    (moto records it but deletes nothing: the sweeper does, functions/store/expiry.py.)"""
    client = boto3.client("dynamodb", **boto_kwargs())
    now = client.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    if now.get("TimeToLiveStatus") in ("ENABLED", "ENABLING") and now.get("AttributeName") == ATTRIBUTE:
        return False
    client.update_time_to_live(TableName=table, TimeToLiveSpecification={"AttributeName": ATTRIBUTE, "Enabled": True})
    return True


def queue(pool: str) -> str:
    """The pool's FIFO job queue and its dead-letter queue (both keep messages 14 days)."""
    s, sqs = settings(), boto3.client("sqs", **boto_kwargs())
    dlq = sqs.create_queue(QueueName=s.dead_letter_queue_name(pool), Attributes={
        "FifoQueue": "true", "MessageRetentionPeriod": str(RETENTION)})["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return sqs.create_queue(QueueName=s.queue_name(pool), Attributes={
        "FifoQueue": "true",
        "ContentBasedDeduplication": "false",
        "VisibilityTimeout": str(VISIBILITY_TIMEOUT),
        "ReceiveMessageWaitTimeSeconds": "20",
        "MessageRetentionPeriod": str(RETENTION),
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVES}),
    })["QueueUrl"]


def queues() -> dict[str, str]:
    """One queue per declared pool (TAHOBUDDY_POOLS)."""
    return {pool: queue(pool) for pool in settings().pools}


def bucket() -> str:
    s3, name = boto3.client("s3", **boto_kwargs()), settings().payload_bucket
    try:
        s3.head_bucket(Bucket=name)
    except s3.exceptions.ClientError:
        s3.create_bucket(Bucket=name)
    return name


def all_resources() -> dict:
    return {"tables": tables(), "queues": queues(), "bucket": bucket()}


if __name__ == "__main__":
    print(json.dumps(all_resources(), indent=2))
