"""git tag -> signed webhook -> agent -> container serving behind Caddy, for real:
dockerd, Caddy, git, moto server and chalice local, all on loopback."""
import collections
import os
import signal
import threading
import time

import pytest
import requests

from tests.helpers import deliver, push, unique
from tests.realparts import BASE_IMAGE, AgentProcess, GitRepo, job_log, remove_app_resources, wait_for, wait_job, wait_log

pytestmark = pytest.mark.e2e

DOCKERFILE = f"""FROM {BASE_IMAGE}
COPY www /www
EXPOSE 8080
CMD ["httpd", "-f", "-p", "8080", "-h", "/www"]
"""


def tag_push(repo: GitRepo, tag: str, sha: str) -> dict:
    doc = push("x", f"refs/tags/{tag}", sha=sha, created=True)
    doc["repository"] = {"full_name": "local/site", "clone_url": str(repo.origin)}
    return doc


def deploy(api, repo, tag: str, sha: str) -> dict:
    r = deliver(api, "push", tag_push(repo, tag, sha))
    assert r.status_code == 200 and len(r.json()["jobs"]) == 1, r.text
    return wait_job(api, r.json()["jobs"][0])


class Loop:
    """A bounded request loop through the proxy: counts every answer that is not a version page."""

    def __init__(self, caddy, host: str):
        self.caddy, self.host, self.counts, self.failures = caddy, host, collections.Counter(), []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        deadline = time.monotonic() + 240
        while not self.stop.is_set() and time.monotonic() < deadline:
            try:
                r = self.caddy.get(self.host, timeout=5)
                body = r.text.strip()
                if r.status_code != 200 or not body.startswith("v"):
                    self.failures.append(f"{r.status_code} {body[:60]}")
                self.counts[body] += 1
            except requests.RequestException as exc:
                self.failures.append(repr(exc))
            time.sleep(0.01)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=10)


@pytest.fixture
def site(api, tmp_path, docker_images):
    repo, name = GitRepo(tmp_path / "site"), unique("site")
    host = f"{name}.localhost"
    r = requests.put(f"{api.url}/api/v1/apps/{name}", headers=api.headers(), timeout=30, json={
        "name": name, "repository": str(repo.origin), "hostname": host, "port": 8080,
        "rules": [{"name": "release", "match": {"tag": "release-*"},
                   "target": {"type": "docker", "health_path": "/", "health_timeout": 30, "drain_seconds": 1, "watch_seconds": 0}}]})
    assert r.status_code == 201, r.text
    yield repo, name, host
    remove_app_resources(name)


def test_release_tags_deploy_swap_without_downtime_fail_safely_and_roll_back(
        api, agent_token, caddy, site, tmp_path, empty_queue):
    repo, name, host = site
    agent = AgentProcess(api, agent_token, tmp_path, caddy)
    try:
        repo.write({"Dockerfile": DOCKERFILE, "www/index.html": "v1\n"})
        job = deploy(api, repo, "release-1", repo.commit_and_tag("v1", "release-1"))
        assert job["state"] == "succeeded", job_log(api, job["id"])
        assert caddy.get(host).text.strip() == "v1"

        repo.write({"www/index.html": "v2\n"})
        sha2 = repo.commit_and_tag("v2", "release-2")
        with Loop(caddy, host) as loop:
            wait_for(lambda: loop.counts["v1"] >= 20, "the loop to be served by v1",
                     seen=lambda: (dict(loop.counts), loop.failures[-3:]))
            job = deploy(api, repo, "release-2", sha2)
            after = loop.counts["v2"]  # the old container is retired by now; keep asking past it
            wait_for(lambda: loop.counts["v2"] >= after + 50, "the loop to be served by v2 after the swap",
                     seen=lambda: (dict(loop.counts), loop.failures[-3:]))
        assert job["state"] == "succeeded", job_log(api, job["id"])
        assert loop.failures == [] and loop.counts["v1"] >= 20, (loop.failures[:5], loop.counts)
        assert caddy.get(host).text.strip() == "v2"

        repo.write({"Dockerfile": DOCKERFILE.replace("COPY www", "RUN exit 3\nCOPY www"), "www/index.html": "v3\n"})
        job = deploy(api, repo, "release-3", repo.commit_and_tag("v3 broken", "release-3"))
        assert job["state"] == "failed" and "build failed" in job["reason"], job
        assert caddy.get(host).text.strip() == "v2"  # the old version keeps serving

        r = requests.post(f"{api.url}/api/v1/apps/{name}/rollback", json={"to": "release-1"}, headers=api.headers())
        job = wait_job(api, r.json()["jobs"][0]["id"])
        assert job["state"] == "succeeded", job_log(api, job["id"])
        assert "rolling back" in job_log(api, job["id"]) and "building" not in job_log(api, job["id"])
        assert caddy.get(host).text.strip() == "v1"
    finally:
        assert agent.stop() == 0, agent.output()


