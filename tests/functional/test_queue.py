"""What lands on the SQS FIFO queue (moto server over HTTP)."""
import json

import boto3
import pytest

from functions import queue
from functions.config import boto_kwargs, settings
from tests.helpers import deliver, docker_app, push, put_app, unique

pytestmark = pytest.mark.functional


def test_job_message_is_grouped_per_target_and_deduplicated_by_job(api):
    name = unique("queue")
    put_app(api, docker_app(name))
    job_id = deliver(api, "push", push(name, "refs/heads/development")).json()["jobs"][0]
    sqs = boto3.client("sqs", **boto_kwargs())
    found = None
    for _ in range(50):  # bounded: the shared test queue holds other tests' messages too
        got = sqs.receive_message(QueueUrl=queue.url(), MaxNumberOfMessages=10, WaitTimeSeconds=0,
                                  VisibilityTimeout=1, AttributeNames=["All"]).get("Messages", [])
        found = next((m for m in got if json.loads(m["Body"])["job_id"] == job_id), None)
        if found or not got:
            break
    assert found is not None
    assert found["Attributes"]["MessageGroupId"] == f"{name}.docker"
    assert found["Attributes"]["MessageDeduplicationId"] == job_id


def test_queue_is_fifo_with_a_dead_letter_queue():
    sqs = boto3.client("sqs", **boto_kwargs())
    attrs = sqs.get_queue_attributes(QueueUrl=queue.url(), AttributeNames=["All"])["Attributes"]
    assert attrs["FifoQueue"] == "true" and attrs["ContentBasedDeduplication"] == "false"
    redrive = json.loads(attrs["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"].endswith(settings().dead_letter_queue_name)
    assert int(redrive["maxReceiveCount"]) == 5

