"""The pure side of GitHub reports: job state -> commit status and deployment status, links,
backoff. The wire side is tested against the stand-in (tests/functional/test_github_reports.py)."""
import pytest

from functions.domain import refs
from functions.notify import github, sender
from functions.notify.github import settings

pytestmark = pytest.mark.unit

SHA = "a" * 40


def change(state, **kw):
    return {"job_id": "J1", "app": "blog", "rule": "release", "state": state, "reason": "", "reason_code": "",
            "ref": "refs/tags/v1", "sha": SHA, "repo": "octo/blog", "target_type": "docker",
            "environment": "blog-release", "production_environment": None, **kw}


@pytest.mark.parametrize("state, kw, expected", [
    ("queued", {}, ("pending", "queued")),
    ("running", {}, ("pending", "deploying")),
    ("succeeded", {}, ("success", "deployed")),
    ("failed", {"reason": "exit 2", "reason_code": ""}, ("failure", "failed: exit 2")),
    ("failed", {"reason": "exit 1", "reason_code": "timeout"}, ("failure", "failed: exit 1")),
    ("failed", {"reason": "no docker here", "reason_code": "refused"}, ("error", "never ran: no docker here")),
    ("failed", {"reason": "rolled_back_after_watch: the container exited (exit code 1), 9.0 s after the swap",
                "reason_code": "rolled_back_after_watch"},
     ("failure", "failed: rolled_back_after_watch: the container exited (exit code 1), 9.0 s after the swap")),
    ("failed", {"reason": "clone failed", "reason_code": "setup_error"}, ("error", "never ran: clone failed")),
    ("failed", {"reason": "failed: command 1 exited with 3"}, ("failure", "failed: command 1 exited with 3")),
    ("canceled", {"reason": "canceled: by ann"}, ("error", "canceled: by ann")),
    ("canceled", {"reason": ""}, ("error", "canceled")),
    ("superseded", {"reason": "superseded by newer job J2"}, ("error", "superseded by newer job J2")),
    ("skipped", {"reason": "skipped: no watched path changed between the served commit a and b"},
     ("success", "skipped: no watched path changed")),
])
def test_each_job_state_has_its_commit_status(state, kw, expected):
    assert github.outcome(change(state, **kw)) == expected


def test_commit_status_request_names_the_context_and_links_the_job():
    s = settings({"TAHOBUDDY_GITHUB_TOKEN": "t", "TAHOBUDDY_PUBLIC_URL": "https://deploy.example.com/"})
    method, path, body = github.commit_status(s, change("running"))
    assert (method, path) == ("POST", f"/repos/octo/blog/statuses/{SHA}")
    assert body == {"state": "pending", "description": "deploying", "context": "tahobuddy/blog/release",
                    "target_url": "https://deploy.example.com/api/v1/jobs/J1"}
    dash = settings({"TAHOBUDDY_PUBLIC_URL": "https://deploy.example.com", "TAHOBUDDY_DASHBOARD": "on"})
    assert github.commit_status(dash, change("queued"))[2]["target_url"] == "https://deploy.example.com/jobs/J1"
    assert "target_url" not in github.commit_status(settings({}), change("queued"))[2]


def test_descriptions_stay_within_githubs_limit():
    body = github.commit_status(settings({}), change("failed", reason="x" * 500))[2]
    assert len(body["description"]) == 140 and body["description"].endswith("...")


def test_deployment_and_its_statuses():
    c = change("queued", production_environment=True, environment_url="https://blog.example.com/")
    method, path, body = github.deployment(c)
    assert path == "/repos/octo/blog/deployments" and body["ref"] == SHA
    assert body["required_contexts"] == [] and body["environment"] == "blog-release"
    assert body["production_environment"] is True and body["auto_merge"] is False
    s = settings({"TAHOBUDDY_PUBLIC_URL": "https://d.example.com"})
    states = [github.deployment_status(s, {**c, "state": st, "reason_code": code}, 7)[2]["state"]
              for st, code in (("queued", ""), ("running", ""), ("succeeded", ""), ("failed", ""),
                               ("failed", "refused"), ("canceled", ""))]
    assert states == ["queued", "in_progress", "success", "failure", "error", "error"]
    done = github.deployment_status(s, {**c, "state": "succeeded"}, 7)
    assert done[1] == "/repos/octo/blog/deployments/7/statuses"
    assert done[2]["environment_url"] == "https://blog.example.com/" and done[2]["auto_inactive"] is True
    assert done[2]["log_url"] == "https://d.example.com/api/v1/jobs/J1"
    assert "environment_url" not in github.deployment_status(s, c, 7)[2]  # only once it serves


