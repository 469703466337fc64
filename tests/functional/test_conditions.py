"""A failed condition and a throttle are told apart (functions/store/conditions.py), on the moto
server over HTTP. The throttle is DynamoDB's own answer (400 ProvisionedThroughputExceededException)
given to the store's botocore client at its send step, so botocore parses and retries it as it would
on AWS; the lost race is real: another writer ends the job just before the cancel write reaches moto."""
import json

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from pynamodb.exceptions import UpdateError

from contract.states import JobState
from functions.config import boto_kwargs
from functions.domain import apps
from functions.dispatch import gate
from functions.errors import Conflict
from functions.store import jobs
from functions.store.models import JobModel
from tests.helpers import docker_app, unique

pytestmark = pytest.mark.functional
THROTTLE = {"__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
            "message": "The level of configured provisioned throughput for the table was exceeded."}


class _Raw:
    def __init__(self, body: bytes):
        self.body = body

    def stream(self, **_):
        yield self.body


@pytest.fixture
def running(moto):
    app = apps.validate(docker_app(unique("cond")))
    job = gate.by_hand(app, app["rules"][0], "refs/heads/development", "", now=True)
    return jobs.claim(job.id, "agent-cond")


@pytest.fixture
def on_cancel_write():
    """Run a handler just before the store sends a cancel request to DynamoDB; its answer (if any) is
    what DynamoDB said."""
    events = JobModel._get_connection().connection.client.meta.events
    handlers = []

    def register(handler):
        def before_send(request, **_):
            return handler(request) if b"cancel_requested" in (request.body or b"") else None
        handlers.append(before_send)
        events.register("before-send.dynamodb.UpdateItem", before_send)
    yield register
    for h in handlers:
        events.unregister("before-send.dynamodb.UpdateItem", h)


def test_a_throttled_cancel_is_raised_as_the_throttle_and_never_said_to_have_ended(running, on_cancel_write):
    sent = []

    def throttle(request):
        sent.append(request.url)
        return AWSResponse(request.url, 400, {"Content-Type": "application/x-amz-json-1.0",
                                              "x-amzn-RequestId": "throttled"}, _Raw(json.dumps(THROTTLE).encode()))
    on_cancel_write(throttle)
    with pytest.raises(UpdateError) as caught:
        jobs.cancel(running.id, "stop it")
    assert caught.value.cause_response_code == "ProvisionedThroughputExceededException", caught.value
    assert len(sent) > 1  # botocore retried it as a throttle before giving up
    after = JobModel.get(running.id)
    assert after.state == JobState.RUNNING.value and not after.cancel_requested  # nothing was written


def test_a_job_that_really_ended_first_is_said_to_have_ended(running, on_cancel_write):
    table = boto3.client("dynamodb", **boto_kwargs())

    def another_writer_ends_it(request):
        table.update_item(TableName=JobModel.Meta.table_name, Key={"id": {"S": running.id}},
                          UpdateExpression="SET #s = :s", ExpressionAttributeNames={"#s": "state"},
                          ExpressionAttributeValues={":s": {"S": JobState.SUCCEEDED.value}})
    on_cancel_write(another_writer_ends_it)
    with pytest.raises(Conflict, match="ended before it could be canceled"):
        jobs.cancel(running.id, "stop it")
    assert JobModel.get(running.id).state == JobState.SUCCEEDED.value
