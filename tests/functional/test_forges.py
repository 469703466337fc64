"""GitLab, Gitea and Forgejo over real HTTP: chalice local in front of moto server, and a real
agent deploying a tag through a shell target from a local git origin the payload names."""
import functools
import hashlib
import hmac
import json
import os
import sys
import uuid
from pathlib import Path

import pytest
import requests

from local import procs
from tests import helpers
from tests.helpers import deliver, jobs_of, push, put_app, unique
from tests.realparts import AgentProcess, GitRepo, job_log, wait_job

pytestmark = pytest.mark.functional
shell_app = functools.partial(helpers.shell_app, prefix="forge", rule="release", match={"tag": "v*"})
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "providers"
PATHS = {"gitlab": "platform/web/blog", "gitea": "gitea/webhooks", "forgejo": "gitea/webhooks"}
HOSTS = {"gitlab": "gitlab.example.com", "gitea": "gitea.example.com", "forgejo": "code.example.org"}
FORGES = ["gitlab", "gitea", "forgejo"]
GITLAB_HOOK = "7c4e4a4b-2b4e-4c1e-9a8b-3f0d1d2b6a11"  # X-Gitlab-Webhook-UUID in the fixtures


class Hook:
    """One forge's deliveries for one test's repository: fixtures with the path made unique."""

    def __init__(self, api, forge: str, path: str | None = None):
        self.api, self.forge = api, forge
        self.path = path or f"{PATHS[forge].split('/')[0]}/{unique('repo')}"
        self.repository = f"https://{HOSTS[forge]}/{self.path}.git"

    def body(self, case: str, replace: dict | None = None) -> tuple[dict, bytes]:
        doc = json.loads((FIXTURES / self.forge / f"{case}.json").read_text())
        text = json.dumps(doc["payload"]).replace(PATHS[self.forge], self.path)
        for old, new in (replace or {}).items():
            text = text.replace(old, new)
        return doc["headers"], text.encode()

    def headers(self, headers: dict, body: bytes, secret: str | None, delivery: str | None = None) -> dict:
        out, delivery = dict(headers), delivery or str(uuid.uuid4())
        if self.forge == "gitlab":
            out.update({"Idempotency-Key": delivery, "X-Gitlab-Event-UUID": delivery})
            if secret is not None:
                out["X-Gitlab-Token"] = secret
        else:
            word = self.forge.capitalize()
            out[f"X-{word}-Delivery"] = delivery
            if secret is not None:
                out[f"X-{word}-Signature"] = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        return out

    def send(self, case: str, *, secret: str | None = "default", delivery: str | None = None, replace=None,
             url: str | None = None) -> requests.Response:
        headers, body = self.body(case, replace)
        secret = self.api.secret if secret == "default" else secret
        return requests.post(f"{url or self.api.url}/api/v1/hooks/{self.forge}", data=body,
                             headers=self.headers(headers, body, secret, delivery), timeout=60)


@pytest.mark.parametrize("forge", FORGES)
def test_a_tag_queues_one_job_and_its_redelivery_is_the_same_job(api, forge):
    hook = Hook(api, forge)
    app = shell_app(api, hook.repository)
    first = hook.send("tag_push", delivery=f"d-{app}")
    assert first.status_code == 200, first.text
    assert first.json()["action"] == "tag_created" and len(first.json()["jobs"]) == 1
    again = hook.send("tag_push", delivery=f"d-{app}")
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    assert again.json()["jobs"] == first.json()["jobs"]
    [job] = jobs_of(api, app)
    assert (job["ref"], job["sha"]) == ("refs/tags/v1.0.0", "da1560886d4f094c3e6c9ef40349f7d38b5d27d7")
    event = requests.get(f"{api.url}/api/v1/events/{first.json()['event']}", headers=api.headers(), timeout=10).json()
    assert event["summary"]["repository"] == f"{HOSTS[forge]}/{hook.path}".lower()


@pytest.mark.parametrize("forge", ["gitea", "forgejo"])
def test_push_and_create_of_one_new_tag_are_one_job(api, forge):
    hook = Hook(api, forge)
    app = shell_app(api, hook.repository)
    pushed, created = hook.send("tag_push"), hook.send("create_tag")
    assert created.json()["decision"][0]["outcome"] == "duplicate"
    assert created.json()["jobs"] == pushed.json()["jobs"] and len(jobs_of(api, app)) == 1


