"""Faults injected into real parts, and what the user sees (docs/architecture/faults.md has the table).

A fault between two parts is a loopback TCP proxy the test owns and pauses (its port refuses
connections and open ones are cut), then resumes on the same port: the API cut off from the AWS
endpoint, the agent cut off from the API. Every figure asserted here is counted, never assumed:
deliveries answered, jobs ended, and runs of each job's commands (one file per run).
"""
from __future__ import annotations

import functools
import hashlib
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest
import requests

from local import procs
from tests import helpers
from tests.helpers import push_job, push_to, unique
from tests.realparts import (BASE_IMAGE, AgentProcess, Caddy, GitRepo, job_log, remove_app_resources, wait_for,
                              wait_job, wait_log)

pytestmark = pytest.mark.functional
shell_app = functools.partial(helpers.shell_app, prefix="fault", match={"branch": "*"}, timeout=180, pool="default")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class TcpProxy:
    """127.0.0.1:port -> upstream. `pause()` closes the port and cuts open connections (the far side
    is unreachable); `hang()` cuts them too, then accepts and never answers (the far side is up and stuck:
    a request waits its whole timeout); `resume()` forwards on the same port again."""

    def __init__(self, upstream: str):
        host, port = upstream.split("//")[-1].rstrip("/").split(":")
        self.upstream = (host, int(port))
        self.port = procs.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.conns: set[socket.socket] = set()
        self.lock = threading.Lock()
        self.listener: socket.socket | None = None
        self.hanging = False
        self.resume()

    def resume(self) -> None:
        if self.listener is not None:  # hanging: let go of what it holds first
            self.pause()
        self.hanging = False
        self._listen()

    def hang(self) -> None:
        self.pause()
        self.hanging = True
        self._listen()

    def _listen(self) -> None:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port))
        s.listen(64)
        self.listener = s
        threading.Thread(target=self._accept, args=(s,), daemon=True).start()

    def pause(self) -> None:
        # close() alone does not wake a thread blocked in accept() on Linux: that accept would still take
        # one more connection, and as a keep-alive connection it would carry the client's later calls
        # through the "outage". shutdown() wakes it; _accept drops anything accepted on an old listener.
        listener, self.listener = self.listener, None
        try:
            listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        listener.close()
        with self.lock:
            for c in self.conns:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                c.close()
            self.conns.clear()

    stop = pause

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # paused
            if listener is not self.listener:  # accepted as the pause began: refuse it
                client.close()
                return
            if self.hanging:  # held open, never read, never answered; pause() or resume() closes it
                with self.lock:
                    self.conns.add(client)
                continue
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            with self.lock:
                self.conns.update((client, server))
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


@pytest.fixture
def repo(tmp_path):
    repo = GitRepo(tmp_path / "repo")
    repo.write({"hello.txt": "hello\n"})
    return repo


# ---- a flood of badly signed deliveries ---------------------------------------------------------
def test_a_flood_of_1000_badly_signed_deliveries_stores_nothing(api):
    def newest() -> list[str]:
        r = requests.get(f"{api.url}/api/v1/events", params={"limit": 500}, headers=api.headers(), timeout=30)
        return [e["id"] for e in r.json()["events"]]
    before, run = newest(), uuid.uuid4().hex[:8]
    session = threading.local()

    def bad(i: int) -> int:
        if not hasattr(session, "s"):
            session.s = requests.Session()
        body = f'{{"ref": "refs/heads/main", "after": "{i:040x}", "repository": {{"full_name": "x/{run}"}}}}'.encode()
        wrong = "sha256=" + hashlib.sha256(b"guess" + body).hexdigest()
        return session.s.post(f"{api.url}/api/v1/hooks/github", data=body, timeout=30, headers={
            "Content-Type": "application/json", "X-GitHub-Event": "push", "X-GitHub-Hook-ID": "flood",
            "X-GitHub-Delivery": f"{run}-{i}", "X-Hub-Signature-256": wrong}).status_code
    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = list(pool.map(bad, range(1000)))
    assert codes.count(401) == 1000, {c: codes.count(c) for c in set(codes)}
    after = newest()
    assert not [e for e in after if run in e], "a badly signed delivery was stored"
    assert after == before  # nothing new at all (the suite runs one test at a time)
    for i in (0, 499, 999):
        r = requests.get(f"{api.url}/api/v1/events/flood:{run}-{i}", headers=api.headers(), timeout=30)
        assert r.status_code == 404


