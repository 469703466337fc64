"""The agent with the shell runner, as a process, against the running API and moto server."""
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.helpers import deliver, push_job, shell_app, unique
from tests.realparts import AgentProcess, GitRepo, job_log, job_state, wait_for, wait_job, wait_log

pytestmark = pytest.mark.functional
CLI = str(Path(sys.executable).parent / "tahobuddy")


def ticks(api, job_id: str) -> int:
    return sum(1 for line in job_log(api, job_id).splitlines() if line.startswith("tick "))


def test_shell_job_sees_the_commit_and_streams_its_log_live(api, repo, agent, tmp_path):
    sha = repo.commit_and_tag("one")
    name = shell_app(api, repo, [["sh", "-c", 'echo "app=$TAHOBUDDY_APP sha=$TAHOBUDDY_SHA ref=$TAHOBUDDY_REF"'],
                                 ["cat", "hello.txt"],
                                 ["sh", "-c", "for i in 1 2 3; do echo tick $i; sleep 1; done"]])
    job_id = push_job(api, repo, "refs/heads/main", sha)
    follow = subprocess.run([CLI, "--api-url", api.url, "--token", api.token, "logs", job_id, "-f", "--timeout", "60"],
                            capture_output=True, text=True, timeout=90)
    assert follow.returncode == 0
    assert f"app={name} sha={sha} ref=refs/heads/main" in follow.stdout and "tick 3" in follow.stdout
    assert "hello" in follow.stdout
    job = wait_job(api, job_id)
    assert (job["state"], job["exit_code"], job["sha"]) == ("succeeded", 0, sha)


def test_a_tag_built_to_inject_shell_stays_inert(api, repo, agent, tmp_path):
    tag = "release-$(touch${IFS}pwned)"
    sha = repo.commit_and_tag("two", tag)
    shell_app(api, repo, [["sh", "-c", 'echo "tag is [$TAHOBUDDY_TAG]"']], match={"tag": "release-*"})
    job = wait_job(api, push_job(api, repo, f"refs/tags/{tag}", sha, created=True))
    assert job["state"] == "succeeded", job_log(api, job["id"])
    assert f"tag is [{tag}]" in job_log(api, job["id"])
    assert not list(tmp_path.rglob("pwned")) and not Path("pwned").exists() and not Path("/pwned").exists()


def test_failed_command_fails_the_job_with_its_exit_code(api, repo, agent):
    sha = repo.commit_and_tag("three")
    shell_app(api, repo, [["true"], ["sh", "-c", "echo broken >&2; exit 7"], ["echo", "never"]])
    job = wait_job(api, push_job(api, repo, "refs/heads/main", sha))
    assert (job["state"], job["exit_code"]) == ("failed", 7) and "command 2" in job["reason"]
    assert "never" not in job_log(api, job["id"]) and "broken" in job_log(api, job["id"])


