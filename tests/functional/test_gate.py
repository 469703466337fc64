"""Every way in makes jobs through one gate (STYLE §21): a pull request's code never becomes a
production deploy, whatever button, route or replay asks for it.

The attack (issue 23, item 1): a signed pull_request from a fork is refused, correctly; then the
dashboard's Redeploy on that refused job, `POST /apps/{name}/deploy` naming the pull_request rule, a
rollback naming it, or `dlq replay` of a preview or teardown job each queued a job with `preview: 0`,
the fork's commit, the app's production route and network, and the rule's build secrets. Through the
real `chalice local`, the dashboard signed in with its session cookie and CSRF token."""
import copy
import json
import re

import boto3
import pytest
import requests

from functions.config import boto_kwargs
from functions.dispatch import queue
from tests.functional.test_github_previews import pr_example  # noqa: F401 - the fixture
from tests.helpers import deliver, jobs_of, put_app, unique
from tests.realparts import queue_counts

pytestmark = pytest.mark.functional
FORK_SHA, OWN_SHA = "f" * 40, "a" * 40
SECRETS = {"npm": "secret:NPM_TOKEN"}


class Blog:
    """An app with a production rule and a preview rule, both with build secrets."""

    def __init__(self, api, example, pool: str = "default"):
        self.api, self.example, self.name = api, example, unique("gate")
        self.repo = f"octo/{self.name}"
        put_app(api, {"name": self.name, "repository": f"https://github.com/{self.repo}.git",
                      "hostname": f"{self.name}.example.com", "rules": [
                          {"name": "production", "match": {"branch": "main"},
                           "target": {"type": "docker", "build_secrets": SECRETS}},
                          {"name": "previews", "match": {"pull_request": {"base": "main"}},
                           "target": {"type": "docker", "pool": pool, "build_secrets": SECRETS}}]})

    def pull_request(self, action: str, number: int, sha: str, fork: bool = False) -> dict:
        doc = copy.deepcopy(self.example)
        doc.update(action=action, number=number)
        pr = doc["pull_request"]
        pr.update(number=number, author_association="CONTRIBUTOR" if fork else "OWNER")
        pr["head"].update(sha=sha, ref="feature")
        pr["head"]["repo"].update(full_name=f"mallory/{self.name}" if fork else self.repo, fork=fork)
        pr["base"]["ref"] = "main"
        doc["repository"].update(full_name=self.repo, clone_url=f"https://github.com/{self.repo}.git")
        r = deliver(self.api, "pull_request", doc)
        assert r.status_code == 200, r.text
        return r.json()

    def jobs(self) -> list[dict]:
        return jobs_of(self.api, self.name)

    def production_from_a_pull_request(self) -> list[dict]:
        """Jobs that would run a pull request's code as production, or with build secrets."""
        return [j for j in self.jobs() if (j["ref"].startswith(("refs/pull/", "refs/merge-requests/"))
                                           or j["rule"] == "previews")
                and (not j["preview"] or "build_secrets" in j["target"] or not j["target"].get("preview"))]

    def deploy(self, body: dict) -> requests.Response:
        return requests.post(f"{self.api.url}/api/v1/apps/{self.name}/deploy", json=body, headers=self.api.headers(),
                             timeout=30)


def dashboard(api) -> requests.Session:
    s = requests.Session()
    r = s.post(f"{api.url}/login", data={"token": api.token, "next": "/apps"}, allow_redirects=False, timeout=30)
    assert r.status_code == 303 and s.cookies, r.text
    return s


def csrf(session: requests.Session, api, path: str) -> tuple[str, str]:
    page = session.get(f"{api.url}{path}", timeout=30)
    assert page.status_code == 200, page.text
    return page.text, re.search(r'name="csrf" value="([0-9a-f]+)"', page.text).group(1)


def dead_letter(pool: str) -> None:
    """Receive the pool's messages past maxReceiveCount, as bouncing agents would: SQS moves every one to
    the pool's DLQ."""
    sqs = boto3.client("sqs", **boto_kwargs())
    for _ in range(40):
        sqs.receive_message(QueueUrl=queue.url(pool), MaxNumberOfMessages=1, VisibilityTimeout=0, WaitTimeSeconds=0)
        if queue_counts(pool) == (0, 0):
            break
    assert queue_counts(pool) == (0, 0), f"messages left in {pool}: {queue_counts(pool)}"


