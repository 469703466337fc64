"""A pull request's preview on GitHub, through the outbox, at the stand-in that enforces GitHub's
published REST description: each push's transient Deployment at the preview's URL, one comment on
the pull request edited in place (made again if someone deletes it), and on close the Deployments
marked inactive and the comment saying removed. Refused pull requests get the comment too.

The jobs are driven through the agent API (claim, finish), so no container runs here; the e2e
preview test does the same with a real agent, dockerd and Caddy."""
import copy
import json

import pytest
import requests

from tests.functional.test_api import agent_call
from tests.functional.test_github_reports import TOKEN, gh_api, standin  # noqa: F401 - the fixtures
from tests.helpers import deliver, put_app, unique
from tests.realparts import wait_for

pytestmark = pytest.mark.functional
EXAMPLES = "@octokit/webhooks-examples/api.github.com/index.json"
HOSTILE_BRANCH = "x`@octocat<img/src=x>`[y](https://evil.example)"


@pytest.fixture(scope="module")
def pr_example():
    from tests.conftest import ROOT
    path = ROOT / ".tahobuddy" / "npm" / "node_modules" / EXAMPLES
    if not path.is_file():
        pytest.fail("GitHub's example payloads are missing: run local/fixtures.sh (make test does)")
    found = next(e for e in json.loads(path.read_text()) if e["name"] == "pull_request")["examples"]
    return next(e for e in found if e["action"] == "opened")


class PullRequests:
    """An app with a preview rule on its own GitHub repository, and its pull requests' events."""

    def __init__(self, api, example, **preview):
        self.api, self.example, self.name = api, example, unique("prfb")
        self.repo = f"octo/{self.name}"
        put_app(api, {"name": self.name, "repository": f"https://github.com/{self.repo}.git",
                      "hostname": f"{self.name}.example.com", "rules": [
                          {"name": "previews", "match": {"pull_request": {"base": "main"}}, "preview": preview,
                           "target": {"type": "docker"}}]})

    def send(self, action: str, number: int, sha: str, branch: str = "feature", fork: bool = False) -> dict:
        doc = copy.deepcopy(self.example)
        doc.update(action=action, number=number)
        pr = doc["pull_request"]
        pr.update(number=number, author_association="OWNER")
        pr["head"].update(sha=sha, ref=branch)
        pr["head"]["repo"].update(full_name=f"someone/{self.name}" if fork else self.repo, fork=fork)
        pr["base"]["ref"] = "main"
        doc["repository"].update(full_name=self.repo, clone_url=f"https://github.com/{self.repo}.git")
        r = deliver(self.api, "pull_request", doc)
        assert r.status_code == 200 and r.json()["jobs"], r.text
        return r.json()

    def comment(self, standin, number: int, says: str) -> dict:
        """The pull request's one comment, once it says `says`."""
        def found():
            mine = standin.comments_on(self.repo, number)
            return mine[0] if len(mine) == 1 and says in mine[0]["body"] else None
        return wait_for(found, f"the comment on {self.repo}#{number} to say {says!r}", 60)

    def requests_for(self, standin, method: str, template: str) -> list:
        marker = f"app={self.name} -->"
        return [r for r in standin.requests if r[:2] == (method, template) and marker in str((r[2] or {}).get("body"))]

    def deployments(self, standin) -> list[dict]:
        return [d for d in standin.deployments.values() if d["repo"] == self.repo]


def run(api, agent_token, job_id: str, agent: str, **finish) -> None:
    assert agent_call(api, agent_token, agent, f"/agent/jobs/{job_id}/claim").json()["run"] is True
    assert agent_call(api, agent_token, agent, f"/agent/jobs/{job_id}/finish", finish).ok