def test_agent_killed_mid_build_the_job_completes_on_restart(api, agent_token, caddy, site, tmp_path, empty_queue):
    repo, name, host = site
    slow = DOCKERFILE.replace("COPY www", f"RUN sleep 6 && echo {name}\nCOPY www")  # never a cached layer
    repo.write({"Dockerfile": slow, "www/index.html": "v-slow\n"})
    sha = repo.commit_and_tag("slow", "release-9")
    first = AgentProcess(api, agent_token, tmp_path, caddy, name="first")
    job_id = deliver(api, "push", tag_push(repo, "release-9", sha)).json()["jobs"][0]
    wait_log(api, job_id, "building")
    first.signal(signal.SIGKILL)
    first.proc.wait(timeout=10)
    assert wait_job(api, job_id, states={"running"})["state"] == "running"  # half-claimed, lease ticking
    second = AgentProcess(api, agent_token, tmp_path, caddy, name="second")
    try:
        job = wait_job(api, job_id, timeout=120)
        assert job["state"] == "succeeded" and job["attempts"] == 2, job
        assert job["agent_id"].startswith("second")
        assert caddy.get(host).text.strip() == "v-slow"
    finally:
        second.stop()



def test_unhealthy_release_keeps_the_old_one_and_a_restarted_caddy_serves_again(
        api, agent_token, site, tmp_path, empty_queue):
    from tests.realparts import Caddy
    repo, name, host = site
    proxy = Caddy(tmp_path / "own-caddy")
    agent = AgentProcess(api, agent_token, tmp_path, proxy, name="healthy")
    try:
        repo.write({"Dockerfile": DOCKERFILE, "www/index.html": "v1\n"})
        assert deploy(api, repo, "release-1", repo.commit_and_tag("v1", "release-1"))["state"] == "succeeded"
        repo.write({"Dockerfile": DOCKERFILE.replace('CMD ["httpd"', 'CMD ["sh", "-c", "exit 1", "httpd"')})
        job = deploy(api, repo, "release-2", repo.commit_and_tag("dies at start", "release-2"))
        assert job["state"] == "failed" and "health check failed" in job["reason"], job
        assert proxy.get(host).text.strip() == "v1"
        import docker
        assert len(docker.from_env().containers.list(filters={"label": f"tahobuddy.app={name}"})) == 1  # cleaned up
        agent.stop()
        proxy.stop()  # Caddy forgets every route
        proxy = Caddy.__new__(Caddy)
        Caddy.__init__(proxy, tmp_path / "own-caddy-again")
        with pytest.raises(requests.ConnectionError):  # a fresh Caddy: no server, no routes
            proxy.get(host)
        agent = AgentProcess(api, agent_token, tmp_path, proxy, name="healthy")  # same workdir: a restart
        assert proxy.get(host).text.strip() == "v1"  # server and routes re-applied when the agent started
    finally:
        agent.stop()
        proxy.stop()


def test_a_container_docker_will_not_start_fails_the_job_in_dockers_words_and_the_old_version_keeps_serving(
        api, agent_token, caddy, site, tmp_path, empty_queue):
    """dockerd answers the new container's create or start with an error (here more cpus than the host has;
    in a CI run, a host port another engine held): a setup_error in Docker's words, naming what still
    serves, never "docker runner crashed"; the route and the old container stay, nothing is left behind."""
    import docker
    repo, name, host = site
    agent = AgentProcess(api, agent_token, tmp_path, caddy)
    try:
        repo.write({"Dockerfile": DOCKERFILE, "www/index.html": "v1\n"})
        sha1 = repo.commit_and_tag("v1", "release-1")
        assert deploy(api, repo, "release-1", sha1)["state"] == "succeeded"
        r = requests.put(f"{api.url}/api/v1/apps/{name}", headers=api.headers(), timeout=30, json={
            "name": name, "repository": str(repo.origin), "hostname": host, "port": 8080,
            "rules": [{"name": "release", "match": {"tag": "release-*"},
                       "target": {"type": "docker", "health_path": "/", "health_timeout": 30, "drain_seconds": 1,
                                  "watch_seconds": 0, "cpus": 4096}}]})
        assert r.status_code == 200, r.text
        repo.write({"www/index.html": "v2\n"})
        job = deploy(api, repo, "release-2", repo.commit_and_tag("v2", "release-2"))
        log = job_log(api, job["id"])
        assert (job["state"], job["reason_code"]) == ("failed", "setup_error"), (job, log[-800:])
        assert job["reason"].startswith(
            "setup_error: Docker would not start the new container: Range of CPUs is from 0.01 "), job["reason"]
        assert job["reason"].endswith("; the route still points at refs/tags/release-1 "
                                      f"({sha1[:12]})"), job["reason"]
        assert "runner crashed" not in log, log[-800:]
        assert caddy.get(host).text.strip() == "v1"
        left = docker.from_env().containers.list(all=True, filters={"label": f"tahobuddy.app={name}"})
        assert [c.labels.get("tahobuddy.ref") for c in left] == ["refs/tags/release-1"], \
            [(c.name, c.labels) for c in left]
    finally:
        agent.stop()


