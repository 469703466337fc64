"""The heroku target through the real agent, against a stand-in that enforces Heroku's schema."""
import pytest
import requests

from runners import heroku_convert as hc
from tests.helpers import push_job, unique
from tests.heroku_standin import HerokuStandIn, Schema
from tests.realparts import GitRepo, job_log, wait_job

pytestmark = pytest.mark.functional
KEY = "hk-valid-key-0123456789"


def test_our_requests_are_valid_under_herokus_schema_and_the_checker_is_strict():
    schema = Schema()
    req = hc.create_build("my-app", "https://example.com/blob", "a" * 40, "b" * 64)
    link = schema.link(req.method, req.path)
    assert link and link["title"] == "Create" and schema.errors(link.get("schema"), req.body) == []
    assert schema.link("POST", hc.create_source().path)["title"] == "Create"
    assert schema.link("GET", hc.build_info("my-app", "0-1").path)["title"] == "Info"
    bad = {"source_blob": {**req.body["source_blob"], "colour": "red"}}
    assert schema.errors(link["schema"], bad) and schema.errors(link["schema"], {})
    formation = schema.link("PATCH", "/apps/my-app/formation")
    assert schema.errors(formation["schema"], {"updates": [{"type": "web", "docker_image": "sha256:0"}]}), \
        "the published schema has no docker_image (only docker_releases_schema in the stand-in allows it)"


@pytest.fixture(scope="module")
def heroku():
    stand_in = HerokuStandIn({"tb-ok": "succeed", "tb-broken": "fail", "tb-slow": "pending"}, {KEY})
    yield stand_in
    stand_in.stop()


@pytest.fixture
def agent(start_agent):
    return start_agent("heroku", extra={"HEROKU_API_KEY": KEY, "WRONG_KEY": "hk-revoked-9999"})


def heroku_job(api, heroku, tmp_path, heroku_app, key="secret:HEROKU_API_KEY", timeout=120) -> dict:
    repo = GitRepo(tmp_path / unique("web"))
    repo.write({"Procfile": "web: python -m http.server $PORT\n", "app/main.py": "print('hi')\n"})
    name = unique("hk")
    r = requests.put(f"{api.url}/api/v1/apps/{name}", headers=api.headers(), timeout=30, json={
        "name": name, "repository": str(repo.origin), "rules": [{"name": "prod", "match": {"tag": "release-*"},
            "target": {"type": "heroku", "app": heroku_app, "api_key": key, "api_url": heroku.url,
                       "timeout": timeout}}]})
    assert r.status_code == 201, r.text
    sha = repo.commit_and_tag("web", "release-1")
    return wait_job(api, push_job(api, repo, "refs/tags/release-1", sha, created=True), timeout=120)


def test_build_flow_deploys_and_streams_the_build_output(api, heroku, agent, tmp_path):
    job = heroku_job(api, heroku, tmp_path, "tb-ok")
    log = job_log(api, job["id"])
    assert job["state"] == "succeeded" and "release" in job["reason"], log
    assert "[heroku] -----> Build succeeded!" in log and "[heroku]        Procfile" in log
    assert ("POST", "/sources") in heroku.requests and ("POST", "/apps/tb-ok/builds") in heroku.requests
    assert KEY not in log and heroku.violations == []


@pytest.mark.parametrize("heroku_app, key, timeout, words", [
    ("tb-broken", "secret:HEROKU_API_KEY", 120, "failed (see the build output"),
    ("tb-ok", "secret:WRONG_KEY", 120, "refused the API key (401)"),
    ("tb-missing", "secret:HEROKU_API_KEY", 120, "has no app 'tb-missing'"),
    ("tb-slow", "secret:HEROKU_API_KEY", 3, "still pending after 3s"),
    ("tb-ok", "secret:NOT_ON_THIS_AGENT", 120, "secret NOT_ON_THIS_AGENT is not set"),
])
def test_failures_end_the_job_with_a_reason(api, heroku, agent, tmp_path, heroku_app, key, timeout, words):
    job = heroku_job(api, heroku, tmp_path, heroku_app, key, timeout)
    assert job["state"] == "failed" and words in job["reason"], (job["reason"], job_log(api, job["id"]))
    assert heroku.violations == []