def test_a_refused_fork_pull_request_never_becomes_a_production_deploy(api, pr_example, empty_queue):  # noqa: F811
    blog = Blog(api, pr_example)
    [refused_id] = blog.pull_request("opened", 7, FORK_SHA, fork=True)["jobs"]
    [refused] = blog.jobs()
    assert (refused["state"], refused["reason_code"]) == ("failed", "refused") and "fork" in refused["reason"]

    s = dashboard(api)
    page, token = csrf(s, api, f"/jobs/{refused_id}")
    assert f"/jobs/{refused_id}/redeploy" not in page, "the dashboard offers Redeploy on a refused fork job"
    assert "fork" in page  # it says why there is no Redeploy
    r = s.post(f"{api.url}/jobs/{refused_id}/redeploy", data={"csrf": token}, allow_redirects=False, timeout=30)
    assert r.status_code == 403 and "fork" in r.text, (r.status_code, r.text[-400:])

    r = blog.deploy({"ref": "refs/pull/7/head", "sha": FORK_SHA, "rule": "previews"})
    assert r.status_code == 403 and "fork" in r.text, r.text
    r = blog.deploy({"ref": "refs/pull/7/head", "sha": FORK_SHA, "rule": "production"})
    assert r.status_code == 403 and "pull request" in r.text, r.text
    r = blog.deploy({"ref": "main", "sha": FORK_SHA, "rule": "previews"})
    assert r.status_code == 403 and "refs/pull/" in r.text, r.text
    r = requests.post(f"{api.url}/api/v1/apps/{blog.name}/rollback", json={"rule": "previews"},
                      headers=api.headers(), timeout=30)
    assert r.status_code == 403 and "preview" in r.text, r.text

    assert blog.production_from_a_pull_request() == []
    assert [j["id"] for j in blog.jobs()] == [refused_id], blog.jobs()


def test_redeploy_and_deploy_of_an_accepted_preview_make_preview_jobs_without_secrets(api, pr_example,  # noqa: F811
                                                                                       empty_queue):
    blog = Blog(api, pr_example)
    [first] = blog.pull_request("opened", 8, OWN_SHA)["jobs"]
    s = dashboard(api)
    page, token = csrf(s, api, f"/jobs/{first}")
    assert f"/jobs/{first}/redeploy" in page
    r = s.post(f"{api.url}/jobs/{first}/redeploy", data={"csrf": token}, allow_redirects=False, timeout=30)
    assert r.status_code == 303, r.text
    redeployed = r.headers["Location"].rsplit("/", 1)[-1]
    r = blog.deploy({"ref": "refs/pull/8/head", "rule": "previews"})
    assert r.status_code == 201, r.text
    [deployed] = r.json()["jobs"]

    for job in (j for j in blog.jobs() if j["id"] in (redeployed, deployed["id"])):
        assert job["preview"] == 8 and job["target"]["preview"]["number"] == 8, job
        assert "build_secrets" not in job["target"] and job["group"].endswith(".pr-8"), job
        assert (job["ref"], job["sha"]) == ("refs/pull/8/head", OWN_SHA), job
    assert blog.production_from_a_pull_request() == []
    listed = requests.get(f"{api.url}/api/v1/previews", params={"app": blog.name}, headers=api.headers(), timeout=30)
    assert [(p["number"], p["job_id"]) for p in listed.json()["previews"]] == [(8, deployed["id"])]


def test_dlq_replay_of_a_preview_and_of_a_teardown_stays_a_preview(api, pr_example, queue_alone):  # noqa: F811
    blog = Blog(api, pr_example, pool="spare")
    [opened] = blog.pull_request("opened", 9, OWN_SHA)["jobs"]
    dead_letter("spare")
    r = requests.post(f"{api.url}/api/v1/dlq/{opened}/replay", headers=api.headers(), timeout=30)
    assert r.status_code == 201, r.text
    again = r.json()["job"]
    assert again["preview"] == 9 and again["target"]["preview"]["number"] == 9, again
    assert "build_secrets" not in again["target"] and again["trigger"] != "teardown", again

    [teardown] = blog.pull_request("closed", 9, OWN_SHA)["jobs"]
    dead_letter("spare")   # the replayed deploy's message, then the teardown's (one group, in order)
    r = requests.post(f"{api.url}/api/v1/dlq/{teardown}/replay", headers=api.headers(), timeout=30)
    assert r.status_code == 201, r.text
    torn = r.json()["job"]
    assert torn["trigger"] == "teardown" and torn["preview"] == 9 and "build_secrets" not in torn["target"], torn
    preview = requests.get(f"{api.url}/api/v1/previews", params={"app": blog.name, "closed": "1"},
                           headers=api.headers(), timeout=30).json()["previews"]
    assert [(p["state"], p["job_id"]) for p in preview] == [("closing", torn["id"])], preview
    r = requests.post(f"{api.url}/api/v1/dlq/{opened}/replay", headers=api.headers(), timeout=30)
    assert r.status_code == 403 and "closing" in r.text, r.text  # a closed pull request's deploy is not replayed
    assert blog.production_from_a_pull_request() == []
    assert json.dumps(blog.jobs()).count("NPM_TOKEN") == 0


