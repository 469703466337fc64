"""What lands on the SQS FIFO queue (moto server over HTTP)."""
import json

import boto3
import pytest
import requests

from functions.dispatch import queue
from functions.config import boto_kwargs, settings
from tests.helpers import deliver, docker_app, push, put_app, unique

pytestmark = pytest.mark.functional


def test_job_message_goes_to_its_pool_grouped_per_target_and_deduplicated_by_job(api, queue_alone):
    name = unique("queue")
    put_app(api, docker_app(name, rules=[{"name": "dev", "match": {"branch": "development"},
                                          "target": {"type": "docker", "pool": "spare"}}]))
    job_id = deliver(api, "push", push(name, "refs/heads/development")).json()["jobs"][0]
    sqs = boto3.client("sqs", **boto_kwargs())
    found = None
    for _ in range(50):  # bounded: other tests may have left messages in this pool too
        got = sqs.receive_message(QueueUrl=queue.url("spare"), MaxNumberOfMessages=10, WaitTimeSeconds=0,
                                  VisibilityTimeout=1, AttributeNames=["All"]).get("Messages", [])
        found = next((m for m in got if json.loads(m["Body"])["job_id"] == job_id), None)
        if found or not got:
            break
    assert found is not None
    assert json.loads(found["Body"]) == {"job_id": job_id, "target": "docker", "pool": "spare"}
    assert found["Attributes"]["MessageGroupId"] == f"{name}.docker"
    assert found["Attributes"]["MessageDeduplicationId"] == job_id


@pytest.mark.parametrize("pool", ["default", "spare"])
def test_each_pool_has_a_fifo_queue_with_a_dead_letter_queue(moto, pool):
    sqs = boto3.client("sqs", **boto_kwargs())
    attrs = sqs.get_queue_attributes(QueueUrl=queue.url(pool), AttributeNames=["All"])["Attributes"]
    assert attrs["FifoQueue"] == "true" and attrs["ContentBasedDeduplication"] == "false"
    assert int(attrs["MessageRetentionPeriod"]) == 14 * 24 * 3600
    redrive = json.loads(attrs["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"].endswith(settings().dead_letter_queue_name(pool))
    assert int(redrive["maxReceiveCount"]) == 5


def test_a_rule_with_an_unknown_pool_is_refused_naming_the_field_and_the_known_pools(api):
    name = unique("nopool")
    r = requests.put(f"{api.url}/api/v1/apps/{name}", headers=api.headers(), timeout=30, json=docker_app(
        name, rules=[{"name": "x", "match": {"tag": "v*"}, "target": {"type": "docker", "pool": "nowhere"}}]))
    assert r.status_code == 400
    assert r.json()["Message"].startswith("rules[0].target.pool: unknown pool 'nowhere' (known: default, home")

