"""dockerd restarting mid-build (docs/architecture/faults.md): the job fails saying the Docker Engine went away,
the old version keeps serving, and the agent deploys the next push once dockerd is back.

The restarted dockerd is a second Docker Engine this test starts for itself (its own data root, exec
root, socket, bridge and address pool), never the shared one the other tests use. It runs with
`--live-restore`: without it a stopping dockerd stops every container (seen here: the old version
exited 143 and did not come back, and a restarted container would get a new ephemeral host port,
which Caddy's route does not know). With it the container runs on; only the published port's
docker-proxy, a child of dockerd, is away until dockerd is back. A host that may restart dockerd
(a docker.io upgrade does) wants live-restore for the same reason.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

import docker
import pytest
import requests

from local import procs
from tests.helpers import push_to, unique
from tests.realparts import BASE_IMAGE, AgentProcess, Caddy, GitRepo, job_log, wait_for, wait_job, wait_log

pytestmark = pytest.mark.functional
PORT_RANGE = "/proc/sys/net/ipv4/ip_local_port_range"


def free_subnet(start: int) -> int:
    """The first N from `start` (mod 250) whose 10.214.N.0/24 no interface here has: a second engine of the
    other xdist worker's may be up (both pick theirs from their pid)."""
    held = subprocess.run(["ip", "-o", "addr", "show"], capture_output=True, text=True, check=True).stdout
    return next(n % 250 for n in range(start, start + 250) if f" 10.214.{n % 250}." not in held)


