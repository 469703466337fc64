"""Retention against the moto server: what gets `expires_at`, the TTL on the provisioned tables,
and the sweeper's bounded deletion of expired items (moto never deletes them itself)."""
import time

import boto3
import pytest

from contract.states import JobState

from functions.config import boto_kwargs
from functions.dispatch import enqueue
from functions.store import expiry, jobs, logs
from functions.clock import sortable_id
from functions.notify import sender
from functions.store.models import ALL_MODELS, EXPIRING, DedupModel, EventModel, JobModel, LogModel, OutboxModel
from functions.retention import DAY, LOG_MARGIN_DAYS
from tests.helpers import SHA1, deliver, docker_app, push, put_app, unique

pytestmark = pytest.mark.functional
AGENT = "retention-test-agent"   # claims in-process; its jobs are never sent to a queue


def _near(value, expected, slack=120):
    return value is not None and abs(int(value) - expected) <= slack


def _job(name: str, sha: str = SHA1):
    """A queued job with no message (send=False): no agent of any test can take it from us."""
    rule = {"name": "main", "match": {"branch": "main"}, "target": {"type": "docker", "name": "docker", "pool": "spare"}}
    app = {"name": name, "repository": f"tests/{name}", "rules": [rule]}
    return enqueue.enqueue(app, rule, app["repository"], "refs/heads/main", sha, quiet=False, send=False)


def _sweep_whole(model):
    """Bounded sweeps until the table's cursor wraps: every item has been looked at once."""
    deleted = 0
    for _ in range(200):
        deleted += expiry.sweep_table(model, page=500)
        if model.Meta.table_name not in expiry._CURSOR:
            return deleted
    raise AssertionError(f"{model.Meta.table_name}: the sweep did not reach the end in 200 pages")


def test_the_provisioned_tables_that_expire_have_ttl_on_expires_at_and_the_others_have_none(moto):
    client = boto3.client("dynamodb", **boto_kwargs())
    for model in ALL_MODELS:
        ttl = client.describe_time_to_live(TableName=model.Meta.table_name)["TimeToLiveDescription"]
        if model in EXPIRING:
            assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "expires_at"), model.__name__
        else:  # apps, tokens, agents, releases, previews
            assert ttl["TimeToLiveStatus"] == "DISABLED", model.__name__


def test_a_delivery_stamps_its_event_and_dedup_key_but_the_queued_job_never_expires(api):
    name = unique("ttl")
    put_app(api, docker_app(name, rules=[{"name": "dev", "match": {"branch": "development"},
                                          "target": {"type": "docker", "pool": "spare"}}]))
    answer = deliver(api, "push", push(name, "refs/heads/development")).json()
    now = time.time()
    event, job = EventModel.get(answer["event"]), JobModel.get(answer["jobs"][0])
    assert _near(event.expires_at, now + 90 * DAY)
    dedup = DedupModel.get(enqueue.dedup_key(job.app, job.rule, job.ref, job.sha))
    assert dedup.job_id == job.id and _near(dedup.expires_at, now + 7 * DAY)
    assert job.state == JobState.QUEUED.value and job.expires_at is None
    jobs.cancel(job.id, "test over")


def test_a_running_job_and_its_log_never_expire_and_an_ended_one_expires_no_later_than_its_log(moto):
    job, created = _job(unique("ttl"))
    assert created and job.expires_at is None
    jobs.claim(job.id, AGENT)
    logs.append(jobs.get(job.id), 1, ["building", "pushing"])
    now = time.time()
    running = jobs.get(job.id)
    lines = list(LogModel.query(job.id))
    assert running.state == JobState.RUNNING.value and running.expires_at is None
    assert all(_near(line.expires_at, now + (90 + LOG_MARGIN_DAYS) * DAY) for line in lines)
    ended = jobs.finish(job.id, AGENT, JobState.SUCCEEDED)
    ended = jobs.get(ended.id)
    assert _near(ended.expires_at, time.time() + 90 * DAY)
    assert ended.expires_at <= min(int(line.expires_at) for line in lines)


