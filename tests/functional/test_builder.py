"""Builder containers on a real dockerd: shell targets with `image:`, through the runner with a
RunContext (the finer checks) and through the agent as a process (secrets, cancel from the API).
The image is built here from busybox-static; nothing is pulled."""
import threading
import time
from pathlib import Path

import docker
import pytest
import requests

from agent.config import AgentConfig
from agent.secrets import Secrets
from runners.base import Cancel, JobSpec, Reason, RunContext, RunnerError, Status
from runners.shell import ShellRunner
from tests.helpers import push_job, unique
from tests.realparts import (BASE_IMAGE, GitRepo, job_log, remove_app_resources, wait_for, wait_job,
                             wait_log)

pytestmark = pytest.mark.functional
SECRET = "bld-t0ken-90210-secret"
# busybox sh holds the whole 64 MB string in memory: far past a 16m limit
ALLOCATE = ["sh", "-c", 'echo allocating; x=$(head -c 64000000 /dev/zero | tr "\\0" a); echo "held ${#x} bytes"']


def builder_containers(job_id: str) -> list:
    return docker.from_env().containers.list(all=True, filters={"label": [f"tahobuddy.job={job_id}",
                                                                          "tahobuddy.role=builder"]})


class Job:
    """One shell job run by the runner itself, as the agent's dispatcher would: prepare, run, cleanup."""

    def __init__(self, tmp_path: Path, timeout: float = 60, **target):
        self.tree = tmp_path / "tree"
        self.tree.mkdir(exist_ok=True)
        (self.tree / "hello.txt").write_text("hello from the worktree\n")
        self.spec = JobSpec(job_id=unique("job"), app=unique("bld"), rule="build", repository="local",
                            ref="refs/tags/v1", sha="a" * 40,
                            target={"type": "shell", "name": "shell", "image": BASE_IMAGE, **target})
        self.lines: list[str] = []
        self.ctx = RunContext(workdir=tmp_path / "agent", worktree=self.tree, cancel=Cancel(),
                              settings=AgentConfig(), secrets=Secrets(env={}), timeout=timeout)
        self.runner = ShellRunner()

    def run(self):
        try:
            self.runner.prepare(self.spec, self.ctx)
            return self.runner.run(self.spec, self.ctx, self.lines.append)
        finally:
            self.runner.cleanup(self.spec, self.ctx)

    @property
    def log(self) -> str:
        return "\n".join(self.lines)


def test_commands_see_the_worktree_and_their_env_but_nothing_else_of_the_host(tmp_path, docker_images):
    outside = tmp_path / "outside.txt"
    outside.write_text("not for builds\n")
    job = Job(tmp_path, env={"MODE": "ci"}, commands=[
        ["cat", "hello.txt"],
        ["sh", "-c", f'for p in "{outside}" "{tmp_path}" /var/run/docker.sock /workspace/hello.txt; do '
                     f'[ -e "$p" ] && echo "SEES $p"; done; echo "pwd=$(pwd)"'],
        ["sh", "-c", 'echo "mode=$MODE app=$TAHOBUDDY_APP tag=$TAHOBUDDY_TAG"; echo built > artifact.txt'],
        ["cat", "artifact.txt"]])  # a later command sees what an earlier one left in the worktree
    result = job.run()
    assert result.status == Status.SUCCEEDED, job.log
    assert "hello from the worktree" in job.lines and "pwd=/workspace" in job.lines
    assert [line for line in job.lines if line.startswith("SEES")] == ["SEES /workspace/hello.txt"]
    assert f"mode=ci app={job.spec.app} tag=v1" in job.lines and "built" in job.lines
    assert (job.tree / "artifact.txt").read_text() == "built\n"
    assert not builder_containers(job.spec.job_id)


