"""The management and agent API over real HTTP."""
import threading

import boto3
import pytest
import requests

from functions.config import boto_kwargs, settings
from tests.helpers import SHA1, deliver, docker_app, jobs_of, push, put_app, unique

pytestmark = pytest.mark.functional


def call(api, method, path, token=None, **kw):
    headers = {"Authorization": f"Bearer {token or api.token}", **kw.pop("headers", {})}
    return requests.request(method, f"{api.url}/api/v1{path}", headers=headers, timeout=30, **kw)


_SESSIONS: dict = {}
ALL_TARGETS = ["ansible", "aws-ecs", "docker", "heroku", "shell"]


def register(api, token, agent, pool="default", targets=None) -> str:
    r = call(api, "POST", "/agents/register", token, json={"agent_id": agent, "pool": pool,
                                                             "targets": targets or ALL_TARGETS})
    assert r.status_code == 201, r.text
    _SESSIONS[(token, agent)] = r.json()["session"]
    return r.json()["session"]


def agent_call(api, token, agent, path, body=None):
    """A call of the agent API as agent `agent` (registered once, with the agent token `token`)."""
    session = _SESSIONS.get((token, agent)) or register(api, token, agent)
    return call(api, "POST", path, session, json=body or {})


def test_management_needs_a_token_of_the_right_role(api, agent_token):
    assert requests.get(f"{api.url}/api/v1/apps", timeout=10).status_code == 401
    assert call(api, "GET", "/apps", token="tb_admin_forged").status_code == 401
    r = call(api, "GET", "/apps", token=agent_token)
    assert r.status_code == 403 and "agent token cannot" in r.json()["Message"]


def test_tokens_are_stored_only_as_digests(api):
    token = call(api, "POST", "/tokens", json={"role": "agent", "name": "home-server"}).json()["token"]
    ddb = boto3.client("dynamodb", **boto_kwargs())
    dump = str(ddb.scan(TableName=settings().table("tokens"))["Items"])
    assert token not in dump and "home-server" in dump
    assert call(api, "GET", "/apps", token=token).status_code == 403


def test_app_lifecycle(api):
    name = unique("crud")
    assert call(api, "POST", "/apps", json=docker_app(name)).status_code == 201
    assert call(api, "POST", "/apps", json=docker_app(name)).status_code == 409
    assert call(api, "PUT", f"/apps/{name}", json={**docker_app(name), "hostname": "x.example.com"}).status_code == 200
    assert call(api, "GET", f"/apps/{name}").json()["hostname"] == "x.example.com"
    assert name in [a["name"] for a in call(api, "GET", "/apps").json()["apps"]]
    assert call(api, "DELETE", f"/apps/{name}").status_code == 200
    assert call(api, "GET", f"/apps/{name}").status_code == 404
    assert call(api, "DELETE", f"/apps/{name}").status_code == 404


@pytest.mark.parametrize("change, field", [
    ({"port": "eighty"}, "port"),
    ({"rules": [{"match": {"tag": "v*"}, "target": {"type": "heroku", "api_key": "secret:K"}}]}, "rules[0].target.app"),
    ({"rules": [{"match": {"tag": "v*"}, "target": {"type": "rocket"}}]}, "rules[0].target.type"),
    ({"rules": [{"match": {"tag": "v*"}, "target": {"type": "heroku", "app": "a", "api_key": "abc"}}]},
     "rules[0].target.api_key"),
])
def test_bad_app_is_refused_naming_the_field(api, change, field):
    name = unique("bad")
    r = call(api, "PUT", f"/apps/{name}", json={**docker_app(name), **change})
    assert r.status_code == 400 and r.json()["Message"].startswith(field), r.text


def test_bad_json_body_is_400(api):
    r = call(api, "PUT", "/apps/x", data=b"{oops", headers={"Content-Type": "application/json"})
    assert r.status_code == 400


@pytest.mark.parametrize("body", [{"from": {}, "to": ""}, {"from": ["web"], "to": "web"}, {"from": None}])
def test_a_promotion_naming_its_rules_with_other_than_names_is_400(api, body):
    # schemathesis found `{"from": {}}` answered 500 (a dict is no key of the rules)
    name = unique("promote")
    assert call(api, "PUT", f"/apps/{name}", json=docker_app(name)).status_code in (200, 201)
    r = call(api, "POST", f"/apps/{name}/promote", json=body)
    assert r.status_code == 400 and r.json()["Message"].startswith("from"), r.text
    call(api, "DELETE", f"/apps/{name}")