def test_gitlab_retry_keeps_its_idempotency_key_and_is_one_event(api):
    hook = Hook(api, "gitlab")
    app = shell_app(api, hook.repository)
    headers, body = hook.body("tag_push")
    sent = []
    for event_uuid in ("first-try", "second-try"):  # GitLab may change the event UUID; the key stays
        h = {**hook.headers(headers, body, api.secret, delivery=f"key-{app}"), "X-Gitlab-Event-UUID": event_uuid}
        sent.append(requests.post(f"{api.url}/api/v1/hooks/gitlab", data=body, headers=h, timeout=60).json())
    assert sent[0]["event"] == sent[1]["event"] and sent[1]["status"] == "duplicate"
    assert len(jobs_of(api, app)) == 1


@pytest.mark.parametrize("forge", FORGES)
def test_bad_or_missing_signature_is_401_stores_nothing_and_never_shows_the_secret(api, forge):
    hook = Hook(api, forge)
    app = shell_app(api, hook.repository)
    for secret, hint in (("not-the-secret", "match"), (None, "missing")):
        delivery = str(uuid.uuid4())
        r = hook.send("tag_push", secret=secret, delivery=delivery)
        assert r.status_code == 401 and hint in r.json()["Message"], r.text
        assert api.secret not in r.text
        event_id = f"gitlab:{GITLAB_HOOK}:{delivery}" if forge == "gitlab" else f"{forge}:{delivery}"
        assert requests.get(f"{api.url}/api/v1/events/{event_id}", headers=api.headers(), timeout=10).status_code == 404
    assert jobs_of(api, app) == []


@pytest.mark.parametrize("forge, case, action", [
    ("gitlab", "test_tag_push", "ping"), ("gitlab", "merge_request_title_edit", "ignored"),
    ("gitlab", "tag_delete", "deleted"), ("gitlab", "branch_delete", "deleted"),
    ("gitea", "pull_request_edited", "ignored"), ("gitea", "delete_tag", "deleted"),
    ("forgejo", "pull_request_edited", "ignored"),
    ("forgejo", "test_delivery", "branch_push")])
def test_tests_deletes_and_merge_requests_deploy_nothing(api, forge, case, action):
    hook = Hook(api, forge)
    app = shell_app(api, hook.repository)
    r = hook.send(case)
    assert r.status_code == 200 and r.json()["action"] == action and r.json()["jobs"] == [], r.text
    assert r.json()["reason"] and jobs_of(api, app) == []


def test_gitlab_nested_group_app_saved_with_its_ssh_url_matches(api):
    hook = Hook(api, "gitlab", path=f"platform/{unique('sub')}/deeper/blog")
    app = shell_app(api, f"git@gitlab.example.com:{hook.path}.git")
    r = hook.send("tag_push")
    assert r.status_code == 200 and [d["app"] for d in r.json()["decision"]] == [app]


@pytest.fixture(scope="module")
def api_with_provider_secrets(moto, admin_token, tmp_path_factory):
    """A second chalice local whose GitLab and Forgejo hooks have secrets of their own."""
    from tests.conftest import Api
    root, port = Path(__file__).resolve().parents[2], procs.free_port()
    env = {**os.environ, "TAHOBUDDY_GITLAB_SECRET": "gitlab-only", "TAHOBUDDY_FORGEJO_SECRET": "forgejo-only",
           "TAHOBUDDY_GITEA_SECRET": "gitea-only"}
    proc = procs.start([sys.executable, "-m", "local.api", "--host", "127.0.0.1", "--port", str(port), "--stage", "dev",
                        "--no-autoreload"], str(tmp_path_factory.mktemp("chalice") / "chalice.log"), env=env,
                       cwd=str(root))
    try:
        procs.wait_http(f"http://127.0.0.1:{port}/api/v1/health", proc=proc, timeout=60)
        yield Api(f"http://127.0.0.1:{port}", admin_token, os.environ["TAHOBUDDY_WEBHOOK_SECRET"])
    finally:
        procs.stop(proc)