def test_the_exit_code_of_the_failing_command_is_kept(tmp_path, docker_images):
    job = Job(tmp_path, commands=[["true"], ["sh", "-c", "echo broken >&2; exit 7"], ["echo", "never"]])
    result = job.run()
    assert (result.status, result.exit_code) == (Status.FAILED, 7) and "command 2 (sh) exited with 7" in result.detail
    assert "broken" in job.lines and "never" not in job.lines
    missing = Job(tmp_path, commands=[["make", "all"]]).run()  # busybox has no make
    assert missing.exit_code == 127 and "'make' not found in tahobuddy-test/busybox:1" in missing.detail


def test_a_command_past_its_memory_limit_is_killed_and_the_reason_says_so(tmp_path, docker_images):
    job = Job(tmp_path, memory="16m", cpus="0.5", commands=[ALLOCATE, ["echo", "never"]])
    result = job.run()
    assert result.status == Status.FAILED and result.exit_code == 137, job.log
    assert result.detail == "command 1 (sh) killed: memory limit 16m exceeded"
    assert "allocating" in job.lines and not any(line.startswith("held") for line in job.lines)
    assert "never" not in job.lines and not builder_containers(job.spec.job_id)


def test_an_oom_kill_is_told_from_another_sigkill_by_the_engines_event_log(docker_images):
    # the path the builder takes when containerd sends the exit before the OOM (State.OOMKilled unset)
    from runners.builder import _oom_killed
    client = docker.from_env()
    runs = {"oom": (ALLOCATE, "16m"), "self-kill": (["sh", "-c", "kill -9 $$"], None)}
    seen = {}
    for name, (argv, memory) in runs.items():
        since = int(time.time()) - 1
        c = client.containers.run(BASE_IMAGE, argv, detach=True, init=True, mem_limit=memory, memswap_limit=memory,
                                  labels={"tahobuddy.role": "builder", "tahobuddy.job": unique("oom")})
        try:
            assert c.wait(timeout=60)["StatusCode"] == 137
            seen[name] = _oom_killed(client, c.id, since)
        finally:
            c.remove(force=True)
    assert seen == {"oom": True, "self-kill": False}


def test_cancel_stops_then_kills_and_removes_the_container(tmp_path, docker_images):
    # the command ignores SIGTERM, so only the kill after the grace period ends it
    job = Job(tmp_path, commands=[["sh", "-c", 'trap "" TERM; echo started; while true; do sleep 1; done']])
    job.runner.builder.grace = 2
    out: dict = {}
    worker = threading.Thread(target=lambda: out.setdefault("result", job.run()))
    worker.start()
    wait_for(lambda: "started" in job.lines, "the command started", 30, seen=lambda: job.lines[-15:])
    assert len(builder_containers(job.spec.job_id)) == 1
    t0 = time.monotonic()
    job.ctx.cancel.request("wrong tag")
    worker.join(timeout=60)
    elapsed = time.monotonic() - t0
    result = out["result"]
    assert (result.status, result.reason) == (Status.CANCELED, Reason.CANCELED) and "wrong tag" in result.detail
    assert 2 <= elapsed < 15, elapsed  # the grace period, then the kill
    assert "tahobuddy: canceled: stopping the container (kill after 2s)" in job.lines
    assert not builder_containers(job.spec.job_id)
    job.runner.cleanup(job.spec, job.ctx)  # safe twice


def test_timeout_removes_the_container(tmp_path, docker_images):
    job = Job(tmp_path, timeout=3, commands=[["sh", "-c", "echo started; sleep 120"]])
    t0 = time.monotonic()
    result = job.run()
    assert result.reason == Reason.TIMEOUT and "timed out after 3s" in result.detail, job.log
    assert time.monotonic() - t0 < 20 and not builder_containers(job.spec.job_id)


def test_a_missing_image_is_refused_and_cleanup_is_safe_after_the_failed_prepare(tmp_path, docker_images):
    job = Job(tmp_path, commands=[["true"]])
    job.spec = JobSpec(**{**job.spec.__dict__, "target": {**job.spec.target, "image": "tahobuddy-test/nothing:0"}})
    with pytest.raises(RunnerError) as err:
        job.runner.prepare(job.spec, job.ctx)
    assert err.value.reason == Reason.REFUSED and "tahobuddy-test/nothing:0 is not on this agent" in str(err.value)
    job.runner.cleanup(job.spec, job.ctx)
    job.runner.cleanup(job.spec, job.ctx)