def test_a_job_handed_back_to_the_queue_carries_no_expiry(moto):
    job, _ = _job(unique("ttl"))
    jobs.claim(job.id, AGENT)
    jobs.release(job.id, AGENT, "agent stopping")
    again = jobs.get(job.id)
    assert again.state == JobState.QUEUED.value and again.expires_at is None
    jobs.cancel(job.id, "test over")  # ended: no sweeper re-sends it to an agent of another test
    assert jobs.get(job.id).expires_at is not None


def test_the_bounded_sweep_deletes_what_expired_and_keeps_a_running_job_and_its_log(moto):
    past = int(time.time()) - 60
    ended, _ = _job(unique("ttl"))
    jobs.claim(ended.id, AGENT)
    logs.append(jobs.get(ended.id), 1, ["done"])
    jobs.finish(ended.id, AGENT, JobState.FAILED)
    running, _ = _job(unique("ttl"))
    jobs.claim(running.id, AGENT)
    logs.append(jobs.get(running.id), 1, ["still building"])
    # as if 90 days had passed for the ended job and its log (and a stray expiry on the running job)
    jobs.get(ended.id).update(actions=[JobModel.expires_at.set(past)])
    LogModel(ended.id, 1).update(actions=[LogModel.expires_at.set(past)])
    jobs.get(running.id).update(actions=[JobModel.expires_at.set(past)])

    assert _sweep_whole(JobModel) >= 1
    assert _sweep_whole(LogModel) >= 1
    with pytest.raises(JobModel.DoesNotExist):
        JobModel.get(ended.id)
    assert list(LogModel.query(ended.id)) == []
    assert jobs.get(running.id).state == JobState.RUNNING.value      # a running job never goes
    assert [line.line for line in LogModel.query(running.id)] == ["still building"]
    jobs.finish(running.id, AGENT, JobState.CANCELED)


def test_an_expired_dedup_key_not_yet_deleted_counts_as_gone_and_a_live_one_still_deduplicates(moto):
    name = unique("ttl")
    first, created = _job(name)
    assert created
    again, created = _job(name)
    assert not created and again.id == first.id                      # within the window: one job
    key = enqueue.dedup_key(name, "main", "refs/heads/main", SHA1)
    DedupModel.get(key).update(actions=[DedupModel.expires_at.set(int(time.time()) - 1)])
    later, created = _job(name)
    assert created and later.id != first.id                          # DynamoDB's TTL may lag days
    assert DedupModel.get(key).job_id == later.id and DedupModel.get(key).expires_at > time.time()
    for job in (first, later):
        jobs.cancel(job.id, "test over")


def test_a_sent_or_given_up_report_expires_and_a_pending_one_never_does(moto):
    name = unique("ttl")
    commit, preview, failing = f"app/{name}@{SHA1}", f"tests/{name}#pr-3/{name}", f"tests/{name}@{SHA1}"
    for lane, change, attempts in ((commit, {"repo": "", "notify": []}, 0),
                                   (preview, {"repo": "", "notify": []}, 0),
                                   (failing, {"repo": f"tests/{name}", "notify": []}, sender.max_attempts() - 1)):
        OutboxModel(lane, sortable_id(), job_id=name, change=change, pending="pending", attempts=attempts).save()
    waiting = OutboxModel(f"app/{name}@{'c' * 40}", sortable_id(), job_id=name, change={}, pending="pending",
                          next_at=time.time() + 3600)  # in backoff: no other test's drain sends it meanwhile
    waiting.save()
    now = time.time()
    for lane in (commit, preview, failing):
        sender.deliver_lane(None, lane)  # no GitHub client: the failing lane's last try gives up
    sent, kept, gave_up = (next(iter(OutboxModel.query(lane))) for lane in (commit, preview, failing))
    assert (sent.outcome, kept.outcome, gave_up.outcome) == ("sent", "sent", "gave_up")
    assert _near(sent.expires_at, now + 14 * DAY) and _near(gave_up.expires_at, now + 14 * DAY)
    assert _near(kept.expires_at, now + 90 * DAY)    # a preview's comment and deployments are found here
    assert OutboxModel.get(waiting.lane, waiting.seq).expires_at is None
    waiting.delete()
