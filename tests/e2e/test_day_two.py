"""Day two for a running app, on the real dockerd and Caddy through the API and an agent process:
limits, named volumes, log rotation and the restart policy of the app's container; a volume's data kept
across a deploy and a rollback; removed only by `apps --delete NAME --purge`; what the app prints, read
with `tahobuddy logs --app`."""
import json
import os
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import docker
import pytest
import requests

from functions.dispatch import schedules
from tests.helpers import deliver, push, unique
from tests.realparts import (BASE_IMAGE, AgentProcess, GitRepo, job_log, remove_app_resources, wait_for, wait_job,
                             wait_log)

pytestmark = pytest.mark.e2e
CLI = str(Path(sys.executable).parent / "tahobuddy")


def start(version: str) -> str:
    """A Dockerfile whose app appends its version to /data/seen (a named volume) and serves the file."""
    script = (f"echo {version} >> /data/seen && mkdir -p /www && cp /data/seen /www/seen.txt && "
              f"echo {version} > /www/index.html && exec httpd -f -p 8080 -h /www")
    return f'FROM {BASE_IMAGE}\nCMD ["sh", "-c", "{script}"]\n'


def deploy(api, repo: GitRepo, tag: str) -> dict:
    sha = repo.commit_and_tag(tag, tag)
    doc = push("x", f"refs/tags/{tag}", sha=sha, created=True)
    doc["repository"] = {"full_name": "local/site", "clone_url": str(repo.origin)}
    r = deliver(api, "push", doc)
    assert r.status_code == 200 and len(r.json()["jobs"]) == 1, r.text
    return wait_job(api, r.json()["jobs"][0])


def put_app(api, name: str, repo: GitRepo, **target) -> str:
    host = f"{name}.localhost"
    r = requests.put(f"{api.url}/api/v1/apps/{name}", headers=api.headers(), timeout=30, json={
        "name": name, "repository": str(repo.origin), "hostname": host, "port": 8080,
        "rules": [{"name": "release", "match": {"tag": "release-*"},
                   "target": {"type": "docker", "health_path": "/", "health_timeout": 30, "drain_seconds": 0, "watch_seconds": 0,
                              **target}}]})
    assert r.status_code == 201, r.text
    return host


def serving(name: str):
    client = docker.from_env()
    found = client.containers.list(filters={"label": [f"tahobuddy.app={name}", "tahobuddy.role=app"]})
    assert len(found) == 1, [c.name for c in found]
    return found[0]


def cli(api, *args, stdin=None):
    env = {**os.environ, "TAHOBUDDY_API_URL": api.url, "TAHOBUDDY_TOKEN": api.token}
    return subprocess.run([CLI, *args], capture_output=True, text=True, env=env, input=stdin, timeout=120)


def test_limits_volumes_rotation_and_restart_in_docker_inspect_and_data_kept_until_purge(
        api, agent_token, caddy, tmp_path, docker_images, empty_queue):
    repo, name = GitRepo(tmp_path / "site"), unique("day2")
    host = put_app(api, name, repo, cpus=0.5, memory="64m", pids=128, volumes={"state": "/data"},
                   log_options={"max-size": "5m"})
    agent = AgentProcess(api, agent_token, tmp_path, caddy)
    try:
        repo.write({"Dockerfile": start("v1")})
        assert deploy(api, repo, "release-1")["state"] == "succeeded"
        host_config = serving(name).attrs["HostConfig"]
        assert host_config["NanoCpus"] == 500_000_000 and host_config["Memory"] == 64 * 1024 ** 2
        assert host_config["PidsLimit"] == 128
        assert host_config["LogConfig"] == {"Type": "json-file", "Config": {"max-size": "5m", "max-file": "3"}}
        assert host_config["RestartPolicy"]["Name"] == "unless-stopped"
        mounts = serving(name).attrs["Mounts"]
        assert [(m["Type"], m["Name"], m["Destination"]) for m in mounts] == [
            ("volume", f"tahobuddy-{name}-vol-state", "/data")]
        assert caddy.get(host, "/seen.txt").text.split() == ["v1"]

        repo.write({"Dockerfile": start("v2")})
        assert deploy(api, repo, "release-2")["state"] == "succeeded"
        assert caddy.get(host, "/seen.txt").text.split() == ["v1", "v2"]  # v2 reads what v1 wrote

        r = requests.post(f"{api.url}/api/v1/apps/{name}/rollback", json={"to": "release-1"},
                          headers=api.headers(), timeout=30)
        job = wait_job(api, r.json()["jobs"][0]["id"])
        assert job["state"] == "succeeded", job_log(api, job["id"])
        assert caddy.get(host, "/").text.strip() == "v1"
        assert caddy.get(host, "/seen.txt").text.split() == ["v1", "v2", "v1"]

        refused = cli(api, "apps", "--delete", name, "--purge", stdin="not-the-name\n")
        assert refused.returncode == 1 and "not deleted" in refused.stderr, refused
        assert requests.get(f"{api.url}/api/v1/apps/{name}", headers=api.headers(), timeout=10).status_code == 200

        done = cli(api, "apps", "--delete", name, "--purge", stdin=f"{name}\n")
        assert done.returncode == 0, done
        [purge] = json.loads(done.stdout)["purge_jobs"]
        job = wait_job(api, purge["id"])
        assert job["state"] == "succeeded", job_log(api, job["id"])
        client = docker.from_env()
        assert client.volumes.list(filters={"name": f"tahobuddy-{name}-"}) == []
        assert client.containers.list(all=True, filters={"label": f"tahobuddy.app={name}"}) == []
        assert caddy.get(host).text.strip() != "v1"  # its route went too
    finally:
        assert agent.stop() == 0, agent.output()
        remove_app_resources(name)