class SecondEngine:
    """A Docker Engine beside the shared one, stopped by its pid. Its own bridge (BuildKit runs RUN steps
    on the default bridge, so --bridge=none would fail every build) and its own address pool; no iptables
    rules (the shared engine's chains stay untouched): published loopback ports go through docker-proxy.

    Its own host ports too. Every dockerd hands out published ports from the kernel's ephemeral range
    (read from /proc/sys/net/ipv4/ip_local_port_range at its start), from the bottom up, knowing only its
    own: a second engine began at 32768 where the shared engine's containers already listened, and gave up
    after ten ports ("Error starting userland proxy: listen tcp4 127.0.0.1:32778: bind: address already
    in use": the v1 deploy, or v3's after the restart, failed in two parallel runs). So it runs in a mount
    namespace of its own (held by a process of the test's, which both of its starts enter) where that file
    reads a hundred ports of 61000-65499: above the kernel's range, so no client socket holds them, and
    apart from a second engine of the other xdist worker's."""

    def __init__(self, log: Path):
        self.root = Path(tempfile.mkdtemp(prefix="tbdock-"))  # short: unix socket paths stop at 108 bytes
        self.log = str(log)  # outside the root, which remove() deletes: a red run shows what dockerd said
        self.sock = self.root / "docker.sock"
        self.host = f"unix://{self.sock}"
        self.n, self.bridge = free_subnet(os.getpid() % 250), f"tbd{os.getpid() % 100000}"
        self.ports = (61000 + 100 * (self.n % 45), 61000 + 100 * (self.n % 45) + 99)
        self.argv = ["dockerd", "--data-root", str(self.root / "data"), "--exec-root", str(self.root / "exec"),
                     "--pidfile", str(self.root / "docker.pid"), "-H", self.host, "--bridge", self.bridge,
                     "--iptables=false", "--ip-masq=false",
                     "--default-address-pool", f"base=10.215.{self.n}.0/24,size=28", "--live-restore"]
        self.proc = self.holder = None

    def create(self) -> None:
        """Its bridge, its mount namespace, then dockerd; `remove()` undoes whatever of it was done."""
        subprocess.run(["ip", "link", "add", self.bridge, "type", "bridge"], check=True)
        subprocess.run(["ip", "addr", "add", f"10.214.{self.n}.1/24", "dev", self.bridge], check=True)
        subprocess.run(["ip", "link", "set", self.bridge, "up"], check=True)
        ports = self.root / "port-range"
        ports.write_text("%d\t%d\n" % self.ports)
        self.holder = procs.start(["unshare", "--mount", "sh", "-c", f"mount --bind {ports} {PORT_RANGE} && "
                                   "echo ready && exec sleep 3600"], self.log)  # stopped by its pid in remove()

        def bound():
            assert self.holder.poll() is None, procs.tail(self.log)
            return self.inside(["cat", PORT_RANGE]) == "%d\t%d\n" % self.ports
        wait_for(bound, "the engine's mount namespace to read its own port range", timeout=10,
                 seen=lambda: procs.tail(self.log, 3))
        self.start()

    def inside(self, argv: list[str]) -> str:
        """`argv` run in the engine's mount namespace; its output ("" when it failed)."""
        out = subprocess.run(["nsenter", "-t", str(self.holder.pid), "-m", "--", *argv], capture_output=True,
                             text=True, check=False)
        return out.stdout if out.returncode == 0 else ""

    def client(self, timeout: int = 30) -> docker.DockerClient:
        return docker.DockerClient(base_url=self.host, timeout=timeout)

    def start(self) -> None:
        self.proc = procs.start(["nsenter", "-t", str(self.holder.pid), "-m", "--", *self.argv], self.log)

        def answers():
            assert self.proc.poll() is None, procs.tail(self.log)
            try:
                return self.client(timeout=2).ping()
            except (docker.errors.DockerException, requests.RequestException):
                return False
        wait_for(answers, "the second dockerd to answer", timeout=60, seen=lambda: answers[-5:])

    def stop(self) -> None:
        """SIGTERM to dockerd alone (its containers run on: live-restore), then wait for it to exit."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=60)

    def load(self, image: str) -> None:
        """No registry answers here: the shared engine's image, saved and loaded into this one."""
        save = subprocess.Popen(["docker", "save", image], stdout=subprocess.PIPE)
        subprocess.run(["docker", "-H", self.host, "load", "-q"], stdin=save.stdout, check=True,
                       capture_output=True)
        save.stdout.close()
        assert save.wait(timeout=60) == 0

    def leftovers(self) -> list[int]:
        """Pids of processes whose root file system is one of this engine's overlays: a BuildKit RUN step
        outlives a stopping dockerd, orphaned. Only the mount at "/" of each process counts: every host
        process sees the engine's mounts in its table, none has one as its root."""
        data, pids = str(self.root / "data") + "/", []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                lines = (entry / "mountinfo").read_text().splitlines()
            except OSError:
                continue  # gone meanwhile, or a kernel thread
            root = next((ln for ln in lines if ln.split()[4] == "/"), "")
            if " - overlay " in root and data in root:
                pids.append(int(entry.name))
        return pids

    def remove(self) -> None:
        """Everything it holds, then dockerd, its bridge and its folders (mounts left behind unmounted).
        Containers still running with dockerd away (live-restore) are among the leftovers."""
        try:
            if self.proc is not None and self.proc.poll() is None:
                for c in self.client().containers.list(all=True):
                    c.remove(force=True, v=True)
        finally:
            if self.proc is not None and self.proc.poll() is None:
                os.kill(self.proc.pid, signal.SIGTERM)
                try:
                    self.proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            for pid in self.leftovers():  # a RUN step dockerd left behind when it stopped (BuildKit's runc)
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            subprocess.run(["ip", "link", "del", self.bridge], check=False, capture_output=True)
            if self.holder is not None:  # mounts left behind are in its namespace: unmounted there, then it goes
                mounts = [ln.split()[1] for ln in self.inside(["cat", "/proc/self/mounts"]).splitlines()
                          if ln.split()[1].startswith(str(self.root))]
                for m in sorted(mounts, key=len, reverse=True):
                    self.inside(["umount", "-l", m])
                procs.stop(self.holder)
            shutil.rmtree(self.root, ignore_errors=True)


def site(version: str, build_step: str = "") -> dict[str, str]:
    return {"Dockerfile": f"FROM {BASE_IMAGE}\nCOPY www /www\n{build_step}EXPOSE 8080\n"
                          'CMD ["httpd", "-f", "-p", "8080", "-h", "/www"]\n',
            "www/index.html": f"{version}\n"}


