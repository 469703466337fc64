"""Job state changes reach GitHub as commit statuses and deployments, in order, through the outbox,
at a stand-in that enforces GitHub's published REST description (tests/github_standin.py).

The API here is a `chalice local` of its own, with GitHub credentials pointing at the stand-in,
and a tick that sends the outbox every 0.25 s, as `make run` does every 2 s.
"""
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import reporting_api
from tests.functional.test_api import agent_call, call
from tests.github_standin import GitHubStandIn
from tests.helpers import deliver, push_job, put_app, unique
from tests.realparts import GitRepo, wait_for, wait_job

pytestmark = pytest.mark.functional
TOKEN = "ghp_standin_token"
CLI = str(Path(sys.executable).parent / "tahobuddy")


@pytest.fixture(scope="module")
def standin():
    s = GitHubStandIn(tokens={TOKEN})
    yield s
    s.stop()


@pytest.fixture(scope="module")
def gh_api(moto, admin_token, workdir, standin):
    """The API with GitHub reports on, and the tick that sends its outbox."""
    with reporting_api(workdir, "chalice-github.log", admin_token, {
            "TAHOBUDDY_GITHUB_TOKEN": TOKEN, "TAHOBUDDY_GITHUB_API_URL": standin.url,
            "TAHOBUDDY_REDELIVER_REPOS": "octo/lost"}) as api:
        yield api


def statuses(standin, repo: str, sha: str) -> list[tuple[str, str]]:
    return [(s["state"], s["description"]) for s in standin.statuses if s["repo"] == repo and s["sha"] == sha]


def final_statuses(standin, repo, sha, count: int, timeout: float = 60) -> list[tuple[str, str]]:
    wait_for(lambda: len(statuses(standin, repo, sha)) >= count, f"{count} statuses for {repo}@{sha[:7]}", timeout)
    return statuses(standin, repo, sha)


def deployment_states(standin, repo: str, sha: str) -> tuple[list[dict], list[str]]:
    deps = [d for d in standin.deployments.values() if d["repo"] == repo and d["sha"] == sha]
    ids = {d["id"] for d in deps}
    return deps, [s["state"] for s in standin.deployment_statuses if s["deployment_id"] in ids]


# ---- through a real agent ------------------------------------------------------------------------
@pytest.fixture
def shell_agent(start_agent, gh_api):
    return start_agent("shell", against=gh_api, name="reporter")


def shell_job(api, tmp_path, commands, gh_repo: str) -> tuple[str, str]:
    """An app of its own on a repository of its own (an app matches every push to its repository)."""
    name = unique("gh")
    repo = GitRepo(tmp_path / name)
    repo.write({"hello.txt": "hello\n"})
    put_app(api, {"name": name, "repository": str(repo.origin), "rules": [
        {"name": "run", "match": {"branch": "main"}, "target": {"type": "shell", "commands": commands}}]})
    sha = repo.commit_and_tag(name)
    r = deliver(api, "push", {"ref": "refs/heads/main", "after": sha, "created": False, "deleted": False,
                              "repository": {"full_name": gh_repo, "clone_url": str(repo.origin)}})
    assert r.status_code == 200 and r.json()["jobs"], r.text
    return r.json()["jobs"][0], sha