def test_open_push_close_one_comment_transient_deployments_then_inactive(gh_api, standin, agent_token,  # noqa: F811
                                                                         pr_example):
    prs = PullRequests(gh_api, pr_example)
    url = f"https://pr-7.{prs.name}.example.com/"
    job1 = prs.send("opened", 7, "1" * 40)["jobs"][0]
    prs.comment(standin, 7, ": queued**")
    run(gh_api, agent_token, job1, "pv-a", state="succeeded")
    first = prs.comment(standin, 7, ": live**")
    assert f"Served at {url}" in first["body"] and first["body"].startswith(f"<!-- tahobuddy:preview app={prs.name}")

    job2 = prs.send("synchronize", 7, "2" * 40)["jobs"][0]
    run(gh_api, agent_token, job2, "pv-a", state="failed", reason="failed: build exited with 3")
    failed = prs.comment(standin, 7, ": failed**")
    assert failed["id"] == first["id"] and "`build exited with 3`" in failed["body"]
    assert f"The previous push still serves at {url}" in failed["body"]
    assert len(prs.requests_for(standin, "POST", "/repos/{owner}/{repo}/issues/{issue_number}/comments")) == 1
    assert len(prs.requests_for(standin, "PATCH", "/repos/{owner}/{repo}/issues/comments/{comment_id}")) >= 3

    deps = prs.deployments(standin)
    assert [d["sha"] for d in deps] == ["1" * 40, "2" * 40]
    for dep in deps:
        assert dep["environment"] == f"{prs.name}-pr-7" and dep["request"]["transient_environment"] is True
        assert dep["request"]["production_environment"] is False
    live = [s for s in standin.deployment_statuses if s["deployment_id"] == deps[0]["id"] and s["state"] == "success"]
    assert [s["environment_url"] for s in live] == [url]

    teardown = prs.send("closed", 7, "2" * 40)["jobs"][0]
    prs.comment(standin, 7, ": being removed**")
    run(gh_api, agent_token, teardown, "pv-a", state="succeeded")
    removed = prs.comment(standin, 7, ": removed**")
    assert removed["id"] == first["id"] and f"`{teardown}`" in removed["body"]
    # the lane is delivered in order: once the comment says removed, the inactive statuses went before it
    inactive = [s["deployment_id"] for s in standin.deployment_statuses if s["state"] == "inactive"
                and s["deployment_id"] in {d["id"] for d in deps}]
    assert sorted(inactive) == sorted(d["id"] for d in deps)
    assert len(prs.deployments(standin)) == 2  # the teardown made no Deployment of its own
    on_head = [s["state"] for s in standin.statuses if s["repo"] == prs.repo and s["sha"] == "2" * 40]
    assert on_head == ["pending", "pending", "failure"]  # ... and no commit status
    assert not standin.violations


def test_a_deleted_comment_is_made_again(gh_api, standin, agent_token, pr_example):  # noqa: F811
    prs = PullRequests(gh_api, pr_example)
    job = prs.send("opened", 8, "3" * 40)["jobs"][0]
    gone = prs.comment(standin, 8, ": queued**")
    r = requests.delete(f"{standin.url}/repos/{prs.repo}/issues/comments/{gone['id']}", timeout=10,
                        headers={"Authorization": f"token {TOKEN}", "Accept": "application/vnd.github+json"})
    assert r.status_code == 204 and standin.comments_on(prs.repo, 8) == []
    run(gh_api, agent_token, job, "pv-b", state="succeeded")
    again = prs.comment(standin, 8, ": live**")
    assert again["id"] != gone["id"]
    closed = prs.send("closed", 8, "3" * 40)["jobs"][0]
    run(gh_api, agent_token, closed, "pv-b", state="succeeded")
    prs.comment(standin, 8, ": removed**")
    reopened = prs.send("reopened", 8, "5" * 40)["jobs"][0]
    run(gh_api, agent_token, reopened, "pv-b", state="failed", reason="failed: exit 1")
    failed = prs.comment(standin, 8, ": failed**")  # the same comment again, after the reopen
    assert failed["id"] == again["id"] and "still serves" not in failed["body"]  # the teardown removed it
    patched = prs.requests_for(standin, "PATCH", "/repos/{owner}/{repo}/issues/comments/{comment_id}")
    assert [status for *_, status in patched][:1] == [404]  # the edit found it gone, then it was made again
    assert len(prs.requests_for(standin, "POST", "/repos/{owner}/{repo}/issues/{issue_number}/comments")) == 2
    assert not standin.violations


def test_a_refused_fork_gets_the_comment_with_its_branch_shown_harmlessly(gh_api, standin, pr_example):  # noqa: F811
    prs = PullRequests(gh_api, pr_example)
    body = prs.send("opened", 9, "4" * 40, branch=HOSTILE_BRANCH, fork=True)
    assert body["decision"][0]["outcome"] == "refused"
    refused = prs.comment(standin, 9, ": refused**")["body"]
    why = next(line for line in refused.splitlines() if line.startswith("Why: "))
    assert why.count("`") == 2 and why.endswith("`") and "fork" in why and "allow_forks" in why
    assert "@octocat<img/src=x>" in why  # inside the one code span: shown, never a mention or an image
    assert "@" not in refused.replace(why, "") and "<img" not in refused.replace(why, "")
    assert not standin.violations