def web(version: str, extra: str = "") -> str:
    return (f'FROM {BASE_IMAGE}\nRUN mkdir -p /www && echo {version} > /www/index.html\n{extra}'
            'CMD ["httpd", "-f", "-p", "8080", "-h", "/www"]\n')


def test_a_failing_release_command_leaves_v1_serving_and_a_procfile_release_line_is_honoured(
        api, agent_token, caddy, tmp_path, docker_images, empty_queue):
    repo, name = GitRepo(tmp_path / "rel"), unique("rel")
    # the release command sees the app's environment and volumes, and its output reaches the job log
    host = put_app(api, name, repo, env={"GREETING": "hello"}, volumes={"state": "/data"},
                   release_command=["sh", "-c", "echo migrating with $GREETING; test ! -e /www/broken"])
    agent = AgentProcess(api, agent_token, tmp_path, caddy)
    try:
        repo.write({"Dockerfile": web("v1")})
        job = deploy(api, repo, "release-1")
        assert job["state"] == "succeeded", job_log(api, job["id"])
        assert "[release] migrating with hello" in job_log(api, job["id"])
        v1 = serving(name).id

        repo.write({"Dockerfile": web("v2", "RUN touch /www/broken\n")})
        job = deploy(api, repo, "release-2")
        assert job["state"] == "failed" and job["reason_code"] == "release_failed", job
        assert "exited 1" in job["reason"], job
        assert caddy.get(host).text.strip() == "v1" and serving(name).id == v1  # v2 never started
        client = docker.from_env()
        assert client.containers.list(all=True, filters={"label": [f"tahobuddy.app={name}",
                                                                   "tahobuddy.role=release"]}) == []

        # without release_command, the Procfile's release: line at that commit runs (under sh -c)
        requests.put(f"{api.url}/api/v1/apps/{name}", headers=api.headers(), timeout=30, json={
            **requests.get(f"{api.url}/api/v1/apps/{name}", headers=api.headers(), timeout=10).json(),
            "rules": [{"name": "release", "match": {"tag": "release-*"},
                       "target": {"type": "docker", "health_path": "/", "health_timeout": 30, "drain_seconds": 0, "watch_seconds": 0,
                                  "volumes": {"state": "/data"}}}]}).raise_for_status()
        repo.write({"Dockerfile": web("v3"), "Procfile": "web: httpd\nrelease: echo from-procfile > /data/released\n"})
        job = deploy(api, repo, "release-3")
        assert job["state"] == "succeeded", job_log(api, job["id"])
        assert "release command: sh -c echo from-procfile > /data/released" in job_log(api, job["id"])
        assert caddy.get(host).text.strip() == "v3"
        seen = client.containers.run(BASE_IMAGE, ["cat", "/data/released"], remove=True,
                                     volumes={f"tahobuddy-{name}-vol-state": {"bind": "/data", "mode": "ro"}})
        assert seen.decode().strip() == "from-procfile"

        repo.write({"Procfile": "release: exit 7\n", "Dockerfile": web("v4")})
        job = deploy(api, repo, "release-4")
        assert job["state"] == "failed" and job["reason_code"] == "release_failed" and "exited 7" in job["reason"]
        assert caddy.get(host).text.strip() == "v3"
    finally:
        assert agent.stop() == 0, agent.output()
        remove_app_resources(name)