def test_network_none_has_only_loopback_and_app_joins_the_apps_network(tmp_path, docker_images):
    job = Job(tmp_path, network="none", commands=[["sh", "-c", "ls /sys/class/net | tr '\\n' ' '; echo"]])
    assert job.run().status == Status.SUCCEEDED and "lo " in job.lines, job.log
    app = Job(tmp_path, network="app", commands=[["sh", "-c", "ls /sys/class/net | tr '\\n' ' '; echo"]])
    try:
        assert app.run().status == Status.SUCCEEDED and "eth0 lo " in app.lines, app.log
        assert docker.from_env().networks.list(names=[f"tahobuddy-{app.spec.app}"])
    finally:
        remove_app_resources(app.spec.app)


def test_more_cpus_than_the_host_has_is_a_setup_error_with_dockers_explanation(tmp_path, docker_images):
    job = Job(tmp_path, cpus="4096", commands=[["true"]])
    with pytest.raises(RunnerError) as err:
        job.run()
    assert err.value.reason == Reason.SETUP_ERROR and "Range of CPUs is from 0.01" in str(err.value)
    assert not builder_containers(job.spec.job_id)


# ---- through the agent, as a user runs it -------------------------------------------------------
@pytest.fixture
def agent(start_agent, docker_images):
    return start_agent("shell", extra={"BUILD_TOKEN": SECRET})


def builder_app(api, repo: GitRepo, commands, branch="main", **target) -> str:
    name = unique("bld")
    r = requests.put(f"{api.url}/api/v1/apps/{name}", headers=api.headers(), timeout=30, json={
        "name": name, "repository": str(repo.origin), "rules": [{"name": "build", "match": {"branch": branch},
        "target": {"type": "shell", "commands": commands, "image": BASE_IMAGE, "timeout": 120, **target}}]})
    assert r.status_code in (200, 201), r.text
    assert SECRET not in r.text
    return name


def test_a_secret_passed_as_env_reaches_the_container_and_is_masked(api, repo, agent):
    builder_app(api, repo, [["sh", "-c", 'echo "token is $TOKEN"; echo "length ${#TOKEN}"']],
                env={"TOKEN": "secret:BUILD_TOKEN"})
    job = wait_job(api, push_job(api, repo, "refs/heads/main", repo.commit_and_tag("one")))
    log = job_log(api, job["id"])
    assert job["state"] == "succeeded", log
    assert "token is ***" in log and f"length {len(SECRET)}" in log and SECRET not in log


def test_memory_kill_and_cancel_through_the_agent_leave_no_container(api, repo, agent):
    builder_app(api, repo, [ALLOCATE], branch="oom", memory="16m")
    job = wait_job(api, push_job(api, repo, "refs/heads/oom", repo.commit_and_tag("oom", branch="oom")))
    assert job["state"] == "failed" and "killed: memory limit 16m exceeded" in job["reason"], job
    assert job["exit_code"] == 137 and not builder_containers(job["id"])

    builder_app(api, repo, [["sh", "-c", "echo started; sleep 120"]])
    job_id = push_job(api, repo, "refs/heads/main", repo.commit_and_tag("cancel"))
    wait_log(api, job_id, "started")
    assert len(builder_containers(job_id)) == 1
    r = requests.post(f"{api.url}/api/v1/jobs/{job_id}/cancel", headers=api.headers(), json={"reason": "wrong"},
                      timeout=30)
    assert r.status_code == 200, r.text
    job = wait_job(api, job_id, timeout=60)
    assert job["state"] == "canceled" and "wrong" in job["reason"], job
    assert not builder_containers(job_id)