def test_manual_deploy_and_cancel_of_a_queued_job(api):
    name = unique("manual")
    put_app(api, docker_app(name))
    r = call(api, "POST", f"/apps/{name}/deploy", json={"ref": "release-7"})
    assert r.status_code == 201, r.text
    [job] = r.json()["jobs"]
    assert (job["rule"], job["ref"], job["trigger"]) == ("release", "refs/tags/release-7", "manual")
    again = call(api, "POST", f"/apps/{name}/deploy", json={"ref": "release-7"}).json()["jobs"][0]
    assert again["id"] != job["id"]  # a manual deploy is always a new job
    canceled = call(api, "POST", f"/jobs/{job['id']}/cancel", json={"reason": "not today"}).json()
    assert canceled["state"] == "canceled" and "not today" in canceled["reason"]
    assert call(api, "POST", f"/jobs/{job['id']}/cancel").json()["state"] == "canceled"  # idempotent
    assert call(api, "POST", f"/apps/{name}/deploy", json={"ref": "nomatch"}).status_code == 400
    assert call(api, "POST", f"/apps/{name}/deploy", json={"ref": "x", "sha": "12"}).status_code == 400


def _queued_job(api):
    name = unique("agentjob")
    put_app(api, docker_app(name))
    return deliver(api, "push", push(name, "refs/heads/development")).json()["jobs"][0], name


