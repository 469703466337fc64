"""The AWS calls one matched webhook delivery and one job's life make, counted at botocore's send
against moto server (bench/aws_calls.py prints the same counts in `make bench`), and the
transactional outbox: a job's state change and its outbox item are written together or not at all."""
import pytest

from bench import aws_calls
from functions.store import app_store, jobs, outbox
from functions.store.models import JobModel, OutboxModel
from tests.helpers import unique

pytestmark = pytest.mark.functional


@pytest.fixture
def counted(moto, empty_queue):
    return aws_calls.measure()


def test_a_matched_delivery_is_three_calls_and_a_jobs_life_ten(counted):
    """Before the transactional outbox: 6 for the delivery (event put, query, dedup put, job put, send,
    event update) and 17 for claim + heartbeat + finish (the app read again at every change)."""
    assert counted["delivery_calls"] == ["DynamoDB.Query", "DynamoDB.TransactWriteItems", "SQS.SendMessage"]
    life = counted["job_life_calls"]
    assert life["heartbeat"] == ["DynamoDB.UpdateItem"]
    assert life["claim"].count("DynamoDB.TransactWriteItems") == 1 and len(life["claim"]) == 6, life
    assert life["finish"].count("DynamoDB.TransactWriteItems") == 1 and len(life["finish"]) == 3, life
    assert "DynamoDB.PutItem" not in sum(life.values(), []), "an outbox item must not be a write of its own"
    assert counted["job_life"] == 10


def test_the_outbox_item_is_in_the_same_transaction_and_the_policy_is_the_jobs(moto, empty_queue):
    name = unique("calls")
    notify = [{"type": "webhook", "url": "secret:HOOK_URL", "secret": "secret:HOOK_KEY",
               "states": ["queued", "running", "succeeded"]}]
    app_store.save({**aws_calls._app(name), "notify": notify})
    from functions.dispatch import intake
    aws_calls.matched_delivery()  # a warm process, as the count above
    with aws_calls.Calls() as calls:
        answer = intake.receive(aws_calls._delivery(name, "3" * 40))
    assert calls.ops == ["DynamoDB.Query", "DynamoDB.TransactWriteItems", "SQS.SendMessage"]
    [job_id] = answer["jobs"]
    app_store.save(aws_calls._app(name))  # notify removed: the job keeps the policy it was made with
    life = aws_calls.job_life(job_id)
    assert life["claim"].count("DynamoDB.TransactWriteItems") == 1
    items = list(OutboxModel.by_job.query(job_id))
    assert [i.change["state"] for i in items] == ["queued", "running", "succeeded"]
    assert all(i.change["notify"][0]["type"] == "webhook" for i in items)


def test_an_outbox_item_that_cannot_be_written_fails_the_state_change(moto, empty_queue, monkeypatch):
    """It used to be swallowed (the state changed, the report vanished). Now the item is in the
    transaction: DynamoDB refuses an empty key, and the job stays as it was."""
    name = unique("calls")
    app_store.save({**aws_calls._app(name), "notify": [
        {"type": "slack", "url": "secret:SLACK_URL", "states": ["running"]}]})
    from functions.dispatch import intake
    [job_id] = intake.receive(aws_calls._delivery(name, "4" * 40))["jobs"]
    monkeypatch.setattr(outbox, "lane_of", lambda repo, job: "")  # an item DynamoDB cannot store
    with pytest.raises(Exception) as err:
        jobs.claim(job_id, "agent-x")
    assert "TransactWriteItems" in repr(err.value) or "transaction" in str(err.value).lower(), err.value
    job = JobModel.get(job_id)
    assert (job.state, job.agent_id, job.attempts) == ("queued", "", 0)
    assert [i.change["state"] for i in OutboxModel.by_job.query(job_id)] == []  # queued wanted nothing