def retarget(blog: Blog, number: int, sha: str, new_base: str, action: str = "edited") -> dict:
    """A pull request event whose base is now `new_base` (`edited` says it changed from main)."""
    doc = copy.deepcopy(blog.example)
    doc.update(action=action, number=number, changes={"base": {"ref": {"from": "main"}, "sha": {"from": "0" * 40}}})
    pr = doc["pull_request"]
    pr.update(number=number, author_association="OWNER")
    pr["head"].update(sha=sha, ref="feature")
    pr["head"]["repo"].update(full_name=blog.repo, fork=False)
    pr["base"]["ref"] = new_base
    doc["repository"].update(full_name=blog.repo, clone_url=f"https://github.com/{blog.repo}.git")
    r = deliver(blog.api, "pull_request", doc)
    assert r.status_code == 200, r.text
    return r.json()


def previews_of(blog: Blog) -> dict[int, str]:
    r = requests.get(f"{blog.api.url}/api/v1/previews", params={"app": blog.name, "closed": "1"},
                     headers=blog.api.headers(), timeout=30)
    return {p["number"]: p["state"] for p in r.json()["previews"]}


def test_teardown_follows_the_preview_not_the_rules_current_match(api, pr_example, empty_queue):  # noqa: F811
    """Issue 23 item 7: a base changed before the close no longer lets a preview escape its teardown."""
    blog = Blog(api, pr_example)
    blog.pull_request("opened", 5, OWN_SHA)
    blog.pull_request("opened", 6, OWN_SHA)
    assert previews_of(blog) == {5: "queued", 6: "queued"}

    moved = retarget(blog, 5, OWN_SHA, "develop")           # edited: the base is no longer one the rule matches
    assert [o["outcome"] for o in moved["decision"]] == ["teardown queued (base changed to develop)"], moved
    closed = retarget(blog, 6, OWN_SHA, "develop", "closed")  # its edit was never delivered; then it closed
    assert [o["outcome"] for o in closed["decision"]] == ["teardown queued (pull request closed)"], closed
    assert previews_of(blog) == {5: "closing", 6: "closing"}
    teardowns = [j for j in blog.jobs() if j["trigger"] == "teardown"]
    assert sorted(j["preview"] for j in teardowns) == [5, 6], teardowns

    blog.pull_request("opened", 4, OWN_SHA)
    kept = retarget(blog, 4, OWN_SHA, "main")                # an edit that keeps a matching base keeps the preview
    assert [o["outcome"] for o in kept["decision"]] == ["preview kept (base main still matches)"], kept
    assert previews_of(blog)[4] == "queued"


def test_an_app_name_that_would_be_another_apps_preview_names_is_refused(api):
    """Issue 23 item 8: app x's preview 1 was tahobuddy-x-pr-1 (network, database, volume, route @id),
    the names of an app called x-pr-1; previews now use a separator app names cannot contain, and a new
    app named like another's preview is refused, saying why."""
    base = unique("names")
    first = {"name": base, "repository": f"https://github.com/octo/{base}.git", "rules": []}
    put_app(api, first)
    r = requests.put(f"{api.url}/api/v1/apps/{base}-pr-1", json={**first, "name": f"{base}-pr-1"},
                     headers=api.headers(), timeout=30)
    assert r.status_code == 409 and f"preview #1 of app {base}" in r.text, r.text
    other = unique("names")
    put_app(api, {**first, "name": f"{other}-pr-12"})
    r = requests.post(f"{api.url}/api/v1/apps", json={**first, "name": other}, headers=api.headers(), timeout=30)
    assert r.status_code == 409 and f"{other}-pr-12 exists" in r.text, r.text
    assert requests.get(f"{api.url}/api/v1/apps/{other}", headers=api.headers(), timeout=30).status_code == 404
    put_app(api, first)  # an app saved again is not a new name
    put_app(api, {**first, "name": f"{base}-preview-1"})