def test_a_promotion_says_where_it_came_from_in_its_status_and_deployment():
    from functions.domain import promotions
    origin = promotions.origin("staging", "1733000000000abcdef", "127.0.0.1:5000/blog@sha256:" + "d" * 64)
    assert origin == f"promoted from staging (job 1733000000000abcdef, sha256:{'d' * 64})"
    promo = change("queued", promoted_from=origin)
    assert [github.outcome({**promo, "state": s})[1] for s in ("queued", "running", "succeeded")] == [
        f"queued: {origin}", f"deploying: {origin}", f"deployed: {origin}"]
    assert all(len(github.outcome({**promo, "state": s})[1]) <= 140 for s in ("queued", "running", "succeeded"))
    # a failure says its own reason; the Deployment and its statuses say the origin
    assert github.outcome({**promo, "state": "failed", "reason": "exit 1"})[1] == "failed: exit 1"
    body = github.deployment(promo)[2]
    assert body["description"] == origin and body["payload"]["promoted_from"] == origin
    assert github.deployment_status(settings({}), {**promo, "state": "succeeded"}, 7)[2]["description"] == \
        f"deployed: {origin}"
    assert "promoted_from" not in github.deployment(change("queued"))[2]["payload"]


def test_only_deploying_targets_get_a_deployment():
    assert [github.deploys(change("queued", target_type=t)) for t in ("docker", "heroku", "aws-ecs", "shell",
                                                                     "ansible")] == [True, True, True, False, False]


def test_enterprise_api_url_and_credentials_from_the_environment(tmp_path):
    key = tmp_path / "app.pem"
    key.write_text("PEM")
    s = settings({"TAHOBUDDY_GITHUB_API_URL": "https://ghe.example.com/api/v3/", "TAHOBUDDY_GITHUB_APP_ID": "12",
                  "TAHOBUDDY_GITHUB_APP_KEY_FILE": str(key)})
    assert s.api_url == "https://ghe.example.com/api/v3" and s.app_key == "PEM" and s.enabled
    assert refs.web_host(s.api_url) == "ghe.example.com" and refs.web_host("") == "github.com"
    assert not settings({}).enabled and settings({"TAHOBUDDY_GITHUB_TOKEN": "x"}).enabled


def test_backoff_doubles_and_is_capped():
    assert [sender.backoff(n, base=2) for n in (1, 2, 3, 4)] == [2, 4, 8, 16]
    assert sender.backoff(30, base=2) == sender.BACKOFF_CAP


def test_failed_deliveries_skip_delivered_guids_and_respect_the_limits():
    from functions.notify import github_webhooks
    rows = [{"id": 5, "guid": "a", "status_code": 200, "delivered_at": "2026-01-02T00:00:00Z"},
            {"id": 4, "guid": "a", "status_code": 502, "delivered_at": "2026-01-01T23:00:00Z"},
            {"id": 3, "guid": "b", "status_code": 500, "delivered_at": "2026-01-01T22:00:00Z"},
            {"id": 2, "guid": "b", "status_code": 500, "delivered_at": "2026-01-01T21:00:00Z"},
            {"id": 1, "guid": "c", "status_code": 404, "delivered_at": "2025-12-01T00:00:00Z"}]
    assert [d["id"] for d in github_webhooks.failed(rows)] == [3, 1]
    assert [d["id"] for d in github_webhooks.failed(rows, max_tries=2)] == [1]
    assert [d["id"] for d in github_webhooks.failed(rows, since=1767225600)] == [3]  # 2026-01-01T00:00:00Z


def test_which_repository_github_hears_of(monkeypatch):
    from functions.store import outbox
    monkeypatch.delenv("TAHOBUDDY_GITHUB_API_URL", raising=False)
    assert outbox.github_repo("octo/blog") == "octo/blog"
    assert outbox.github_repo("https://github.com/octo/blog.git") == "octo/blog"
    assert outbox.github_repo("git@github.com:octo/blog.git") == "octo/blog"
    assert outbox.github_repo("/srv/git/blog.git") == ""  # no event to ask: nothing to report to
    monkeypatch.setenv("TAHOBUDDY_GITHUB_API_URL", "https://ghe.example.com/api/v3")
    assert outbox.github_repo("https://ghe.example.com/octo/blog.git") == "octo/blog"
    assert outbox.github_repo("https://github.com/octo/blog.git") == ""  # another GitHub's repository


def test_a_skipped_jobs_deployment_is_inactive_never_a_success():
    assert github.deployment_state(change("skipped")) == "inactive"
