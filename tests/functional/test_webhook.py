"""The webhook path over real HTTP: chalice local in front of moto server."""
import gzip
import json
import time

import pytest
import requests

from functions.store.models import EventModel
from tests.helpers import SHA1, SHA2, create, deliver, docker_app, jobs_of, push, put_app, unique

pytestmark = pytest.mark.functional


@pytest.fixture
def app(api):
    name = unique("blog")
    put_app(api, docker_app(name))
    return name


def test_branch_push_queues_one_job_and_records_why(api, app):
    r = deliver(api, "push", push(app, "refs/heads/development"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["decision"] == [{"app": app, "rule": "dev", "job_id": body["jobs"][0], "outcome": "queued"}]
    [job] = jobs_of(api, app)
    assert (job["state"], job["ref"], job["sha"], job["group"]) == ("queued", "refs/heads/development", SHA1,
                                                                     f"{app}.docker")
    event = requests.get(f"{api.url}/api/v1/events/{body['event']}", headers=api.headers()).json()
    assert event["status"] == "processed" and event["reason"] == "1 rule(s) matched"
    # `tahobuddy jobs ID` shows webhook->queued from the one to the other: received first, never after its job
    # (the event row was stamped after the jobs were made, and the step read -0.001 s in a bench run)
    assert event["received_at"] <= job["created_at"], (event["received_at"], job["created_at"])


def test_redelivery_is_acknowledged_and_queues_nothing_new(api, app):
    first = deliver(api, "push", push(app, "refs/heads/development"), delivery="same-1", hook="77")
    again = deliver(api, "push", push(app, "refs/heads/development"), delivery="same-1", hook="77")
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    assert again.json()["jobs"] == first.json()["jobs"] and len(jobs_of(api, app)) == 1


def test_same_delivery_to_another_hook_is_another_event_but_the_same_job(api, app):
    a = deliver(api, "push", push(app, "refs/heads/development"), delivery="shared", hook="1")
    b = deliver(api, "push", push(app, "refs/heads/development"), delivery="shared", hook="2")
    assert a.json()["event"] != b.json()["event"]
    assert b.json()["decision"][0]["outcome"] == "duplicate" and len(jobs_of(api, app)) == 1


@pytest.mark.parametrize("order", [("push", "create"), ("create", "push")])
def test_push_and_create_of_one_new_tag_make_one_job(api, app, order):
    for event_type in order:
        doc = push(app, "refs/tags/release-3", created=True) if event_type == "push" else create(app, "release-3")
        assert deliver(api, event_type, doc).status_code == 200
    assert len(jobs_of(api, app)) == 1


def test_concurrent_push_and_create_deliveries_of_one_tag_make_one_job(api, app):
    from concurrent.futures import ThreadPoolExecutor
    docs = [("push", push(app, "refs/tags/release-42", created=True)), ("create", create(app, "release-42"))] * 4
    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = list(pool.map(lambda d: deliver(api, *d).status_code, docs))
    assert codes == [200] * 8
    assert len(jobs_of(api, app)) == 1


def test_create_alone_deploys_a_tag_when_github_sends_no_push(api, app):
    # more than three tags pushed at once: GitHub sends `create` for each and no `push`
    for n in range(4):
        deliver(api, "create", create(app, f"release-{n}"))
    jobs = jobs_of(api, app)
    assert sorted(j["ref"] for j in jobs) == [f"refs/tags/release-{n}" for n in range(4)]
    assert all(j["sha"] == "" for j in jobs)  # the agent resolves the tag when it fetches


def test_deleted_then_recreated_tag_deploys_again(api, app):
    deliver(api, "push", push(app, "refs/tags/release-9", created=True))
    r = deliver(api, "push", push(app, "refs/tags/release-9", deleted=True, after="0" * 40))
    assert r.status_code == 200 and r.json()["jobs"] == [] and "deleted" in r.json()["reason"]
    deliver(api, "push", push(app, "refs/tags/release-9", sha=SHA2, created=True))
    assert len(jobs_of(api, app)) == 2


def test_force_moved_tag_deploys_its_new_commit(api, app):
    deliver(api, "push", push(app, "refs/tags/release-5", created=True))
    deliver(api, "push", push(app, "refs/tags/release-5", sha=SHA2, forced=True))
    assert sorted(j["sha"] for j in jobs_of(api, app)) == sorted([SHA1, SHA2])


def test_several_matching_rules_give_several_jobs(api):
    name = unique("multi")
    put_app(api, docker_app(name, rules=[
        {"name": "a", "match": {"branch": "main"}, "target": {"type": "docker"}},
        {"name": "b", "match": {"branch": "ma*"}, "target": {"type": "shell", "commands": [["true"]]}}]))
    r = deliver(api, "push", push(name, "refs/heads/main"))
    assert sorted(d["rule"] for d in r.json()["decision"]) == ["a", "b"]
    assert sorted(j["group"] for j in jobs_of(api, name)) == [f"{name}.docker", f"{name}.shell"]


@pytest.mark.parametrize("event, doc, reason", [
    ("push", push("nobody-uses-this", "refs/heads/main"), "no app uses repository"),
    ("issues", {"action": "opened", "repository": {"full_name": "x/y"}}, "'issues' is not acted on"),
    ("ping", {"zen": "Design for failure.", "hook_id": 1}, "ping"),
    ("create", {"ref": "feature", "ref_type": "branch"}, "deploys from its push event"),
])
def test_inert_events_are_accepted_with_a_stated_reason(api, event, doc, reason):
    r = deliver(api, event, doc)
    assert r.status_code == 200 and reason in r.json()["reason"] and r.json()["jobs"] == []


def test_no_matching_rule_is_recorded(api, app):
    r = deliver(api, "push", push(app, "refs/heads/experiment"))
    assert "no matching rule for branch experiment" in r.json()["reason"]
    event = requests.get(f"{api.url}/api/v1/events/{r.json()['event']}", headers=api.headers()).json()
    assert event["decision"] == [] and "no matching rule" in event["reason"]


def test_bad_signature_is_401_and_stores_nothing(api, app):
    for sig in ("", "sha256=" + "0" * 64, "sha1=abc"):
        r = deliver(api, "push", push(app, "refs/heads/development"), delivery=f"bad-{app}-{len(sig)}", signature=sig)
        assert r.status_code == 401 and "X-Hub-Signature-256" in r.json()["Message"]
    r = deliver(api, "push", push(app, "refs/heads/development"), secret="wrong-secret")
    assert r.status_code == 401 and "test-webhook-secret" not in r.text
    assert jobs_of(api, app) == [] and EventModel.count(f"1:bad-{app}-0") == 0


@pytest.mark.parametrize("body, ctype, status, words", [
    (b"{not json", "application/json", 400, "not valid JSON"),
    (b"[]", "application/json", 400, "must be an object"),
    (b"\xff\xfe\xfd", "application/json", 400, "not UTF-8"),
    (b"{}", "text/plain", 415, "Unsupported Media Type"),
])
def test_malformed_bodies_get_a_clear_4xx(api, body, ctype, status, words):
    r = deliver(api, "push", body, content_type=ctype)
    assert r.status_code == status, r.text
    assert words.lower() in r.text.lower()


def test_missing_event_header_is_400(api):
    r = requests.post(f"{api.url}/api/v1/hooks/github", data=b"{}", headers={
        "Content-Type": "application/json", "X-GitHub-Delivery": "x", "X-Hub-Signature-256":
        __import__("functions.providers.github", fromlist=["sign"]).sign(api.secret, b"{}")})
    assert r.status_code == 400 and "X-GitHub-Event" in r.json()["Message"]


def test_body_over_the_limit_is_413(api):
    body = b'{"pad": "' + b"x" * (10 * 1024 * 1024) + b'"}'
    r = deliver(api, "push", body)
    assert r.status_code == 413 and "TAHOBUDDY_MAX_BODY" in r.json()["Message"]


def test_form_encoded_delivery_works(api, app):
    import urllib.parse
    body = urllib.parse.urlencode({"payload": json.dumps(push(app, "refs/heads/development"))}).encode()
    r = deliver(api, "push", body, content_type="application/x-www-form-urlencoded")
    assert r.status_code == 200 and len(r.json()["jobs"]) == 1


def test_payload_over_dynamodb_item_limit_is_stored_whole_and_processed(api, app):
    import os
    doc = push(app, "refs/heads/development")
    doc["commits"] = [{"id": os.urandom(20).hex(), "message": os.urandom(300).hex()} for _ in range(1500)]
    raw = json.dumps(doc).encode()
    assert len(raw) > 400 * 1024 and len(gzip.compress(raw)) > 300 * 1024
    r = deliver(api, "push", raw)
    assert r.status_code == 200 and len(r.json()["jobs"]) == 1
    event = requests.get(f"{api.url}/api/v1/events/{r.json()['event']}", params={"payload": "1"},
                         headers=api.headers()).json()
    assert event["payload_in_s3"] and event["payload"].encode() == raw


def test_a_catastrophic_regex_answers_in_milliseconds(api):
    name = unique("redos")
    put_app(api, docker_app(name, rules=[{"name": "r", "match": {"tag_regex": "(a+)+b"}, "target": {"type": "docker"}}]))
    deliver(api, "push", push(name, "refs/tags/warm-up", created=True))  # first call pays the import
    started = time.perf_counter()
    r = deliver(api, "push", push(name, "refs/tags/" + "a" * 40 + "c", created=True))
    took = time.perf_counter() - started
    assert r.status_code == 200 and r.json()["jobs"] == [] and "no matching rule" in r.json()["reason"]
    assert took < 2.0, f"{took:.3f}s"  # over loopback HTTP and moto; a backtracking engine takes minutes
    hit = deliver(api, "push", push(name, "refs/tags/" + "a" * 40 + "b", created=True))
    assert len(hit.json()["jobs"]) == 1


@pytest.mark.parametrize("pattern", [r"(v\d+)-\1", r"release-(?=\d)", r"(?<!rc)\d+$"])
def test_a_regex_re2_cannot_run_is_refused_when_the_app_is_saved(api, pattern):
    spec = docker_app(unique("refused"), rules=[{"match": {"tag_regex": pattern}, "target": {"type": "docker"}}])
    r = requests.put(f"{api.url}/api/v1/apps/{spec['name']}", json=spec, headers=api.headers(), timeout=30)
    message = r.json()["Message"]
    assert r.status_code == 400 and message.startswith("rules[0].match.tag_regex:"), r.text
    assert "RE2" in message and "linear time" in message and "no backreferences" in message


@pytest.mark.parametrize("length", [256, 100_000])
def test_a_ref_longer_than_255_bytes_is_ignored_with_the_reason(api, app, length):
    r = deliver(api, "push", push(app, "refs/tags/release-" + "9" * (length - 8), created=True))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["action"] == "ignored" and body["jobs"] == [] and "the limit is 255" in body["reason"]
    assert len(body["reason"]) < 300  # the ref is cut short in the stored reason
    assert deliver(api, "push", push(app, "refs/tags/release-" + "9" * 247, created=True)).json()["jobs"]