@contextlib.contextmanager
def on_second_engine(api, agent_token, tmp_path: Path, health_timeout: int):
    """An app deploying every branch to a docker target, a second engine of its own, Caddy and an agent on
    that engine; v1 deployed and served. Yields (engine, caddy, agent, repo, name, v1); all stopped after."""
    repo, name = GitRepo(tmp_path / "site"), unique("fault")
    r = requests.put(f"{api.url}/api/v1/apps/{name}", headers=api.headers(), timeout=30, json={
        "name": name, "repository": str(repo.origin), "hostname": f"{name}.localhost", "port": 8080,
        "rules": [{"name": "release", "match": {"branch": "*"},
                   "target": {"type": "docker", "health_path": "/", "health_timeout": health_timeout,
                              "drain_seconds": 1, "watch_seconds": 0}}]})
    assert r.status_code == 201, r.text
    engine = caddy = agent = None
    try:
        engine = SecondEngine(tmp_path / "dockerd.log")
        engine.create()
        engine.load(BASE_IMAGE)
        caddy = Caddy(tmp_path / "caddy")
        agent = AgentProcess(api, agent_token, tmp_path, caddy, targets="docker", name="dockerd",
                             extra={"DOCKER_HOST": engine.host})  # docker-py and the BuildKit CLI both read it
        repo.write(site("v1"))
        v1 = wait_job(api, push_to(api, repo, "main", repo.commit_and_tag("v1")).json()["jobs"][0])
        assert v1["state"] == "succeeded", (v1, job_log(api, v1["id"])[-1500:], procs.tail(engine.log, 40))
        assert caddy.get(f"{name}.localhost").text.strip() == "v1"
        [v1_container] = engine.client().containers.list(filters={"label": f"tahobuddy.app={name}"})
        published = {int(b["HostPort"]) for bs in v1_container.ports.values() for b in bs or []}
        assert published and all(engine.ports[0] <= p <= engine.ports[1] for p in published), published  # its own
        yield engine, caddy, agent, repo, name, v1
    finally:
        if agent:
            agent.stop()
        if caddy:
            caddy.stop()
        if engine:
            engine.remove()


# The v2 build runs long enough to be cut off; its marker line is printed by the step, not part of its
# text ("$((6*7))" in the step, "42" in its output), so the log shows it only once the step runs.
SLOW_STEP = 'RUN echo "v2 build step: $((6*7))"; sleep 60\n'


def test_dockerd_restarting_mid_build_fails_the_job_saying_so_and_the_old_version_keeps_serving(
        api, agent_token, tmp_path, docker_images, empty_queue):
    answers: list[tuple[float, str]] = []
    done = threading.Event()

    def poll(caddy: Caddy, host: str):  # bounded: stops when told, or after 180 s
        deadline = time.monotonic() + 180
        while not done.is_set() and time.monotonic() < deadline:
            try:
                got = caddy.get(host, timeout=2)
                answers.append((time.monotonic(), got.text.strip() if got.ok else f"HTTP {got.status_code}"))
            except requests.RequestException as exc:
                answers.append((time.monotonic(), exc.__class__.__name__))
            time.sleep(0.02)
    try:
        with on_second_engine(api, agent_token, tmp_path, 30) as (engine, caddy, agent, repo, name, _):
            host = f"{name}.localhost"
            [v1_container] = engine.client().containers.list(filters={"label": f"tahobuddy.app={name}"})  # there
            v1_started = v1_container.attrs["State"]["StartedAt"]
            poller = threading.Thread(target=poll, args=(caddy, host), daemon=True)
            poller.start()

            repo.write(site("v2", SLOW_STEP))
            job_id = push_to(api, repo, "main", repo.commit_and_tag("v2")).json()["jobs"][0]
            wait_log(api, job_id, "v2 build step: 42", timeout=90)
            killed, killed_wall = time.monotonic(), time.time()
            engine.stop()
            stopped = time.monotonic()
            engine.start()  # the same flags, data root and socket
            back = time.monotonic()
            failed = wait_job(api, job_id, timeout=60)
            wait_for(lambda: answers and answers[-1][0] > back and answers[-1][1] == "v1", "v1 to answer again",
                     timeout=15)
            v1_container.reload()
            assert v1_container.attrs["State"]["StartedAt"] == v1_started  # never stopped: live-restore

            repo.write(site("v3"))
            pushed = time.monotonic()
            v3 = wait_job(api, push_to(api, repo, "main", repo.commit_and_tag("v3")).json()["jobs"][0], timeout=120)
            v3_took = time.monotonic() - pushed
            assert v3["state"] == "succeeded", (v3, job_log(api, v3["id"])[-1500:], procs.tail(engine.log, 40))
            wait_for(lambda: answers[-1][1] == "v3", "v3 to serve", timeout=10, seen=lambda: answers[-5:])
            done.set()
            poller.join(timeout=10)
            assert agent.proc.poll() is None  # it carried on through the restart
    finally:
        done.set()

    assert (failed["state"], failed["reason_code"]) == ("failed", "engine_lost"), \
        (failed["reason"], job_log(api, job_id)[-800:])
    assert failed["reason"].startswith("engine_lost: the Docker Engine went away during the build (dockerd "
                                       "restarted or stopped?): "), failed["reason"]
    assert "the running version was not touched" in failed["reason"]
    assert v3["state"] == "succeeded", v3
    bodies = [b for _, b in answers]
    assert set(bodies) <= {"v1", "v3", "HTTP 502"}, set(bodies)
    assert bodies.index("v3") > max(i for i, b in enumerate(bodies) if b == "v1")  # v2 never served
    # The gap tolerated: v1 unanswered only while dockerd was away, plus up to 2 s for it to bring the
    # published port's docker-proxy back (the container itself never stopped: live-restore). Caddy
    # answers 502 meanwhile; nothing else does.
    gap = [t for t, b in answers if b not in ("v1", "v3")]
    assert not gap or (min(gap) >= killed and max(gap) <= back + 2), (killed, back, gap[:3], gap[-3:])
    unanswered = max(gap) - min(gap) if gap else 0.0
    failed_after = datetime.fromisoformat(failed["finished_at"]).timestamp() - killed_wall
    print(f"dockerd away {back - killed:.1f}s (stopped in {stopped - killed:.1f}s): v1 unanswered "
          f"{unanswered:.1f}s; v2 failed {failed_after:.1f}s after the SIGTERM; "
          f"v3 deployed in {v3_took:.1f}s")


