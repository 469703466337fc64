"""Create Tahobuddy's tables, queues and bucket, idempotently, wherever boto3 points.

Used by `make run` and by the tests against moto server; on real AWS the same
resources come from CloudFormation (infra/resources.json).
"""
from __future__ import annotations

import json

import boto3

from functions.config import boto_kwargs, settings
from functions.models import ALL_MODELS

VISIBILITY_TIMEOUT = 120
MAX_RECEIVES = 5


def tables() -> list[str]:
    made = []
    for model in ALL_MODELS:
        if not model.exists():
            model.create_table(billing_mode="PAY_PER_REQUEST", wait=True)
            made.append(model.Meta.table_name)
    return made


def queues() -> str:
    s, sqs = settings(), boto3.client("sqs", **boto_kwargs())
    dlq = sqs.create_queue(QueueName=s.dead_letter_queue_name, Attributes={
        "FifoQueue": "true", "MessageRetentionPeriod": "1209600"})["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return sqs.create_queue(QueueName=s.queue_name, Attributes={
        "FifoQueue": "true",
        "ContentBasedDeduplication": "false",
        "VisibilityTimeout": str(VISIBILITY_TIMEOUT),
        "ReceiveMessageWaitTimeSeconds": "20",
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVES}),
    })["QueueUrl"]


def bucket() -> str:
    s3, name = boto3.client("s3", **boto_kwargs()), settings().payload_bucket
    try:
        s3.head_bucket(Bucket=name)
    except s3.exceptions.ClientError:
        s3.create_bucket(Bucket=name)
    return name


def all_resources() -> dict:
    return {"tables": tables(), "queue_url": queues(), "bucket": bucket()}


if __name__ == "__main__":
    print(json.dumps(all_resources(), indent=2))