def run_containers(name: str) -> list:
    return docker.from_env().containers.list(all=True, filters={"label": [f"tahobuddy.app={name}",
                                                                         "tahobuddy.role=run"]})


def test_run_streams_its_output_cleans_up_times_out_and_can_be_canceled(
        api, agent_token, caddy, tmp_path, docker_images, empty_queue):
    repo, name = GitRepo(tmp_path / "run"), unique("run")
    put_app(api, name, repo, env={"GREETING": "hello"}, volumes={"state": "/data"})
    agent = AgentProcess(api, agent_token, tmp_path, caddy)
    try:
        refused = cli(api, "run", name, "--", "true")
        assert refused.returncode == 1 and "serves nothing yet" in refused.stderr, refused
        repo.write({"Dockerfile": web("v1")})
        assert deploy(api, repo, "release-1")["state"] == "succeeded"

        done = cli(api, "run", name, "--", "sh", "-c", "echo $GREETING from $(cat /www/index.html); "
                   "echo kept > /data/note; wget -q -O - http://127.0.0.1:1 || echo no-port; exit 3")
        assert done.returncode == 1 and "failed: the command exited 3" in done.stderr, done
        assert "hello from v1" in done.stdout and "no-port" in done.stdout, done.stdout
        assert run_containers(name) == []
        again = cli(api, "run", name, "--", "cat", "/data/note")  # the app's volume, kept between runs
        assert again.returncode == 0 and "kept" in again.stdout, again

        r = requests.post(f"{api.url}/api/v1/apps/{name}/run", json={"argv": ["sleep", "30"], "timeout": 2},
                          headers=api.headers(), timeout=30)
        job = wait_job(api, r.json()["jobs"][0]["id"], timeout=60)
        assert job["state"] == "failed" and job["reason_code"] == "timeout", job
        assert run_containers(name) == []

        r = requests.post(f"{api.url}/api/v1/apps/{name}/run", json={"argv": ["sh", "-c", "echo started; sleep 120"]},
                          headers=api.headers(), timeout=30)
        job_id = r.json()["jobs"][0]["id"]
        wait_log(api, job_id, "started")
        requests.post(f"{api.url}/api/v1/jobs/{job_id}/cancel", json={"reason": "enough"}, headers=api.headers(),
                      timeout=30).raise_for_status()
        job = wait_job(api, job_id, timeout=60)
        assert job["state"] == "canceled", job
        assert run_containers(name) == []
    finally:
        assert agent.stop() == 0, agent.output()
        remove_app_resources(name)


def test_a_scheduled_command_runs_in_the_serving_image_on_the_sweepers_tick(
        api, agent_token, caddy, tmp_path, docker_images, empty_queue):
    """A rule's `schedule.command` is a `run` job on its tick (an injected clock, never a sleep): the argv
    runs in a new container of the image the target serves, with the app's env, and is removed after."""
    repo, name = GitRepo(tmp_path / "nightly"), unique("nightly")
    host = f"{name}.localhost"
    r = requests.put(f"{api.url}/api/v1/apps/{name}", headers=api.headers(), timeout=30, json={
        "name": name, "repository": str(repo.origin), "hostname": host, "port": 8080,
        "rules": [{"name": "release", "match": {"tag": "release-*"},
                   "schedule": {"cron": "0 3 * * *",
                                "command": ["sh", "-c", "echo $GREETING from $(cat /www/index.html)"]},
                   "target": {"type": "docker", "health_path": "/", "health_timeout": 30, "drain_seconds": 0,
                              "watch_seconds": 0, "env": {"GREETING": "nightly"}}}]})
    assert r.status_code == 201, r.text
    night = datetime(2027, 4, 1, 3, 0, tzinfo=timezone.utc).timestamp()
    agent = AgentProcess(api, agent_token, tmp_path, caddy)
    try:
        repo.write({"Dockerfile": web("v1")})
        assert deploy(api, repo, "release-1")["state"] == "succeeded"
        assert [t for t in schedules.tick(night - 30) if t["app"] == name] == []   # first look: counts from now
        [fired] = [t for t in schedules.tick(night + 10) if t["app"] == name]
        assert fired["outcome"] == "queued", fired
        job = wait_job(api, fired["job_id"], timeout=90)
        assert (job["state"], job["trigger"]) == ("succeeded", "run"), job
        assert "nightly from v1" in job_log(api, job["id"])
        assert run_containers(name) == []
        assert caddy.get(host, "/").text.strip() == "v1"
    finally:
        assert agent.stop() == 0, agent.output()
        remove_app_resources(name)