def test_rollback_is_served_by_another_agent_of_the_pool_or_refused_naming_the_holder(
        api, agent_token, caddy, site, tmp_path, empty_queue):
    """Release history lives in the store: a second agent (its own workdir, the same Docker Engine)
    rolls back to an image the first one built; an image no Engine here holds is refused, naming
    the agent that built it."""
    import docker
    repo, name, host = site
    first = AgentProcess(api, agent_token, tmp_path, caddy, name="builder")
    repo.write({"Dockerfile": DOCKERFILE, "www/index.html": "v1\n"})
    one = deploy(api, repo, "release-1", repo.commit_and_tag("v1", "release-1"))
    repo.write({"www/index.html": "v2\n"})
    two = deploy(api, repo, "release-2", repo.commit_and_tag("v2", "release-2"))
    assert (one["state"], two["state"]) == ("succeeded", "succeeded") and caddy.get(host).text.strip() == "v2"
    assert first.stop() == 0
    second = AgentProcess(api, agent_token, tmp_path, caddy, name="stand-in")
    r = requests.post(f"{api.url}/api/v1/apps/{name}/rollback", json={"to": "release-1"}, headers=api.headers())
    job = wait_job(api, r.json()["jobs"][0]["id"])
    assert job["state"] == "succeeded" and job["agent_id"].startswith("stand-in"), job_log(api, job["id"])
    assert caddy.get(host).text.strip() == "v1"
    client = docker.from_env()
    image = next(i for i in client.images.list(filters={"label": f"tahobuddy.app={name}"})
                 if i.labels.get("tahobuddy.ref") == "refs/tags/release-2")
    client.images.remove(image.id, force=True)  # as if it lived only on the first agent's machine
    r = requests.post(f"{api.url}/api/v1/apps/{name}/rollback", json={"to": "release-2"}, headers=api.headers())
    job = wait_job(api, r.json()["jobs"][0]["id"])
    assert (job["state"], job["reason_code"], job["exit_code"]) == ("failed", "refused", -1), job
    assert f"builder-{os.getpid()} holds it" in job["reason"] and "release-2" in job["reason"], job["reason"]
    assert caddy.get(host).text.strip() == "v1"  # still serving
    second.stop()


def test_old_images_are_pruned_to_keep_images_and_another_installations_are_left(
        api, agent_token, caddy, site, tmp_path, empty_queue):
    """Two installations may share one Docker Engine with an app of the same name: each prunes only its own
    images (and images built before the installation label, as before)."""
    import docker
    repo, name, host = site
    r = requests.put(f"{api.url}/api/v1/apps/{name}", headers=api.headers(), timeout=30, json={
        "name": name, "repository": str(repo.origin), "hostname": host, "port": 8080,
        "rules": [{"name": "release", "match": {"tag": "release-*"},
                   "target": {"type": "docker", "health_path": "/", "drain_seconds": 0, "watch_seconds": 0, "keep_images": 1}}]})
    assert r.status_code == 200, r.text
    client = docker.from_env()
    base = client.containers.create(BASE_IMAGE, ["true"])
    try:  # an image of the same app name made by another installation on this engine
        theirs = base.commit(f"tahobuddy-test/other-installation-{name}", "1", conf={"Labels": {
            "tahobuddy.app": name, "tahobuddy.installation": "someone-else"}})
    finally:
        base.remove(force=True)
    agent = AgentProcess(api, agent_token, tmp_path, caddy)
    built = []
    try:
        for n in (1, 2, 3):
            repo.write({"Dockerfile": DOCKERFILE, "www/index.html": f"v{n}\n"})
            job = deploy(api, repo, f"release-{n}", repo.commit_and_tag(f"v{n}", f"release-{n}"))
            assert job["state"] == "succeeded", job_log(api, job["id"])
            built.append(next(i.id for i in client.images.list(filters={"label": f"tahobuddy.job={job['id']}"})))
        assert caddy.get(host).text.strip() == "v3"
        ours = {i.id for i in client.images.list(filters={"label": f"tahobuddy.app={name}"})} - {theirs.id}
        assert ours == {built[2]}, (ours, built)  # keep_images: 1
        assert client.images.get(theirs.id).labels["tahobuddy.installation"] == "someone-else"  # still there
        assert "removed old image" in job_log(api, job["id"])
    finally:
        assert agent.stop() == 0, agent.output()
        try:
            client.images.remove(theirs.id, force=True)
        except docker.errors.ImageNotFound:
            pass  # the assertion above says it went
