"""The health watch after a swap, on the real dockerd and Caddy through the API and an agent process: a
version that passes its health check and fails ~10 s after the swap is rolled back by the watch (v1's
kept container serves again, the job fails with reason rolled_back_after_watch, the figures printed); an
agent stopped during a watch ends it cleanly with one version routed."""
import signal
import threading
import time

import docker
import pytest
import requests

from tests.e2e.test_day_two import deploy, put_app, web
from tests.helpers import deliver, push, unique
from tests.realparts import BASE_IMAGE, AgentProcess, GitRepo, job_log, remove_app_resources, wait_job, wait_log
POOL = "watched"   # a pool of their own: a message other tests left in the default queue never reaches these
                   # agents, whose stop must end the job they watch, not a stranger's

pytestmark = pytest.mark.e2e


def breaks_after(version: str, seconds: int) -> str:
    """An app that serves `version`, passes its health check, then loses every page `seconds` later."""
    script = (f"mkdir -p /www; echo {version} > /www/index.html; "
              f"(sleep {seconds}; rm -f /www/index.html) & exec httpd -f -p 8080 -h /www")
    return f'FROM {BASE_IMAGE}\nCMD ["sh", "-c", "{script}"]\n'


def app_containers(name: str) -> list:
    return docker.from_env().containers.list(all=True, filters={"label": [f"tahobuddy.app={name}",
                                                                         "tahobuddy.role=app"]})

def watching_release_2(api, repo) -> str:
    """v1 deployed, then release-2 (v2) pushed: its job's id once its watch has begun."""
    repo.write({"Dockerfile": web("v1")})
    assert deploy(api, repo, "release-1")["state"] == "succeeded"
    repo.write({"Dockerfile": web("v2")})
    sha = repo.commit_and_tag("release-2", "release-2")
    doc = push("x", "refs/tags/release-2", sha=sha, created=True)
    doc["repository"] = {"full_name": "local/site", "clone_url": str(repo.origin)}
    job_id = deliver(api, "push", doc).json()["jobs"][0]
    wait_log(api, job_id, "watch: checking the new container")
    return job_id


def forget(api, name: str) -> None:
    """Delete the app through the API: a job of it that an agent killed mid-watch left running comes back
    when its lease lapses, and any agent of the pool that receives it then is refused at once (the app is
    gone) instead of deploying it again, 300 s watch and all, in whichever test runs next."""
    requests.delete(f"{api.url}/api/v1/apps/{name}", headers=api.headers(), timeout=30)



class Requests:
    """GETs through Caddy every 50 ms, each on a fresh connection; (epoch seconds, page or error) kept.
    Bounded: it stops by itself after `budget` seconds."""

    def __init__(self, caddy, host: str, budget: float = 120):
        self.caddy, self.host, self.budget = caddy, host, budget
        self.seen: list[tuple[float, str]] = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        end = time.monotonic() + self.budget
        while not self.done.is_set() and time.monotonic() < end:
            try:
                r = self.caddy.get(self.host, timeout=2)
                page = r.text.strip() if r.status_code == 200 else f"HTTP {r.status_code}"
            except Exception as exc:
                page = exc.__class__.__name__
            self.seen.append((time.time(), page))
            self.done.wait(0.05)

    def stop(self):
        self.done.set()
        self.thread.join(timeout=10)


