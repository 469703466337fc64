"""Pools, agents, dead letters and the sweeper, with real agents as processes against the API
(chalice local) and moto server. Each test uses pools no other test's agents poll."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest

from functions.dispatch import queue
from functions.config import boto_kwargs
from tests.helpers import push_job, shell_app, unique
from tests.realparts import AgentProcess, GitRepo, get_job, job_log, queue_counts, wait_for, wait_job

pytestmark = pytest.mark.functional
CLI = str(Path(sys.executable).parent / "tahobuddy")


def cli(api, *args) -> subprocess.CompletedProcess:
    return subprocess.run([CLI, "--api-url", api.url, "--token", api.token, *args], capture_output=True, text=True,
                          timeout=60)


def pool_app(api, repo, pool: str, commands=None) -> tuple[str, str]:
    """An app whose one shell rule runs in `pool`, on a branch of its own: (app, branch)."""
    branch = unique("b")
    name = shell_app(api, repo, commands or [["sh", "-c", 'echo "ran $TAHOBUDDY_JOB"']], prefix=f"pool-{pool}",
                     match={"branch": branch}, pool=pool, timeout=60)
    repo.git("push", "-q", "origin", f"HEAD:refs/heads/{branch}")
    return name, branch


job = get_job


@pytest.fixture
def repo(tmp_path):
    repo = GitRepo(tmp_path / "repo")
    repo.write({"hello.txt": "hello\n"})
    repo.commit_and_tag("pools")
    return repo


def test_two_pools_each_job_runs_only_on_its_pools_agent_and_nothing_is_dead_lettered(
        api, agent_tokens, repo, tmp_path, empty_queue):
    sha = repo.git("rev-parse", "HEAD")
    AgentProcess(api, agent_tokens("home"), tmp_path, targets="shell", name="home", extra={"TAHOBUDDY_POOL": "home"})
    AgentProcess(api, agent_tokens("remote"), tmp_path, targets="shell", name="remote", extra={"TAHOBUDDY_POOL": "remote"})
    jobs = {push_job(api, repo, pool_app(api, repo, pool)[1], sha, full_name="local/pools"): pool
            for pool in ("home", "remote") * 3}
    for job_id, pool in jobs.items():
        done = wait_job(api, job_id, timeout=90)
        assert done["state"] == "succeeded" and done["pool"] == pool, done
        assert done["agent_id"].startswith(f"{pool}-"), (pool, done["agent_id"])
    assert queue_counts("home", dead=True) == (0, 0) and queue_counts("remote", dead=True) == (0, 0)


def test_a_job_for_a_pool_without_agents_waits_saying_why_and_runs_when_one_starts(
        api, agent_tokens, repo, tmp_path, queue_alone):
    """Agents of another pool run meanwhile. Before pools, such an agent received the message within
    one poll (1 s here) and put it back, so five receives (the DLQ bound) took a few seconds: waiting
    12 s while the message is never received at all covers well over five of those cycles."""
    sha = repo.git("rev-parse", "HEAD")
    AgentProcess(api, agent_tokens("home"), tmp_path, targets="shell", name="other", extra={"TAHOBUDDY_POOL": "home"})
    name, branch = pool_app(api, repo, "lonely")
    job_id = push_job(api, repo, branch, sha, full_name="local/pools")
    waited_until = time.monotonic() + 12
    while time.monotonic() < waited_until:
        assert queue_counts("lonely") == (1, 0)  # visible, never received by anyone
        time.sleep(0.5)
    shown = job(api, job_id)
    assert (shown["state"], shown["attempts"]) == ("queued", 0)
    assert shown["waiting"].startswith('waiting: no agent of pool "lonely" seen'), shown
    listing = cli(api, "jobs", "--app", name)
    assert listing.returncode == 0 and 'no agent of pool "lonely" seen' in listing.stdout, listing.stdout
    AgentProcess(api, agent_tokens("lonely"), tmp_path, targets="shell", name="lonely", extra={"TAHOBUDDY_POOL": "lonely"})
    done = wait_job(api, job_id, timeout=60)
    assert done["state"] == "succeeded" and done["agent_id"].startswith("lonely-") and done["attempts"] == 1
    assert queue_counts("lonely", dead=True) == (0, 0)


def test_a_dead_letter_ends_its_job_as_failed_and_replay_runs_it(api, agent_tokens, repo, tmp_path, queue_alone):
    sha = repo.git("rev-parse", "HEAD")
    _, branch = pool_app(api, repo, "gpu")
    job_id = push_job(api, repo, branch, sha, full_name="local/pools")
    sqs = boto3.client("sqs", **boto_kwargs())
    for _ in range(12):  # receive it past maxReceiveCount (5), as bouncing agents would; SQS moves it to the DLQ
        sqs.receive_message(QueueUrl=queue.url("gpu"), MaxNumberOfMessages=1, VisibilityTimeout=0, WaitTimeSeconds=0)
        if queue_counts("gpu", dead=True)[0]:
            break
    assert queue_counts("gpu", dead=True)[0] == 1 and queue_counts("gpu") == (0, 0)
    swept = cli(api, "sweep")
    assert swept.returncode == 0 and job_id in json.loads(swept.stdout)["dead_lettered"], swept.stdout
    failed = job(api, job_id)
    assert (failed["state"], failed["reason_code"]) == ("failed", "dead_lettered")
    assert "dead-lettered" in failed["reason"] and f"tahobuddy dlq replay {job_id}" in failed["reason"]
    listed = json.loads(cli(api, "dlq", "list", "--pool", "gpu", "--json").stdout)["dead_letters"]
    assert [d["job_id"] for d in listed] == [job_id] and listed[0]["state"] == "failed"
    replay = cli(api, "dlq", "replay", job_id)
    assert replay.returncode == 0, replay.stderr
    new_id = json.loads(replay.stdout)["job"]["id"]
    assert new_id != job_id and queue_counts("gpu", dead=True) == (0, 0)
    assert cli(api, "dlq", "replay", job_id).returncode == 1  # nothing left to replay
    AgentProcess(api, agent_tokens("gpu"), tmp_path, targets="shell", name="gpu", extra={"TAHOBUDDY_POOL": "gpu"})
    done = wait_job(api, new_id, timeout=60)
    assert done["state"] == "succeeded" and done["trigger"] == "replay" and done["sha"] == sha
    assert f"ran {new_id}" in job_log(api, new_id)


def test_the_sweeper_resends_a_queued_job_whose_message_was_lost(api, agent_tokens, repo, tmp_path, empty_queue):
    sha = repo.git("rev-parse", "HEAD")
    _, branch = pool_app(api, repo, "spare")
    job_id = push_job(api, repo, branch, sha, full_name="local/pools")
    # the message is lost, the job stays queued. Purged, not received and deleted: a stopped agent of the test
    # before may have had a long poll open that the emulator still answers for up to its 1 s, and such a poll
    # took the message once (in flight for the agent's 10 s hold, the receive here got nothing)
    boto3.client("sqs", **boto_kwargs()).purge_queue(QueueUrl=queue.url("spare"))
    assert queue.depth("spare")["waiting"] == queue.depth("spare")["in_flight"] == 0
    assert job(api, job_id)["state"] == "queued"
    AgentProcess(api, agent_tokens("spare"), tmp_path, targets="shell", name="spare", extra={"TAHOBUDDY_POOL": "spare"})
    resend_after = int(os.environ["TAHOBUDDY_RESEND_AFTER"])
    wait_for(lambda: job_id in json.loads(cli(api, "sweep").stdout)["resent"], "the sweeper to re-send the job",
             timeout=resend_after + 30, every=1)
    done = wait_job(api, job_id, timeout=60)
    assert (done["state"], done["resent"], done["attempts"]) == ("succeeded", 1, 1), done


def test_agents_are_listed_and_a_killed_one_shows_as_lost(api, agent_tokens, tmp_path):
    agent = AgentProcess(api, agent_tokens("spare"), tmp_path, targets="shell,docker", name="seen",
                         extra={"TAHOBUDDY_POOL": "spare"})
    agent_id = f"seen-{os.getpid()}"

    def status():
        rows = json.loads(cli(api, "agents", "--pool", "spare", "--json").stdout)["agents"]
        return next((a for a in rows if a["id"] == agent_id), {})

    row = wait_for(lambda: status().get("status") == "idle" and status(), "the agent to be listed idle", seen=status)
    assert row["pool"] == "spare" and row["targets"] == ["docker", "shell"] and row["version"]
    agent.signal(signal.SIGKILL)
    agent.proc.wait(timeout=10)
    wait_for(lambda: status().get("status") == "lost", "the killed agent to show as lost", timeout=30, seen=status)
    table = cli(api, "agents")
    assert table.returncode == 0 and agent_id in table.stdout and "lost" in table.stdout
    pools = json.loads(cli(api, "pools", "--json").stdout)["pools"]
    assert {p["name"] for p in pools} >= {"default", "spare"}


def test_an_agent_of_an_undeclared_pool_stops_saying_so(api, agent_token, tmp_path):
    env = {**os.environ, "TAHOBUDDY_API_URL": api.url, "TAHOBUDDY_AGENT_TOKEN": agent_token,
           "TAHOBUDDY_WORKDIR": str(tmp_path / "nopool"), "TAHOBUDDY_POOL": "nowhere", "TAHOBUDDY_POLL_WAIT": "1"}
    r = subprocess.run([CLI, "agent"], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "unknown pool 'nowhere'" in r.stdout + r.stderr, r.stdout + r.stderr


def test_with_the_production_lease_resend_and_heartbeat_a_job_runs_once_and_a_sweep_leaves_it_alone(
        api, agent_tokens, repo, tmp_path, empty_queue):
    """The session's API runs with a 10 s lease, a 3 s resend and a 1 s heartbeat (tests/conftest.py) so
    that fault tests end soon. This one starts its own `chalice local` with none of them set: a job goes
    through with what an installation runs (lease 120 s, agent heartbeat 10 s, resend after 300 s; their
    values are held in tests/unit/test_defaults.py), and a sweep while it runs re-sends nothing."""
    from functions.store import jobs
    from local import procs
    defaults = ("TAHOBUDDY_LEASE_SECONDS", "TAHOBUDDY_AGENT_HEARTBEAT", "TAHOBUDDY_RESEND_AFTER")
    env = {k: v for k, v in os.environ.items() if k not in defaults}
    port = procs.free_port()
    proc = procs.start([sys.executable, "-m", "local.api", "--host", "127.0.0.1", "--port", str(port), "--stage",
                        "dev", "--no-autoreload"], str(tmp_path / "chalice.log"), env=env,
                       cwd=str(Path(__file__).resolve().parents[2]))
    prod = type(api)(f"http://127.0.0.1:{port}", api.token, api.secret)
    try:
        procs.wait_http(prod.url + "/api/v1/health", proc=proc)
        name, branch = pool_app(prod, repo, "spare", [["sh", "-c", 'sleep 3; echo "ran $TAHOBUDDY_JOB"']])
        AgentProcess(prod, agent_tokens("spare"), tmp_path, targets="shell", name="production",
                     extra={"TAHOBUDDY_POOL": "spare"})
        job_id = push_job(prod, repo, branch, repo.git("rev-parse", "HEAD"), full_name="local/pools")
        wait_job(prod, job_id, timeout=30, states={"running"})
        lease_left = jobs.get(job_id).lease_until - time.time()
        swept = cli(prod, "sweep")
        done = wait_job(prod, job_id, timeout=60)
        agents = json.loads(cli(prod, "agents", "--pool", "spare", "--json").stdout)["agents"]
        log = job_log(prod, job_id)
    finally:
        procs.stop(proc)
    assert 100 < lease_left <= 121, lease_left                    # the claim took the production lease
    assert swept.returncode == 0 and job_id not in json.loads(swept.stdout)["resent"], swept.stdout
    assert (done["state"], done["attempts"]) == ("succeeded", 1), done
    assert log.count(f"ran {job_id}") == 1
    row = next((a for a in agents if a["id"] == f"production-{os.getpid()}"), {})
    assert row.get("status") in ("idle", "busy"), agents            # beating at the production interval