def test_success_and_build_failure_from_a_real_agent(gh_api, standin, shell_agent, tmp_path):
    ok_job, ok_sha = shell_job(gh_api, tmp_path, [["true"]], "octo/ok")
    assert wait_job(gh_api, ok_job)["state"] == "succeeded"
    assert final_statuses(standin, "octo/ok", ok_sha, 3) == [
        ("pending", "queued"), ("pending", "deploying"), ("success", "deployed")]
    bad_job, bad_sha = shell_job(gh_api, tmp_path, [["sh", "-c", "echo broken; exit 3"]], "octo/bad")
    assert wait_job(gh_api, bad_job)["state"] == "failed"
    got = final_statuses(standin, "octo/bad", bad_sha, 3)
    assert [s for s, _ in got] == ["pending", "pending", "failure"] and "exit" in got[2][1]
    ok = next(s for s in standin.statuses if s["sha"] == ok_sha and s["state"] == "success")
    assert ok["context"].startswith("tahobuddy/gh-") and ok["context"].endswith("/run")
    assert ok["target_url"] == f"{gh_api.url}/api/v1/jobs/{ok_job}"
    assert not deployment_states(standin, "octo/ok", ok_sha)[0]  # a shell target deploys nothing
    assert not standin.violations
    job = call(gh_api, "GET", f"/jobs/{ok_job}").json()
    assert job["reports"]["sent"] == 3 and job["reports"]["gave_up"] == []


def test_an_outage_delays_only_the_status_never_the_deploy(gh_api, standin, shell_agent, tmp_path):
    wait_job(gh_api, shell_job(gh_api, tmp_path, [["true"]], "octo/warm")[0])  # the agent's first job warms it up
    steady_job, steady_sha = shell_job(gh_api, tmp_path, [["true"]], "octo/steady")
    steady = wait_job(gh_api, steady_job)
    final_statuses(standin, "octo/steady", steady_sha, 3)
    standin.outage(10)
    down_job, down_sha = shell_job(gh_api, tmp_path, [["true"]], "octo/down")
    down = wait_job(gh_api, down_job)
    assert standin.down(), "the job should have ended inside the outage; make the outage longer"
    assert down["state"] == "succeeded" and statuses(standin, "octo/down", down_sha) == []

    def took(job):
        return procs_seconds(job["finished_at"]) - procs_seconds(job["created_at"])
    print(f"job from webhook to its end: {took(steady):.2f} s with GitHub up, {took(down):.2f} s with it down")
    assert took(down) < took(steady) + 2.0, (took(steady), took(down))
    assert final_statuses(standin, "octo/down", down_sha, 3, timeout=60) == [
        ("pending", "queued"), ("pending", "deploying"), ("success", "deployed")]
    assert any(status == 502 for *_, status in standin.requests)
    job = call(gh_api, "GET", f"/jobs/{down_job}").json()["reports"]
    assert job["sent"] == 3 and job["pending"] == 0 and "502" in job["last_error"]


def procs_seconds(stamp: str) -> float:
    from datetime import datetime
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


# ---- driving the agent API directly --------------------------------------------------------------
def docker_app(api, gh_repo: str, **rule) -> str:
    name = unique("ghd")
    put_app(api, {"name": name, "repository": f"https://github.com/{gh_repo}.git", "hostname": f"{name}.example.com",
                  "path_prefix": "/app", "rules": [{"name": "live", "match": {"branch": "main"}, **rule,
                                                    "target": {"type": "docker"}}]})
    return name


def test_a_docker_deploy_gets_a_deployment_with_its_environment(gh_api, standin, agent_token):
    name, sha = docker_app(gh_api, "octo/web", environment="web-prod", production_environment=True), "c" * 40
    job = push_job(gh_api, "https://github.com/octo/web.git", "main", sha, full_name="octo/web")
    assert agent_call(gh_api, agent_token, "gh-a", f"/agent/jobs/{job}/claim").json()["run"] is True
    assert agent_call(gh_api, agent_token, "gh-a", f"/agent/jobs/{job}/finish", {"state": "succeeded"}).ok
    assert [s for s, _ in final_statuses(standin, "octo/web", sha, 3)] == ["pending", "pending", "success"]
    wait_for(lambda: len(deployment_states(standin, "octo/web", sha)[1]) >= 3, "3 deployment statuses")
    [dep], states = deployment_states(standin, "octo/web", sha)
    assert states == ["queued", "in_progress", "success"]
    assert dep["environment"] == "web-prod" and dep["request"]["production_environment"] is True
    assert dep["request"]["required_contexts"] == []
    last = [s for s in standin.deployment_statuses if s["deployment_id"] == dep["id"]][-1]
    assert last["environment_url"] == f"https://{name}.example.com/app" and last["auto_inactive"] is True
    assert last["log_url"] == f"{gh_api.url}/api/v1/jobs/{job}"
    assert not standin.violations