def test_a_provider_secret_overrides_the_webhook_secret_for_that_provider_only(api_with_provider_secrets):
    api = api_with_provider_secrets
    for forge, own in (("gitlab", "gitlab-only"), ("forgejo", "forgejo-only"), ("gitea", "gitea-only")):
        hook = Hook(api, forge)
        shell_app(api, hook.repository, forge=forge)
        with_default = hook.send("tag_push")
        assert with_default.status_code == 401 and own not in with_default.text
        assert hook.send("tag_push", secret=own).status_code == 200
    github = deliver(api, "push", push(unique("gh"), "refs/tags/v1"))  # no override: the one secret verifies
    assert github.status_code == 200, github.text


@pytest.mark.parametrize("forge", FORGES)
def test_a_forge_secret_never_deploys_another_forges_repository(api_with_provider_secrets, forge):
    """The attack: signed with only this forge's secret, a delivery names a GitHub app's repository."""
    api, name = api_with_provider_secrets, unique("gh")
    put_app(api, {"name": name, "repository": f"https://github.com/me/{name}.git", "rules": [
        {"name": "production", "match": {"tag": "v*"}, "target": {"type": "shell", "commands": [["true"]]}}]})
    hook = Hook(api, forge)
    headers, body = hook.body("tag_push", replace={f"{HOSTS[forge]}/{hook.path}": f"github.com/me/{name}",
                                                   f"{HOSTS[forge]}:{hook.path}": f"github.com:me/{name}"})
    r = requests.post(f"{api.url}/api/v1/hooks/{forge}", data=body, timeout=60,
                      headers=hook.headers(headers, body, f"{forge}-only"))
    assert r.status_code == 200 and r.json()["jobs"] == [], r.text
    assert jobs_of(api, name) == []
    event = requests.get(f"{api.url}/api/v1/events/{r.json()['event']}", headers=api.headers(), timeout=10).json()
    assert event["summary"]["repository"] == f"github.com/me/{name}"  # the payload did name the GitHub app's repository
    assert f"no {forge} app uses repository" in event["reason"] and f"{name} (github)" in event["reason"], event


@pytest.mark.parametrize("forge", FORGES)
def test_a_tag_pushed_to_the_forge_deploys_through_a_shell_target(api, agent_token, tmp_path, empty_queue, forge):
    repo = GitRepo(tmp_path / "repo")
    repo.write({"hello.txt": f"hello from {forge}\n"})
    sha = repo.commit_and_tag("release one", tag="v1.0.0")
    hook = Hook(api, forge)
    origin = str(repo.origin)
    app = shell_app(api, origin, [["sh", "-c", 'echo "deployed $TAHOBUDDY_REF at $TAHOBUDDY_SHA"'],
                                  ["cat", "hello.txt"]], forge=forge)  # a local path: github unless named
    agent = AgentProcess(api, agent_token, tmp_path, targets="shell", name=f"{forge}-agent")
    clone_url = {"gitlab": "git_http_url", "gitea": "clone_url", "forgejo": "clone_url"}[forge]
    url = f"https://{HOSTS[forge]}/{hook.path}.git"
    commit = "da1560886d4f094c3e6c9ef40349f7d38b5d27d7"
    headers, body = hook.body("tag_push", replace={commit: sha})
    doc = json.loads(body)
    holder = doc["project"] if forge == "gitlab" else doc["repository"]
    assert holder[clone_url] == url
    holder[clone_url] = origin  # the clone URL the forge names is the local origin
    body = json.dumps(doc).encode()
    r = requests.post(f"{api.url}/api/v1/hooks/{forge}", data=body, headers=hook.headers(headers, body, api.secret),
                      timeout=60)
    assert r.status_code == 200 and [d["app"] for d in r.json()["decision"]] == [app], r.text
    job = wait_job(api, r.json()["jobs"][0])
    agent.stop()
    log = job_log(api, job["id"])
    assert (job["state"], job["sha"]) == ("succeeded", sha), job
    assert f"deployed refs/tags/v1.0.0 at {sha}" in log and f"hello from {forge}" in log
