"""Quiet period per target: a burst of pushes deploys once, the last commit, `quiet_period`
seconds after the last push; it costs no receives, shows why it waits, and can be skipped or
canceled. A real agent process against chalice local and moto server."""
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.helpers import push_jobs, unique
from tests.realparts import AgentProcess, GitRepo, get_job, job_log, queue_counts, wait_for, wait_job

pytestmark = pytest.mark.functional
CLI = str(Path(sys.executable).parent / "tahobuddy")


def app_with(api, repo, rules) -> str:
    name = unique("quiet")
    r = requests.put(f"{api.url}/api/v1/apps/{name}", headers=api.headers(), timeout=30,
                     json={"name": name, "repository": str(repo.origin), "rules": rules})
    assert r.status_code == 201, r.text
    return name


def shell_rule(name, branch, quiet, pool, marker="ran"):
    return {"name": name, "match": {"branch": branch},
            "target": {"type": "shell", "name": name, "pool": pool, "quiet_period": quiet, "timeout": 60,
                       "commands": [["sh", "-c", f'echo "{marker} $TAHOBUDDY_SHA at $(date +%s.%N)"']]}}


job = get_job


@pytest.fixture
def repo(tmp_path):
    repo = GitRepo(tmp_path / "repo")
    repo.write({"a.txt": "0"})
    repo.commit_and_tag("start")
    return repo


def test_a_burst_of_five_pushes_deploys_once_the_last_commit_after_the_quiet_period(
        api, agent_tokens, repo, tmp_path, empty_queue):
    branch = unique("dev")
    name = app_with(api, repo, [shell_rule("dev", branch, 20, "home")])
    AgentProcess(api, agent_tokens("home"), tmp_path, targets="shell", name="quiet", extra={"TAHOBUDDY_POOL": "home"})
    job_ids, shas = [], []
    for i in range(5):  # five pushes within 10 s
        repo.write({"a.txt": str(i)})
        shas.append(repo.commit_and_tag(f"push {i}", branch=branch))
        job_ids += push_jobs(api, repo, branch, shas[-1], full_name="local/quiet")
        time.sleep(1.5)
    last_push = time.time() - 1.5
    waiting = job(api, job_ids[-1])
    assert waiting["state"] == "queued" and waiting["waiting"].startswith("waiting for quiet period until ")
    listing = subprocess.run([CLI, "--api-url", api.url, "--token", api.token, "jobs", "--app", name],
                             capture_output=True, text=True, timeout=30)
    assert "waiting for quiet period until" in listing.stdout, listing.stdout
    done = wait_job(api, job_ids[-1], timeout=90)
    assert done["state"] == "succeeded" and done["sha"] == shas[-1], done
    ran_at = float(job_log(api, done["id"]).split(" at ")[-1].split()[0])
    assert ran_at >= last_push + 20, (ran_at, last_push)
    for old in job_ids[:-1]:
        ended = job(api, old)
        assert ended["state"] == "superseded" and ended["attempts"] == 0, ended
        assert ended["reason"].startswith("superseded by newer job ")
    assert queue_counts("home", dead=True) == (0, 0)


def test_another_target_of_the_app_is_not_delayed_and_a_long_quiet_period_dead_letters_nothing(
        api, agent_tokens, repo, tmp_path, empty_queue):
    """One agent slot: the held message of the quiet target takes no slot, so the other target's job
    runs at once. A period is "long" once it outlasts what would let the message go by itself: the lease
    (10 s here) and the invisibility the holder buys at a time (EXTEND_TO, 30 s), so only its renewals
    keep the message hidden. 40 s does; the job runs once, one attempt, and its message is received
    twice (one to hold, one to run) however long the period: a lapse would show as a third receive."""
    from agent.holder import EXTEND_TO
    quiet = EXTEND_TO + 10
    branch = unique("main")
    app_with(api, repo, [shell_rule("slow", branch, quiet, "remote", "slow"),
                         shell_rule("fast", branch, 0, "remote", "fast")])
    agent = AgentProcess(api, agent_tokens("remote"), tmp_path, targets="shell", name="one-slot",
                         extra={"TAHOBUDDY_POOL": "remote", "TAHOBUDDY_CONCURRENCY": "1"})
    repo.git("push", "-q", "origin", f"HEAD:refs/heads/{branch}")  # the branch the push names is in the origin
    pushed = time.time()
    slow_id, fast_id = push_jobs(api, repo, branch, repo.git("rev-parse", "HEAD"), full_name="local/quiet")
    fast = wait_job(api, fast_id, timeout=30)
    assert fast["state"] == "succeeded" and time.time() - pushed < quiet / 2, fast
    assert job(api, slow_id)["state"] == "queued"
    slow = wait_job(api, slow_id, timeout=quiet + 60)
    assert slow["state"] == "succeeded" and slow["attempts"] == 1 and time.time() - pushed >= quiet, slow
    assert "slow" in job_log(api, slow_id) and queue_counts("remote", dead=True) == (0, 0)
    receives = [ln for ln in agent.output().splitlines() if f"job {slow_id}: received" in ln]
    assert [ln.rsplit("receive ", 1)[1] for ln in receives] == ["1)", "2)"], agent.output()[-3000:]


def test_cancel_during_the_quiet_period_ends_the_job_without_running_it(api, agent_tokens, repo, tmp_path,
                                                                       empty_queue):
    branch = unique("c")
    app_with(api, repo, [shell_rule("dev", branch, 60, "spare")])
    agent = AgentProcess(api, agent_tokens("spare"), tmp_path, targets="shell", name="cancel",
                         extra={"TAHOBUDDY_POOL": "spare"})
    [job_id] = push_jobs(api, repo, branch, repo.git("rev-parse", "HEAD"), full_name="local/quiet")
    wait_for(lambda: f"job {job_id}: waiting for quiet period" in agent.output(), "the agent to hold the job",
             seen=lambda: agent.output()[-2000:])
    r = requests.post(f"{api.url}/api/v1/jobs/{job_id}/cancel", json={"reason": "not this one"},
                      headers=api.headers(), timeout=10)
    assert r.status_code == 200
    wait_for(lambda: f"job {job_id}: canceled while waiting" in agent.output(), "the held message to be dropped",
             seen=lambda: agent.output()[-2000:])
    ended = job(api, job_id)
    assert (ended["state"], ended["attempts"], ended["log_lines"]) == ("canceled", 0, 0), ended


def test_deploy_now_skips_the_quiet_period(api, agent_tokens, repo, tmp_path, empty_queue):
    branch = unique("n")
    name = app_with(api, repo, [shell_rule("dev", branch, 300, "gpu")])
    repo.git("push", "-q", "origin", f"HEAD:refs/heads/{branch}")
    AgentProcess(api, agent_tokens("gpu"), tmp_path, targets="shell", name="now", extra={"TAHOBUDDY_POOL": "gpu"})
    r = subprocess.run([CLI, "--api-url", api.url, "--token", api.token, "deploy", name, branch, "--now", "--json"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    made = json.loads(r.stdout)["jobs"][0]
    assert made["not_before"] == 0 and made["trigger"] == "manual"
    assert wait_job(api, made["id"], timeout=60)["state"] == "succeeded"
    r = requests.post(f"{api.url}/api/v1/apps/{name}/deploy", json={"ref": branch, "now": "yes"},
                      headers=api.headers(), timeout=10)
    assert r.status_code == 400 and r.json()["Message"].startswith("now: must be true or false")