# ---- the API unreachable while the agent streams logs and finishes ----------------------------------
@pytest.mark.parametrize("outage", ["unreachable", "hanging"])
def test_api_unreachable_or_hanging_while_the_agent_streams_logs_and_finishes(
        api, agent_token, repo, tmp_path, empty_queue, outage):
    """The API away for 20 s once the job's work is under way: refusing connections, or accepting them and never
    answering (each of the agent's calls then waits its 30 s timeout, three leases of the tests' 10 s)."""
    marker, go = tmp_path / "ran-to-the-end", tmp_path / "go"
    sha = repo.commit_and_tag("streams")
    # lines 1-3, then (once the API is cut off) lines 4-40 and the end at once: the job's work after the cut is a
    # burst well inside its lease, whatever the machine's load; what lasts the 20 s outage is reporting it
    shell_app(api, repo, [["sh", "-c", f'for i in 1 2 3; do echo line $i; done; '
                                       f'for _ in $(seq 1 1200); do [ -e "{go}" ] && break; sleep 0.05; done; '
                                       f'for i in $(seq 4 40); do echo line $i; done'],
                          ["sh", "-c", f'echo last; echo ran >> "{marker}"']])
    proxy = TcpProxy(api.url)
    try:
        agent = AgentProcess(SimpleNamespace(url=proxy.url), agent_token, tmp_path, targets="shell", name="cutoff")
        job_id = push_job(api, repo, "main", sha)
        wait_log(api, job_id, "line 3", timeout=60)
        proxy.pause() if outage == "unreachable" else proxy.hang()
        go.touch()
        # a second agent of the pool polls the API directly through the outage, which outlasts the lease; yet
        # the finished job is not run again: its message stays hidden while the finish is retried
        other = AgentProcess(api, agent_token, tmp_path, targets="shell", name="bystander")
        t0 = time.monotonic()
        wait_for(marker.exists, "the job to run to its end while the API is unreachable", timeout=60)
        assert wait_job(api, job_id, timeout=1, states={"running"})  # the API has not heard the end yet
        time.sleep(max(0.0, 20 - (time.monotonic() - t0)))  # the outage lasts 20 s: finish is being retried
        proxy.resume()
        job = wait_job(api, job_id, timeout=60)
        lines = job_log(api, job_id).splitlines()
    finally:
        proxy.stop()
    assert job["state"] == "succeeded", job
    assert [ln for ln in lines if ln.startswith("line ")] == [f"line {i}" for i in range(1, 41)]  # none lost/twice
    assert lines.count("last") == 1
    assert (job["attempts"], job["agent_id"]) == (1, f"cutoff-{os.getpid()}"), job
    # nothing ran twice: the bystander may have received the message once the lease lapsed, but the job's
    # last step ran once, on the agent that claimed it (a message seen and left alone is no second run)
    assert marker.read_text().splitlines() == ["ran"], marker.read_text()
    assert f"job {job_id}: succeeded" not in other.output() and f"job {job_id}: failed" not in other.output()
    assert agent.proc.poll() is None  # it carries on


# ---- the AWS endpoint unreachable while deliveries arrive --------------------------------------------
def test_deliveries_while_aws_is_unreachable_get_a_503_and_a_redelivery_lands_once(api, moto, workdir, repo):
    proxy = TcpProxy(moto)
    port = procs.free_port()
    proc = procs.start([sys.executable, "-m", "local.api", "--host", "127.0.0.1", "--port", str(port), "--stage",
                        "dev", "--no-autoreload"], str(workdir / f"chalice-{port}.log"),
                       env={**os.environ, "TAHOBUDDY_AWS_ENDPOINT": proxy.url}, cwd=ROOT)
    cut = SimpleNamespace(url=f"http://127.0.0.1:{port}", secret=api.secret, token=api.token, headers=api.headers)
    try:
        procs.wait_http(cut.url + "/api/v1/health", proc=proc)
        name = shell_app(cut, repo, [["true"]], pool="lonely")  # nobody polls it: jobs stay queued
        shas = [f"{i + 1:040x}" for i in range(3)]
        deliveries = [str(uuid.uuid4()) for _ in shas]
        proxy.pause()
        failed = [push_to(cut, repo, f"b{i}", sha, delivery=d) for i, (sha, d) in enumerate(zip(shas, deliveries))]
        proxy.resume()
        again = [push_to(cut, repo, f"b{i}", sha, delivery=d) for i, (sha, d) in enumerate(zip(shas, deliveries))]
        twice = [push_to(cut, repo, f"b{i}", sha, delivery=d) for i, (sha, d) in enumerate(zip(shas, deliveries))]
        jobs = requests.get(f"{api.url}/api/v1/jobs", params={"app": name}, headers=api.headers(), timeout=30).json()
    finally:
        procs.stop(proc)
        proxy.stop()
    for r in failed:
        assert r.status_code == 503, r.text
        assert r.json()["Message"].startswith("storage unavailable") and "redeliver" in r.json()["Message"]
    assert [r.status_code for r in again] == [200] * 3 and all(r.json()["jobs"] for r in again)
    assert [r.json()["status"] for r in twice] == ["duplicate"] * 3  # GitHub redelivering again adds nothing
    assert sorted(j["sha"] for j in jobs["jobs"]) == shas  # none lost, none twice