def test_a_promotion_says_where_it_came_from_in_its_statuses_and_its_deployment(gh_api, standin, agent_token):
    name, sha, gh = unique("ghp"), "9" * 40, "octo/promo"
    # the app names its repository owner/name: a job made by hand has no webhook event to name it
    put_app(gh_api, {"name": name, "repository": gh, "rules": [
        {"name": "staging", "match": {"tag": "staging-*"}, "target": {"type": "docker"}},
        {"name": "prod", "match": {"tag": "release-*"}, "environment": "promo-prod", "target": {"type": "docker"}}]})
    staged = push_job(gh_api, gh, "refs/tags/staging-1", sha, full_name=gh, created=True)
    digest = "sha256:" + "7" * 64
    assert agent_call(gh_api, agent_token, "gh-p", f"/agent/jobs/{staged}/claim").json()["run"] is True
    assert agent_call(gh_api, agent_token, "gh-p", f"/agent/jobs/{staged}/finish", {"state": "succeeded", "release": {
        "image": "sha256:" + "6" * 64, "digest": f"127.0.0.1:5000/{name}@{digest}", "ref": "refs/tags/staging-1",
        "sha": sha}}).ok
    r = call(gh_api, "POST", f"/apps/{name}/promote", json={"from": "staging", "to": "prod"})
    assert r.status_code == 201, r.text
    job = r.json()["jobs"][0]["id"]
    origin = f"promoted from staging (job {staged}, {digest})"
    assert agent_call(gh_api, agent_token, "gh-p", f"/agent/jobs/{job}/claim").json()["run"] is True
    assert agent_call(gh_api, agent_token, "gh-p", f"/agent/jobs/{job}/finish", {"state": "succeeded",
                      "reason": f"serving; {origin}"}).ok
    context = f"tahobuddy/{name}/prod"
    wait_for(lambda: len([s for s in standin.statuses if s["context"] == context]) >= 3, "3 statuses of prod",
             seen=lambda: ([s for s in standin.statuses if s["repo"] == gh], call(gh_api, "GET", f"/jobs/{job}").json()))
    assert [(s["state"], s["description"]) for s in standin.statuses if s["context"] == context] == [
        ("pending", f"queued: {origin}"), ("pending", f"deploying: {origin}"), ("success", f"deployed: {origin}")]
    [dep] = [d for d in standin.deployments.values() if d["environment"] == "promo-prod"]
    assert dep["request"]["description"] == origin and dep["request"]["payload"]["promoted_from"] == origin
    wait_for(lambda: len([s for s in standin.deployment_statuses if s["deployment_id"] == dep["id"]]) >= 3,
             "3 statuses of the promotion's Deployment")
    last = [s for s in standin.deployment_statuses if s["deployment_id"] == dep["id"]][-1]
    assert (last["state"], last["description"]) == ("success", f"deployed: {origin}")
    assert origin in call(gh_api, "GET", f"/jobs/{job}").json()["reason"]
    assert not standin.violations


def test_a_job_that_never_ran_is_an_error_not_a_failure(gh_api, standin, agent_token):
    name, sha = docker_app(gh_api, "octo/never"), "d" * 40
    job = push_job(gh_api, "https://github.com/octo/never.git", "main", sha, full_name="octo/never")
    agent_call(gh_api, agent_token, "gh-b", f"/agent/jobs/{job}/claim")
    r = agent_call(gh_api, agent_token, "gh-b", f"/agent/jobs/{job}/finish",
                   {"state": "failed", "reason_code": "setup_error", "reason": "could not fetch the commit"})
    assert r.ok, r.text
    got = final_statuses(standin, "octo/never", sha, 3)
    assert got[2] == ("error", "never ran: could not fetch the commit")
    wait_for(lambda: len(deployment_states(standin, "octo/never", sha)[1]) >= 3, "3 deployment statuses")
    assert deployment_states(standin, "octo/never", sha)[1] == ["queued", "in_progress", "error"]
    # the default environment is <app>-<rule>, and default production_environment is GitHub's
    [dep] = deployment_states(standin, "octo/never", sha)[0]
    assert dep["environment"] == f"{name}-live" and "production_environment" not in dep["request"]