def test_two_agents_claiming_one_job_only_one_wins(api, agent_token):
    job_id, _ = _queued_job(api)
    results = {}

    def claim(agent):
        results[agent] = agent_call(api, agent_token, agent, f"/agent/jobs/{job_id}/claim")

    threads = [threading.Thread(target=claim, args=(f"agent-{i}",)) for i in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    winners = [a for a, r in results.items() if r.status_code == 200 and r.json()["run"]]
    assert len(winners) == 1
    assert all(r.status_code == 409 for a, r in results.items() if a not in winners)
    job = call(api, "GET", f"/jobs/{job_id}").json()
    assert (job["state"], job["agent_id"], job["attempts"]) == ("running", winners[0], 1)


def test_agent_lifecycle_logs_and_finish(api, agent_token):
    job_id, _ = _queued_job(api)
    claim = agent_call(api, agent_token, "a1", f"/agent/jobs/{job_id}/claim").json()
    assert claim["run"] and claim["app"]["rules"] and claim["job"]["sha"] == SHA1
    assert agent_call(api, agent_token, "a1", f"/agent/jobs/{job_id}/heartbeat").json()["cancel"] is False
    for first, lines in ((1, ["step 1", "step 2"]), (3, ["step 3"]), (1, ["step 1", "step 2"])):  # retry repeats
        assert agent_call(api, agent_token, "a1", f"/agent/jobs/{job_id}/logs",
                          {"first_seq": first, "lines": lines}).status_code == 200
    assert agent_call(api, agent_token, "intruder", f"/agent/jobs/{job_id}/logs",
                      {"first_seq": 4, "lines": ["x"]}).status_code == 409
    logs = call(api, "GET", f"/jobs/{job_id}/logs").json()
    assert [row["line"] for row in logs["lines"]] == ["step 1", "step 2", "step 3"]
    assert [row["line"] for row in call(api, "GET", f"/jobs/{job_id}/logs", params={"after": 2}).json()["lines"]] \
        == ["step 3"]
    r = call(api, "POST", f"/jobs/{job_id}/cancel", json={"reason": "stop it"})
    assert r.json()["cancel_requested"] == "stop it"
    beat = agent_call(api, agent_token, "a1", f"/agent/jobs/{job_id}/heartbeat").json()
    assert beat == {**beat, "cancel": True, "cancel_reason": "stop it"}
    assert agent_call(api, agent_token, "other", f"/agent/jobs/{job_id}/finish", {"state": "succeeded"}).status_code \
        == 409
    done = agent_call(api, agent_token, "a1", f"/agent/jobs/{job_id}/finish",
                      {"state": "canceled", "reason": "canceled: stop it", "exit_code": -15}).json()
    assert (done["state"], done["exit_code"]) == ("canceled", -15)
    assert agent_call(api, agent_token, "a1", f"/agent/jobs/{job_id}/finish", {"state": "failed"}).status_code == 409
    assert agent_call(api, agent_token, "a1", f"/agent/jobs/{job_id}/claim").json()["run"] is False


def test_older_job_is_superseded_by_a_newer_one_of_the_same_target(api, agent_token):
    name = unique("latest")
    put_app(api, docker_app(name))
    old = deliver(api, "push", push(name, "refs/heads/development", sha="1" * 40)).json()["jobs"][0]
    new = deliver(api, "push", push(name, "refs/heads/development", sha="2" * 40)).json()["jobs"][0]
    r = agent_call(api, agent_token, "a1", f"/agent/jobs/{old}/claim").json()
    assert r["run"] is False and r["state"] == "superseded"
    assert call(api, "GET", f"/jobs/{old}").json()["reason"] == f"superseded by newer job {new}"
    assert agent_call(api, agent_token, "a1", f"/agent/jobs/{new}/claim").json()["run"] is True


def test_release_hands_a_job_back_and_attempts_are_bounded(api, agent_token):
    job_id, _ = _queued_job(api)
    for attempt in range(settings().max_attempts):
        assert agent_call(api, agent_token, "a1", f"/agent/jobs/{job_id}/claim").json()["run"], attempt
        r = agent_call(api, agent_token, "a1", f"/agent/jobs/{job_id}/release", {"reason": "agent stopping"})
        assert r.json()["state"] == "queued"
    r = agent_call(api, agent_token, "a1", f"/agent/jobs/{job_id}/claim").json()
    assert r["run"] is False and r["state"] == "failed"
    assert "gave up after" in call(api, "GET", f"/jobs/{job_id}").json()["reason"]


def test_events_and_jobs_listings(api):
    job_id, name = _queued_job(api)
    assert job_id in [j["id"] for j in call(api, "GET", "/jobs", params={"limit": 500}).json()["jobs"]]
    assert [j["id"] for j in jobs_of(api, name)] == [job_id]
    assert call(api, "GET", "/jobs", params={"limit": "x"}).status_code == 400
    assert call(api, "GET", "/jobs/nope").status_code == 404
    mine = [deliver(api, "ping", {"zen": "x", "hook_id": 1}).json()["event"] for _ in range(3)]
    events = call(api, "GET", "/events", params={"limit": 2}).json()["events"]
    assert len(events) == 2 and events[0]["received_at"] >= events[1]["received_at"]
    newest = call(api, "GET", "/events", params={"limit": 500}).json()["events"]
    ids = [e["id"] for e in newest]
    assert all(m in ids for m in mine) and ids.index(mine[2]) < ids.index(mine[0])  # newest first


def test_the_agent_id_comes_from_the_session_never_from_a_header(api, agent_token):
    job_id, _ = _queued_job(api)
    first = register(api, agent_token, unique("a"))
    other_id = unique("b")
    other = register(api, agent_token, other_id)
    assert call(api, "POST", f"/agent/jobs/{job_id}/claim", agent_token).status_code == 403  # not a session
    claimed = call(api, "POST", f"/agent/jobs/{job_id}/claim", first).json()
    assert claimed["run"] is True
    # the other agent's session cannot report for the job, whatever header it sends
    r = call(api, "POST", f"/agent/jobs/{job_id}/finish", other, json={"state": "succeeded"},
             headers={"X-Tahobuddy-Agent": claimed["job"]["agent_id"]})
    assert r.status_code == 409, r.text
    # a restart of the same agent id replaces its session: the old one is refused
    again = register(api, agent_token, other_id)
    r = call(api, "POST", "/agents/heartbeat", other, json={"state": "idle"})
    assert r.status_code == 401 and "registered again" in r.json()["Message"]
    assert call(api, "POST", "/agents/heartbeat", again, json={"state": "idle"}).status_code == 200
    bad = call(api, "POST", "/agents/register", agent_token, json={"agent_id": "x", "pool": "nowhere",
                                                                    "targets": ["shell"]})
    assert bad.status_code == 400 and bad.json()["Message"].startswith("pool: unknown pool 'nowhere'")
    bad = call(api, "POST", "/agents/heartbeat", again, json={"state": 3})
    assert bad.status_code == 400 and bad.json()["Message"] == "state: must be a string"