# ---- the agent cut off from the API for longer than the lease ---------------------------------------
def _alive(pid: int) -> bool:
    try:
        return "sh" in open(f"/proc/{pid}/cmdline", "rb").read().decode(errors="replace") and \
            open(f"/proc/{pid}/stat").read().split()[2] != "Z"
    except OSError:
        return False


def test_an_agent_cut_off_past_its_lease_loses_the_job_to_another_and_stops_its_copy(
        api, agent_token, repo, tmp_path, empty_queue):
    ticks, stop = tmp_path / "ticks", tmp_path / "stop"
    ticks.mkdir()
    sha = repo.commit_and_tag("long")
    # each copy records its pid, then ticks into a file named after its agent until the test says stop
    shell_app(api, repo, [["sh", "-c", f'echo $$ > "{ticks}/$TAHOBUDDY_AGENT_ID.pid"; '
                                       f'for i in $(seq 1 900); do [ -e "{stop}" ] && exit 0; echo tick $i; '
                                       f'echo $i >> "{ticks}/$TAHOBUDDY_AGENT_ID"; sleep 0.2; done; exit 1']])
    proxy = TcpProxy(api.url)
    try:
        a = AgentProcess(SimpleNamespace(url=proxy.url), agent_token, tmp_path, targets="shell", name="cut")
        a_id = f"cut-{os.getpid()}"
        job_id = push_job(api, repo, "main", sha)
        wait_for(lambda: (ticks / a_id).is_file(), "agent A's copy to tick", timeout=60)
        wait_log(api, job_id, f"on agent {a_id}, attempt 1")  # A's first lines reached the API before the cut
        b = AgentProcess(api, agent_token, tmp_path, targets="shell", name="direct")  # B reaches the API directly
        b_id = f"direct-{os.getpid()}"
        proxy.pause()
        t0 = time.monotonic()
        wait_for(lambda: (ticks / b_id).is_file(), "agent B to reclaim the job and run it", timeout=60)
        reclaimed_after = time.monotonic() - t0
        taken = requests.get(f"{api.url}/api/v1/jobs/{job_id}", headers=api.headers(), timeout=10).json()
        a_pid = int((ticks / f"{a_id}.pid").read_text())
        assert _alive(a_pid)  # A, cut off, still runs its copy
        proxy.resume()
        wait_for(lambda: "lease lost" in a.output(), "agent A's late heartbeat to be refused", timeout=60,
                 seen=lambda: a.output()[-2000:])
        wait_for(lambda: not _alive(a_pid), "agent A's copy to stop", timeout=30)
        a_ticks = (ticks / a_id).read_text().split()
        b_before = len((ticks / b_id).read_text().split())
        wait_for(lambda: len((ticks / b_id).read_text().split()) >= b_before + 10, "B to tick 10 more", timeout=30)
        assert (ticks / a_id).read_text().split() == a_ticks  # A wrote nothing while B ticked 10 more
        stop.touch()
        job = wait_job(api, job_id, timeout=60)
        wait_for(lambda: f"job {job_id}: stopped its copy" in a.output() and "Traceback" not in a.output(),
                 "A to say it stopped", timeout=30,
                 seen=lambda: a.output()[-2000:])
    finally:
        proxy.stop()
    assert (taken["attempts"], taken["agent_id"]) == (2, b_id), taken
    assert (job["state"], job["agent_id"], job["attempts"]) == ("succeeded", b_id, 2), job
    log = job_log(api, job_id)
    assert log.count(f"on agent {b_id}, attempt 2") == 1 and log.count(f"on agent {a_id}, attempt 1") == 1
    assert f"job {job_id}: received" in b.output()
    assert a.proc.poll() is None and b.proc.poll() is None  # both carry on
    print(f"reclaimed {reclaimed_after:.1f}s after the cut-off; A ticked {len(a_ticks)}")