def test_cancel_and_supersede_are_errors_with_their_reason(gh_api, standin, agent_token):
    name, sha = docker_app(gh_api, "octo/cancel"), "e" * 40
    job = push_job(gh_api, "https://github.com/octo/cancel.git", "main", sha, full_name="octo/cancel")
    assert call(gh_api, "POST", f"/jobs/{job}/cancel", json={"reason": "not today"}).json()["state"] == "canceled"
    assert final_statuses(standin, "octo/cancel", sha, 2) == [("pending", "queued"),
                                                             ("error", "canceled: not today")]
    docker_app(gh_api, "octo/super")
    old = push_job(gh_api, "https://github.com/octo/super.git", "main", "1" * 40, full_name="octo/super")
    new = push_job(gh_api, "https://github.com/octo/super.git", "main", "2" * 40, full_name="octo/super")
    assert agent_call(gh_api, agent_token, "gh-c", f"/agent/jobs/{old}/claim").json()["state"] == "superseded"
    assert final_statuses(standin, "octo/super", "1" * 40, 2) == [
        ("pending", "queued"), ("error", f"superseded by newer job {new}")]
    wait_for(lambda: len(deployment_states(standin, "octo/super", "1" * 40)[1]) >= 2, "2 deployment statuses")
    assert deployment_states(standin, "octo/super", "1" * 40)[1] == ["queued", "error"]


def test_a_delivery_github_refuses_is_given_up_and_shown_on_the_job(gh_api, standin, agent_token):
    standin.hidden.add("octo/hidden")
    name, sha = docker_app(gh_api, "octo/hidden"), "f" * 40
    job = push_job(gh_api, "https://github.com/octo/hidden.git", "main", sha, full_name="octo/hidden")
    assert call(gh_api, "POST", f"/jobs/{job}/cancel", json={"reason": "stop"}).ok
    def given_up():
        reports = call(gh_api, "GET", f"/jobs/{job}").json().get("reports") or {}
        return reports["gave_up"] if len(reports.get("gave_up", [])) == 2 else None
    shown = wait_for(given_up, "both changes given up")
    assert [g["state"] for g in shown] == ["queued", "canceled"] and "404" in shown[0]["error"]
    out = subprocess.run([CLI, "--api-url", gh_api.url, "--token", gh_api.token, "jobs", job],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and '"gave_up"' in out.stdout and "GitHub answered 404" in out.stdout, out.stdout


def test_the_sweep_redelivers_failed_webhook_deliveries_when_asked(gh_api, standin):
    from functions.notify import github, github_webhooks
    client = github.Client(github.settings({"TAHOBUDDY_GITHUB_API_URL": standin.url, "TAHOBUDDY_GITHUB_TOKEN": TOKEN}))
    hook, _ = github_webhooks.install(client, "octo/lost", f"{gh_api.url}/api/v1/hooks/github", "hook-secret-0123456789")
    lost = standin.add_delivery("octo/lost", hook["id"], 502)
    stale = standin.add_delivery("octo/lost", hook["id"], 503)
    stale["delivered_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 2 * 86400))
    assert call(gh_api, "POST", "/sweep").json()["webhooks"] == {"redelivered": 1}
    assert standin.redelivered == [(hook["id"], lost["id"])]
    assert call(gh_api, "POST", "/sweep").json()["webhooks"] == {}  # the redelivery went through