def test_dockerd_going_away_while_the_new_container_is_health_checked_fails_engine_lost_and_keeps_the_route(
        api, agent_token, tmp_path, docker_images, empty_queue):
    """After the build: v2's container starts but never answers its health check; dockerd stops meanwhile.
    The job ends engine_lost (not "runner crashed"), naming the container to remove; the route stays on v1."""
    with on_second_engine(api, agent_token, tmp_path, health_timeout=60) as (engine, caddy, agent, repo, name, v1):
        host = f"{name}.localhost"
        repo.write({**site("v2"), "Dockerfile": f'FROM {BASE_IMAGE}\nCMD ["sleep", "300"]\n'})  # never answers
        job_id = push_to(api, repo, "main", repo.commit_and_tag("v2")).json()["jobs"][0]
        wait_log(api, job_id, "waiting for its health check", timeout=60)
        killed_wall = time.time()
        engine.stop()
        failed = wait_job(api, job_id, timeout=30)
        engine.start()
        wait_for(lambda: caddy.get(host, timeout=2).text.strip() == "v1", "v1 to answer again", timeout=15)
        left = [c.name for c in engine.client().containers.list(filters={"label": f"tahobuddy.job={job_id}"})]
        assert agent.proc.poll() is None  # it carried on
    assert (failed["state"], failed["reason_code"]) == ("failed", "engine_lost"), \
        (failed["reason"], job_log(api, job_id)[-800:])
    assert failed["reason"].startswith("engine_lost: the Docker Engine went away while the new container was being "
                                       "health-checked (dockerd restarted or stopped?): "), failed["reason"]
    assert f"the route was not changed: it still points at refs/heads/main ({v1['sha'][:12]})" in failed["reason"]
    assert "runner crashed" not in job_log(api, job_id)
    # live-restore kept the unrouted v2 container running; the reason names it for `docker rm -f`
    assert len(left) == 1 and failed["reason"].endswith(f"`docker rm -f {left[0]}`"), (left, failed["reason"])
    failed_after = datetime.fromisoformat(failed["finished_at"]).timestamp() - killed_wall
    print(f"v2 failed engine_lost {failed_after:.1f}s after the SIGTERM to dockerd, mid health check")