def ticking(version: str) -> str:
    """A web app that also prints a line a second, with its version, the time and a secret from its env."""
    script = (f"mkdir -p /www && echo {version} > /www/index.html && httpd -p 8080 -h /www && "
              f"while true; do echo tick {version} $(date +%s) token=$API_TOKEN; sleep 1; done")
    return f'FROM {BASE_IMAGE}\nCMD ["sh", "-c", "{script}"]\n'


def test_logs_app_follows_what_the_serving_container_prints_masked_and_moves_to_a_swaps_new_container(
        api, agent_token, caddy, tmp_path, docker_images, empty_queue):
    """`tahobuddy logs --app APP -f` shows lines the app printed after the command started (the line says
    when; how soon is bench/app_output.py's figure); the secret it prints is masked by the agent; a deploy's new
    container is followed, and an agent started after the deploy masks the secret too; a deleted app's
    container is no longer followed."""
    repo, name, secret = GitRepo(tmp_path / "out"), unique("out"), "s3cr3t-" + unique("tok")
    put_app(api, name, repo, env={"API_TOKEN": "secret:OUT_API_TOKEN"})
    agent = AgentProcess(api, agent_token, tmp_path, caddy, extra={"OUT_API_TOKEN": secret})
    follower = None
    try:
        repo.write({"Dockerfile": ticking("v1")})
        job = deploy(api, repo, "release-1")
        assert job["state"] == "succeeded", job_log(api, job["id"])
        env = {**os.environ, "TAHOBUDDY_API_URL": api.url, "TAHOBUDDY_TOKEN": api.token}
        started = time.time()
        follower = subprocess.Popen([CLI, "logs", "--app", name, "-f", "--timeout", "120"], stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True, env=env)
        seen = []

        def next_tick(version: str, after: float = 0) -> str:
            for _ in range(200):  # bounded: a tick a second, and whatever came before
                line = follower.stdout.readline()
                assert line, f"logs -f ended: {follower.stderr.read() if follower.poll() is not None else ''}"
                seen.append(line.strip())
                words = line.split()
                if words[:2] == ["tick", version] and int(words[2]) >= int(max(started, after)) + 1:
                    return line  # printed after the command started (and after `after`)
            raise AssertionError(f"no tick of {version} printed after the command started; seen {seen[-20:]}")

        line = next_tick("v1")
        assert "token=***" in line and secret not in line, line
        assert all(secret not in s for s in seen)

        repo.write({"Dockerfile": ticking("v2")})
        job = deploy(api, repo, "release-2")
        assert job["state"] == "succeeded", job_log(api, job["id"])
        assert "token=***" in next_tick("v2")  # the swap's new container, followed by the same command

        # an agent started after the deploy never resolved the secret: it learns it from the container's config
        assert agent.stop() == 0, agent.output()
        restarted = time.time()
        agent = AgentProcess(api, agent_token, tmp_path, caddy, extra={"OUT_API_TOKEN": secret})
        line = next_tick("v2", after=restarted)
        assert "token=***" in line and secret not in line, line

        since = cli(api, "logs", "--app", name, "--since", "1m")
        assert since.returncode == 0 and "tick v1" in since.stdout and "tick v2" in since.stdout, since

        assert requests.delete(f"{api.url}/api/v1/apps/{name}", headers=api.headers(), timeout=30).status_code == 200
        wait_for(lambda: f"no longer following {name}" in agent.output(), "the agent to stop following the app",
                 20, seen=lambda: agent.output()[-1500:])
    finally:
        if follower:
            follower.kill()
            follower.wait()
        assert agent.stop() == 0, agent.output()
        remove_app_resources(name)