def test_cancel_really_stops_a_running_job(api, repo, agent):
    sha = repo.commit_and_tag("four")
    shell_app(api, repo, [["sh", "-c", "echo started; sleep 120"]])
    job_id = push_job(api, repo, "refs/heads/main", sha)
    wait_log(api, job_id, "started")
    t0 = time.monotonic()
    r = subprocess.run([CLI, "--api-url", api.url, "--token", api.token, "jobs", "cancel", job_id, "--reason", "wrong"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    job = wait_job(api, job_id, timeout=30)
    assert job["state"] == "canceled" and "wrong" in job["reason"] and time.monotonic() - t0 < 20


def test_first_sigterm_finishes_the_job_second_hands_it_back(api, agent_token, repo, tmp_path, empty_queue):
    marker = tmp_path / "second-attempt"
    sha = repo.commit_and_tag("five")
    shell_app(api, repo, [["sh", "-c", f'if [ -f "{marker}" ]; then echo again; else touch "{marker}"; '
                                       'echo first; i=0; while [ $i -lt 600 ]; do i=$((i+1)); echo "tick $i"; '
                                       'sleep 0.1; done; fi']])
    agent = AgentProcess(api, agent_token, tmp_path, targets="shell", name="stopper")
    job_id = push_job(api, repo, "refs/heads/main", sha)
    wait_log(api, job_id, "first")
    agent.signal(signal.SIGTERM)
    wait_for(lambda: "stopping after the current job" in agent.output(), "the agent took the first SIGTERM",
             seen=lambda: agent.output()[-2000:])
    # still working: the job's ticks keep arriving for longer than the agent's idle check (0.5 s) takes
    seen = ticks(api, job_id)
    wait_for(lambda: ticks(api, job_id) >= seen + 15, "ticks after the first SIGTERM", timeout=30,
             seen=lambda: job_state(api, job_id))
    assert agent.proc.poll() is None and wait_job(api, job_id, states={"running"})["state"] == "running"
    agent.signal(signal.SIGTERM)
    assert agent.proc.wait(timeout=30) == 0
    job = wait_job(api, job_id, states={"queued"}, timeout=10)
    assert "agent stopping" in job["reason"]
    again = AgentProcess(api, agent_token, tmp_path, targets="shell", name="again")
    try:
        job = wait_job(api, job_id, timeout=60)
        assert job["state"] == "succeeded" and job["attempts"] == 2 and "again" in job_log(api, job_id)
    finally:
        again.stop()


def test_first_sigterm_lets_the_running_job_finish(api, agent_token, repo, tmp_path, empty_queue):
    sha = repo.commit_and_tag("six")
    shell_app(api, repo, [["sh", "-c", "echo go; sleep 3; echo done"]])
    agent = AgentProcess(api, agent_token, tmp_path, targets="shell", name="gentle")
    job_id = push_job(api, repo, "refs/heads/main", sha)
    wait_log(api, job_id, "go")
    agent.signal(signal.SIGTERM)
    assert agent.proc.wait(timeout=60) == 0
    assert wait_job(api, job_id, timeout=5)["state"] == "succeeded"


def test_two_agents_on_one_queue_never_run_a_job_twice(api, agent_token, repo, tmp_path, empty_queue):
    runs = tmp_path / "runs"
    runs.mkdir()
    sha = repo.commit_and_tag("seven")
    agents = [AgentProcess(api, agent_token, tmp_path, targets="shell", name=f"pair-{i}",
                           extra={"TAHOBUDDY_CONCURRENCY": "2"}) for i in range(2)]
    # Each job waits (bounded) until three jobs have started. One agent has two slots, so the
    # third can only start on the other agent: both must take part, whoever polls first.
    barrier = f'i=0; while [ "$(ls "{runs}" | wc -l)" -lt 3 ] && [ $i -lt 300 ]; do i=$((i+1)); sleep 0.1; done'
    job_ids = []
    for i in range(8):  # eight apps: eight message groups
        branch = f"{unique('b')}-{i}"
        shell_app(api, repo, [["sh", "-c", f'echo "$TAHOBUDDY_JOB" >> "{runs}/$TAHOBUDDY_JOB"; {barrier}']],
                  match={"branch": branch})
        repo.git("push", "-q", "origin", f"HEAD:refs/heads/{branch}")
        job_ids.append(push_job(api, repo, f"refs/heads/{branch}", sha))
    try:
        jobs = [wait_job(api, j, timeout=120) for j in job_ids]
    finally:
        for a in agents:
            a.stop()
    assert all(j["state"] == "succeeded" for j in jobs)
    assert sorted(p.name for p in runs.iterdir()) == sorted(job_ids)
    assert all(len(p.read_text().splitlines()) == 1 for p in runs.iterdir())
    assert {j["agent_id"].split("-")[1] for j in jobs} == {"0", "1"}  # both took part, and no other agent


def test_a_job_for_a_target_this_agent_does_not_run_is_refused_at_once_saying_why(api, repo, agent):
    sha = repo.commit_and_tag("ecs")
    name = unique("ecs")
    r = requests.put(f"{api.url}/api/v1/apps/{name}", headers=api.headers(), timeout=30, json={
        "name": name, "repository": str(repo.origin), "rules": [{"name": "ecs", "match": {"branch": "main"},
            "target": {"type": "aws-ecs", "cluster": "c", "service": "s", "repository": "web"}}]})
    assert r.status_code == 201
    job = wait_job(api, push_job(api, repo, "refs/heads/main", sha), timeout=30)  # ends: never bounced to a DLQ
    assert (job["state"], job["reason_code"], job["attempts"], job["exit_code"]) == ("failed", "refused", 0, None)
    assert "does not run aws-ecs targets" in job["reason"] and "TAHOBUDDY_TARGETS" in job["reason"], job


def test_a_private_repository_is_fetched_with_the_agents_token_which_never_shows(api, agent_token, tmp_path,
                                                                                empty_queue):
    from tests.realparts import PrivateGitServer
    token = "ghp_private0123456789abcdef"
    origin = GitRepo(tmp_path / "private")
    sha = origin.commit_and_tag("secret code")
    server = PrivateGitServer(tmp_path / "private", token)
    url = f"{server.url}/origin.git"
    try:
        name = unique("priv")
        requests.put(f"{api.url}/api/v1/apps/{name}", headers=api.headers(), timeout=30, json={
            "name": name, "repository": url, "rules": [{"name": "run", "match": {"branch": "main"},
                                                        "target": {"type": "shell", "commands": [["git", "log", "-1"]]}}]})
        without = AgentProcess(api, agent_token, tmp_path, targets="shell", name="no-token")
        r = deliver(api, "push", {"ref": "refs/heads/main", "after": sha, "created": False, "deleted": False,
                                  "repository": {"full_name": "private/x", "clone_url": url}})
        job = wait_job(api, r.json()["jobs"][0])
        without.stop()
        assert job["state"] == "failed" and job["exit_code"] == -1 and "git" in job["reason"], job  # never ran
        with_token = AgentProcess(api, agent_token, tmp_path, targets="shell", name="token",
                                  extra={"TAHOBUDDY_GIT_TOKEN": token})
        retry = requests.post(f"{api.url}/api/v1/apps/{name}/deploy", json={"ref": "main", "sha": sha},
                              headers=api.headers(), timeout=30).json()["jobs"][0]["id"]
        job = wait_job(api, retry)
        with_token.stop()
        log = job_log(api, job["id"])
        assert job["state"] == "succeeded" and "secret code" in log, log
        assert token not in log and token not in str(job) and token not in with_token.output()
        assert any(a and a.startswith("Basic ") for a in server.requests)  # sent as a header, never in the URL
    finally:
        server.stop()


def test_an_agent_started_from_a_shell_with_the_admin_token_loaded_uses_the_agent_token(api, agent_token, tmp_path,
                                                                                       empty_queue, repo):
    """`tahobuddy agent` (or `make run`) started after `. .tahobuddy/dev.env`: TAHOBUDDY_TOKEN holds the admin
    token. The agent sent it, got a 403 and stopped; it must send TAHOBUDDY_AGENT_TOKEN."""
    agent = AgentProcess(api, agent_token, tmp_path, targets="shell", name="both",
                         extra={"TAHOBUDDY_TOKEN": api.token})
    sha = repo.commit_and_tag("both")
    shell_app(api, repo, [["echo", "ran with the agent token"]])
    job = wait_job(api, push_job(api, repo, "refs/heads/main", sha), timeout=60)
    assert job["state"] == "succeeded" and job["agent_id"].startswith("both-"), agent.output()


def test_a_fork_commit_pushed_as_main_is_refused_before_anything_runs(api, repo, agent, tmp_path):
    """A signed push names, as main, a commit only a fork's pull request ref holds in the origin: the
    agent fetches main alone, finds the commit off it, and ends the job `refused` without running it."""
    from tests.functional.test_forge_fetch import forge_writes
    main = repo.commit_and_tag("main")
    fork = forge_writes(repo, "refs/pull/5/head", "from a fork")
    name = shell_app(api, repo, [["touch", str(tmp_path / "ran")]])
    job = wait_job(api, push_job(api, repo, "refs/heads/main", fork))
    assert (job["state"], job["reason_code"]) == ("failed", "refused"), job
    assert f"commit {fork} is not on refs/heads/main (its tip is {main}" in job["reason"], job
    assert not (tmp_path / "ran").exists() and job["app"] == name


@pytest.fixture
def capped_api(moto, admin_token, workdir):
    """The API with a small per-job log cap (TAHOBUDDY_LOG_MAX_LINES=50)."""
    import os

    from local import procs
    from tests.conftest import ROOT, Api
    port = procs.free_port()
    proc = procs.start([sys.executable, "-m", "local.api", "--host", "127.0.0.1", "--port", str(port), "--stage", "dev",
                        "--no-autoreload"], str(workdir / "chalice-capped.log"),
                       env={**os.environ, "TAHOBUDDY_LOG_MAX_LINES": "50"}, cwd=str(ROOT))
    try:
        procs.wait_http(f"http://127.0.0.1:{port}/api/v1/health", proc=proc)
        yield Api(f"http://127.0.0.1:{port}", admin_token, os.environ["TAHOBUDDY_WEBHOOK_SECRET"])
    finally:
        procs.stop(proc)


def test_a_long_log_keeps_its_last_lines_and_says_how_many_were_dropped(capped_api, agent_token, repo, tmp_path,
                                                                         empty_queue):
    from functions.store.models import LogModel
    api = capped_api
    agent = AgentProcess(api, agent_token, tmp_path, targets="shell", name="capped")
    try:
        sha = repo.commit_and_tag("long")
        shell_app(api, repo, [["sh", "-c", "for i in $(seq 1 600); do echo out $i; done"]])
        job = wait_job(api, push_job(api, repo, "refs/heads/main", sha))
    finally:
        agent.stop()
    assert job["state"] == "succeeded", job
    total = job["log_lines"]  # the agent's own lines around the command's 600
    assert total > 600
    got = requests.get(f"{api.url}/api/v1/jobs/{job['id']}/logs", headers=api.headers(), timeout=30).json()
    assert [x["seq"] for x in got["lines"]] == list(range(total - 49, total + 1))  # the last 50, in order
    assert got["dropped"] == total - 50
    assert any(x["line"] == "out 600" for x in got["lines"]) and not any(x["line"] == "out 1" for x in got["lines"])
    assert LogModel.count(job["id"]) == 50  # the table holds no more than the cap: the rest were deleted
    shown = subprocess.run([CLI, "--api-url", api.url, "--token", api.token, "logs", job["id"]], capture_output=True,
                           text=True, timeout=60).stdout.splitlines()
    assert shown[0] == f"[tahobuddy: {total - 50:,} earlier lines dropped]" and shown[-1] == "out 600", shown[:3]
    assert len(shown) == 51
    web = requests.Session()
    assert web.post(f"{api.url}/login", data={"token": api.token, "next": f"/jobs/{job['id']}"}, timeout=30).ok
    page = web.get(f"{api.url}/jobs/{job['id']}", timeout=30).text
    assert f"{total - 50:,} earlier lines dropped" in page and "out 600" in page and ">out 1<" not in page