def test_a_version_failing_10_s_after_the_swap_is_rolled_back_by_the_watch_and_v1_serves_again(
        api, agent_tokens, caddy, tmp_path, docker_images, empty_queue):
    repo, name = GitRepo(tmp_path / "watched"), unique("watch")
    host = put_app(api, name, repo, pool=POOL, watch_seconds=40, watch_failures=3)
    agent = AgentProcess(api, agent_tokens(POOL), tmp_path, caddy, name=POOL, extra={"TAHOBUDDY_POOL": POOL})
    loop = None
    try:
        repo.write({"Dockerfile": web("v1")})
        first = deploy(api, repo, "release-1")  # nothing to swap back to: not watched
        assert first["state"] == "succeeded" and "watch:" not in job_log(api, first["id"]), first
        [v1] = app_containers(name)

        loop = Requests(caddy, host)
        repo.write({"Dockerfile": breaks_after("v2", 10)})
        job = deploy(api, repo, "release-2")
        time.sleep(1)  # a second of v1 after the swap back
        loop.stop()
        log = job_log(api, job["id"])
        assert job["state"] == "failed" and job["reason_code"] == "rolled_back_after_watch", log
        assert "3 health checks in a row failed (/ answered 404)" in job["reason"], job["reason"]
        assert "s after the swap" in job["reason"] and "release-1" in job["reason"], job["reason"]
        assert caddy.get(host).text.strip() == "v1"
        assert [c.id for c in app_containers(name)] == [v1.id]  # v1's own container, v2's removed

        pages = [page for _, page in loop.seen]
        assert "v2" in pages, pages[:20]
        after_v2 = pages.index("v2")
        bad = [i for i, page in enumerate(pages) if i > after_v2 and page not in ("v1", "v2")]
        assert bad, "the loop never saw v2 fail"
        back = next(i for i in range(bad[0], len(pages)) if pages[i] == "v1")
        failed_between = sum(1 for page in pages[bad[0]:back] if page not in ("v1", "v2"))
        marks = job["phases"]
        served_again = loop.seen[back][0]
        figures = {
            "swap -> first failed check (s)": round(marks["watch_first_failed"] - marks["route_switched"], 2),
            "first failed check -> detection (s)": round(marks["watch_failed"] - marks["watch_first_failed"], 2),
            "detection -> route back to v1 (s)": round(marks["rolled_back"] - marks["watch_failed"], 3),
            "first failed check -> v1 serving, seen by a client (s)":
                round(served_again - marks["watch_first_failed"], 2),
            "first failed request -> v1 serving (s)": round(served_again - loop.seen[bad[0]][0], 2),
            "failed requests in between (one every 50 ms)": failed_between,
        }
        print("\nwatch rollback figures:")
        for label, value in figures.items():
            print(f"  {label}: {value}")
        assert figures["detection -> route back to v1 (s)"] < 5, figures  # the aim: back within 5 s
        assert 8 <= figures["swap -> first failed check (s)"] <= 20, figures  # it did fail ~10 s after the swap
    finally:
        if loop:
            loop.stop()
        forget(api, name)
        assert agent.stop() == 0, agent.output()
        remove_app_resources(name)


def test_an_agent_stopped_during_the_watch_ends_it_with_the_new_version_alone_routed(
        api, agent_tokens, caddy, tmp_path, docker_images, empty_queue):
    repo, name = GitRepo(tmp_path / "stopped"), unique("watchstop")
    host = put_app(api, name, repo, pool=POOL, watch_seconds=300)
    agent = AgentProcess(api, agent_tokens(POOL), tmp_path, caddy, name=POOL, extra={"TAHOBUDDY_POOL": POOL})
    try:
        job_id = watching_release_2(api, repo)
        assert len([c for c in app_containers(name) if c.status == "running"]) == 2  # v1 kept, unrouted
        assert caddy.get(host).text.strip() == "v2"
        agent.signal(signal.SIGTERM)  # the first signal lets the job (and its watch) go on ...
        time.sleep(2)
        assert agent.proc.poll() is None
        agent.signal(signal.SIGTERM)  # ... the second ends the watch; the new version stays
        assert agent.proc.wait(timeout=60) == 0, agent.output()
        job = wait_job(api, job_id)
        assert job["state"] == "succeeded", job_log(api, job_id)
        assert "the watch was cut short" in job["reason"], job
        assert caddy.get(host).text.strip() == "v2"
        assert len(app_containers(name)) == 1  # v1's container retired: one version, the routed one
    finally:
        forget(api, name)
        agent.stop()
        remove_app_resources(name)


def test_an_agent_killed_during_the_watch_leaves_only_the_routed_version_once_it_starts_again(
        api, agent_tokens, caddy, tmp_path, docker_images, empty_queue):
    repo, name = GitRepo(tmp_path / "killed"), unique("watchkill")
    host = put_app(api, name, repo, pool=POOL, watch_seconds=300)
    agent = AgentProcess(api, agent_tokens(POOL), tmp_path, caddy, name="killed-watch",
                         extra={"TAHOBUDDY_POOL": POOL})
    try:
        job_id = watching_release_2(api, repo)
        agent.signal(signal.SIGKILL)
        agent.proc.wait(timeout=30)
        assert len([c for c in app_containers(name) if c.status == "running"]) == 2  # v1 left, unrouted

        agent = AgentProcess(api, agent_tokens(POOL), tmp_path, caddy, name="killed-watch",
                         extra={"TAHOBUDDY_POOL": POOL})  # the same workdir
        assert "removed the old container" in agent.output(), agent.output()[-2000:]
        assert [c.status for c in app_containers(name)] == ["running"]
        assert caddy.get(host).text.strip() == "v2"
    finally:
        forget(api, name)
        agent.stop()
        remove_app_resources(name)