# ---- the disk full in the agent's workdir ------------------------------------------------------------
def test_a_full_disk_in_the_agent_workdir_fails_the_job_with_a_reason_naming_it_and_the_agent_carries_on(
        api, agent_token, tmp_path, empty_queue):
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)], check=True)  # 2 MB, as root
    agent = None
    try:
        big, small = GitRepo(tmp_path / "big"), GitRepo(tmp_path / "small")
        (big.work / "noise.bin").write_bytes(os.urandom(3_000_000))  # 3 MB that git cannot compress
        big_sha, small_sha = big.commit_and_tag("big"), small.commit_and_tag("small")
        shell_app(api, big, [["true"]])
        shell_app(api, small, [["sh", "-c", "echo small ran"]])
        agent = AgentProcess(api, agent_token, tmp_path, targets="shell", name="full",
                             extra={"TAHOBUDDY_WORKDIR": str(disk)})
        failed = wait_job(api, push_job(api, big, "main", big_sha), timeout=60)
        ran = wait_job(api, push_job(api, small, "main", small_sha), timeout=60)
        assert agent.proc.poll() is None  # it carries on
    finally:
        if agent:
            agent.stop()
        subprocess.run(["umount", str(disk)], check=True)
    assert (failed["state"], failed["reason_code"]) == ("failed", "setup_error"), failed
    assert f"no space left in the agent's workdir {disk}: free space there" in failed["reason"], failed
    assert f"no space left in the agent's workdir {disk}" in job_log(api, failed["id"])
    assert ran["state"] == "succeeded", ran  # the failed clone left no partial mirror behind: space for the next
    assert "small ran" in job_log(api, ran["id"])


# ---- Caddy restarting mid-swap -------------------------------------------------------------------------
SLOW_SITE = f"""FROM {BASE_IMAGE}
COPY www /www
EXPOSE 8080
CMD ["sh", "-c", "sleep 2; exec httpd -f -p 8080 -h /www"]
"""


def test_caddy_restarting_mid_swap_serves_old_or_new_and_the_routes_come_back(
        api, agent_token, tmp_path, docker_images, empty_queue):
    repo, name = GitRepo(tmp_path / "site"), unique("fault")
    host = f"{name}.localhost"
    r = requests.put(f"{api.url}/api/v1/apps/{name}", headers=api.headers(), timeout=30, json={
        "name": name, "repository": str(repo.origin), "hostname": host, "port": 8080,
        "rules": [{"name": "release", "match": {"branch": "*"},
                   "target": {"type": "docker", "health_path": "/", "health_timeout": 30, "drain_seconds": 1, "watch_seconds": 0}}]})
    assert r.status_code == 201, r.text
    caddy = Caddy(tmp_path / "caddy")
    answers: list[tuple[float, str]] = []
    done = threading.Event()

    def poll():  # bounded: stops when told, or after 120 s
        deadline = time.monotonic() + 120
        while not done.is_set() and time.monotonic() < deadline:
            try:
                answers.append((time.monotonic(), caddy.get(host, timeout=2).text.strip()))
            except requests.RequestException as exc:
                answers.append((time.monotonic(), exc.__class__.__name__))
            time.sleep(0.02)
    try:
        agent = AgentProcess(api, agent_token, tmp_path, caddy, targets="docker", name="swap")
        repo.write({"Dockerfile": SLOW_SITE, "www/index.html": "v1\n"})
        assert wait_job(api, push_job(api, repo, "main", repo.commit_and_tag("v1")))["state"] == \
            "succeeded"
        assert caddy.get(host).text.strip() == "v1"
        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        repo.write({"www/index.html": "v2\n"})
        job_id = push_job(api, repo, "main", repo.commit_and_tag("v2"))
        wait_log(api, job_id, "waiting for its health check", timeout=60)
        down = time.monotonic()
        caddy.stop()  # mid-swap: the new container answers 2 s after it starts, Caddy is away for 4 s
        time.sleep(4)
        caddy.start()  # the same ports, its base config: no server, no routes
        up = time.monotonic()
        job = wait_job(api, job_id, timeout=60)
        wait_for(lambda: answers and answers[-1][1] == "v2", "v2 to serve after the swap", timeout=10,
                 seen=lambda: answers[-5:])
        caddy.stop()  # and restarted while the agent is idle: its watch puts the routes back
        caddy.start()
        again = time.monotonic()
        wait_for(lambda: answers[-1][0] > again and answers[-1][1] == "v2", "the routes to come back", timeout=15,
                 seen=lambda: answers[-5:])
        back_after = answers[-1][0] - again
        done.set()
        poller.join(timeout=10)
    finally:
        done.set()
        caddy.stop()
        remove_app_resources(name)
    assert job["state"] == "succeeded", job
    phases = job["phases"]
    assert phases["route_switched"] >= phases["healthy"] + 1  # the switch waited for Caddy to come back
    bodies = [b for _, b in answers]
    assert set(bodies) <= {"v1", "v2", "ConnectionError"}, set(bodies)
    assert bodies.index("v2") > max(i for i, b in enumerate(bodies) if b == "v1")  # never back to v1
    first_restart = [t for t, b in answers if t < again and b == "ConnectionError"]
    assert first_restart and min(first_restart) >= down and max(first_restart) <= up + 5, (down, up, first_restart)
    assert "had lost routes" in agent.output()
    print(f"Caddy away {up - down:.1f}s mid-swap: unanswered {max(first_restart) - min(first_restart):.1f}s; "
          f"idle restart: routes back in {back_after:.1f}s")
