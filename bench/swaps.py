"""Swaps under a request loop: does any request fail while the docker runner replaces a container?

Runs SWAPS swaps of an app (the docker target) and SWAPS swaps of one pull request's preview, each the
runner's own path (`DockerRunner.prepare`, `run`, `cleanup`, as the agent's dispatcher calls them): start
the new container beside the old one, health-check it, point the Caddy route at it through the admin API,
drain, retire the old one. The swaps alternate between two prebuilt images (pages `v1` and `v2`) with the
rollback trigger, so no build sits between them and the swaps come as fast as the runner makes them; the
API, the queue and the build are not what this bench looks at (bench/deploy.py times those).

First, RELOADS config changes of Caddy alone (a static answer whose text changes, no container at all)
under loops that never pause: what a reload does to client connections by itself.

The request loop runs through Caddy on 127.0.0.1 for the whole run, from two threads:
- `keep-alive`: one `requests.Session`, so every request after the first reuses the same client
  connection to Caddy (as a browser does). At each config change Caddy's old server closes its idle
  keep-alive connections (Go's graceful shutdown); a GET sent on one at that instant meets a connection
  closed before any answer. HTTP lets a client send such a request again on a new connection (RFC 9112
  9.3.1) and browsers do: so does this loop, once, and counts it as `sent again`, apart from failures;
- `fresh`: a new connection for every request (`Connection: close`), as a health checker or curl does,
  never sent again: a connection reset here is a failed request, whatever its cause.
Caddy itself keeps its own pool of keep-alive connections to the upstreams in both cases.

Every request that does not answer 200 with `v1` or `v2` is kept with which loop sent it, what it was
(a status or the exception), when (seconds from the start), and which swap was under way and in which
step (`started`, `healthy`, `route_switched`, `old_retired`; a failure during the route switch shows as
`healthy`). The bench prints each failure and the totals, and exits 1 when any request failed. Bounded:
a swap by the runner's health timeout (60 s), the loops by the end of the run or 30 minutes; Caddy
(started here) is stopped by its pid.

    SWAPS=50 .venv/bin/python bench/swaps.py      # `make bench` runs it (bench/run.sh)
"""
from __future__ import annotations

import collections
import os
import sys
import threading
import time
from pathlib import Path

import requests

from harness import WORK  # noqa: F401  (sets the environment first)

SWAPS = int(os.environ.get("SWAPS", "50"))
RELOADS = int(os.environ.get("RELOADS", "200"))
LOOP_BUDGET = 1800.0   # seconds the request loop may run at most
PAUSE = 0.005          # seconds between a loop's requests
MIGRATE_REQ = Path("/proc/sys/net/ipv4/tcp_migrate_req")   # shown: it decides what a reload resets


class Timeline:
    """Which swap is under way and its last step, for the failures to name."""

    def __init__(self):
        self.t0 = time.monotonic()
        self.now = "before the first swap"

    def at(self) -> str:
        return f"{time.monotonic() - self.t0:8.2f}s ({self.now})"


class Loop(threading.Thread):
    """GETs `url` with Host `host` every few milliseconds until halted, on one keep-alive session or on a
    fresh connection each time; counts answers and keeps every failure with what, when and during what."""

    def __init__(self, url: str, host: str, keep_alive: bool, timeline: Timeline):
        super().__init__(daemon=True, name=f"loop-{'keep-alive' if keep_alive else 'fresh'}")
        self.url, self.host, self.keep_alive, self.timeline = url, host, keep_alive, timeline
        self.mode = "keep-alive" if keep_alive else "fresh"
        self.counts: collections.Counter = collections.Counter()
        self.failures: list[str] = []
        self.retried: list[str] = []   # keep-alive: closed before any answer, then sent again (a browser's way)
        self.halt = threading.Event()
        self.pause = PAUSE

    def run(self):
        session = requests.Session() if self.keep_alive else None
        headers = {"Host": self.host} if self.keep_alive else {"Host": self.host, "Connection": "close"}
        deadline = time.monotonic() + LOOP_BUDGET
        while not self.halt.is_set() and time.monotonic() < deadline:
            try:
                try:
                    r = (session or requests).get(self.url, headers=headers, timeout=5)
                except requests.ConnectionError as exc:
                    if not (session and "Connection aborted" in str(exc)):
                        raise
                    # the kept connection closed before any answer: a browser sends the GET again on a new one
                    self.retried.append(f"{self.timeline.at()} {self.mode}: {exc}"[:300])
                    r = (session or requests).get(self.url, headers=headers, timeout=5)
                body = r.text.strip()
                if r.status_code == 200 and body in ("v1", "v2"):
                    self.counts[body] += 1
                else:
                    self.failures.append(f"{self.timeline.at()} {self.mode}: HTTP {r.status_code} {body[:80]!r}")
            except requests.RequestException as exc:
                self.failures.append(f"{self.timeline.at()} {self.mode}: {exc.__class__.__name__}: {exc}"[:300])
            time.sleep(self.pause)
        if session:
            session.close()


def image(client, base: str, text: str) -> str:
    """An image serving `text` at / with busybox httpd (no tahobuddy labels: the runner never prunes it)."""
    import io
    import tarfile
    dockerfile = f'FROM {base}\nRUN mkdir /www && echo {text} > /www/index.html\nEXPOSE 8080\n' \
                 'CMD ["httpd", "-f", "-p", "8080", "-h", "/www"]\n'
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(dockerfile)
        tar.addfile(info, io.BytesIO(dockerfile.encode()))
    buf.seek(0)
    built, _ = client.images.build(fileobj=buf, custom_context=True, tag=f"tahobuddy-bench/swaps:{text}", rm=True)
    return built.id


def swaps(runner, settings, workdir: Path, app: str, target: dict, images: dict[str, str], count: int,
          timeline: Timeline, case: str) -> list[float]:
    """`count` swaps of `app` (alternating v1, v2) as the agent runs them; returns each swap's seconds."""
    from runners.base import Cancel, JobSpec, RunContext, Status
    releases: list[dict] = [{"image": images[v], "ref": f"refs/tags/{v}", "sha": v * 20} for v in ("v1", "v2")]
    took = []
    for i in range(count):
        version = "v2" if i % 2 else "v1"
        spec = JobSpec(job_id=f"{case}{i}", app=app, rule="release", target=target, repository="bench",
                       ref=f"refs/tags/{version}", sha=version * 20, trigger="rollback",
                       app_spec={"name": app, "hostname": f"{app}.localhost", "port": 8080},
                       releases=tuple(releases), installation="bench")
        ctx = RunContext(workdir=workdir, worktree=None, cancel=Cancel(), settings=settings, secrets=lambda n: "")
        timeline.now = f"{case} swap {i + 1} to {version}: started"
        original = ctx.phases.mark

        def mark(name, original=original, i=i, version=version):
            original(name)
            timeline.now = f"{case} swap {i + 1} to {version}: {name}"
        ctx.phases.mark = mark
        t0 = time.monotonic()
        runner.prepare(spec, ctx)
        try:
            result = runner.run(spec, ctx, lambda line: None)
        finally:
            runner.cleanup(spec, ctx)
        took.append(time.monotonic() - t0)
        if result.status != Status.SUCCEEDED:
            raise SystemExit(f"{case} swap {i + 1} failed: {result.detail}")
        releases.append({**result.release, "job": spec.job_id})
        timeline.now = f"{case} swap {i + 1} to {version}: done"
    return took


def reloads_alone(caddy, server: str, timeline: Timeline) -> list[Loop]:
    """RELOADS config changes of Caddy with no container behind them (a static answer, its text changed
    each time) under four loops, two keep-alive and two fresh, that never pause: what a reload alone
    does to client connections, apart from any container's start or stop."""
    def routes(text: str) -> list[dict]:
        return [{"@id": "bench-reload", "match": [{"host": ["reload.localhost"]}], "terminal": True,
                 "handle": [{"handler": "static_response", "body": text}]}]
    url = f"{caddy.admin}/config/apps/http/servers/{server}/routes"
    requests.patch(url, json=routes("v1"), timeout=10).raise_for_status()
    loops = [Loop(caddy.url, "reload.localhost", keep, timeline) for keep in (True, True, False, False)]
    for loop in loops:
        loop.pause = 0.0
        loop.start()
    for i in range(RELOADS):
        timeline.now = f"reload {i + 1}"
        requests.patch(url, json=routes("v2" if i % 2 else "v1"), timeout=10).raise_for_status()
        time.sleep(0.05)
    for loop in loops:
        loop.halt.set()
        loop.join(timeout=10)
    requests.patch(url, json=[], timeout=10).raise_for_status()
    return loops


def main() -> int:
    import docker
    from agent.config import AgentConfig
    from runners import docker_previews
    from runners.docker import DockerRunner, caddy_for
    from tests.realparts import BASE_IMAGE, Caddy, build_base_images, remove_app_resources

    client = docker.from_env()
    build_base_images(WORK)
    images = {v: image(client, BASE_IMAGE, v) for v in ("v1", "v2")}
    caddy = Caddy(WORK / "caddy")
    app = f"swaps{os.getpid()}"
    workdir = WORK / "agent"
    workdir.mkdir(parents=True, exist_ok=True)
    settings = AgentConfig(proxy_admin=caddy.admin, proxy_listen=[f"127.0.0.1:{caddy.port}"], proxy_https=False,
                           workdir=str(workdir), installation="bench")
    DockerRunner.on_agent_start(settings, workdir, lambda line: print(f"agent: {line}"))  # as the agent starts
    runner, timeline = DockerRunner(), Timeline()
    reloads = reloads_alone(caddy, settings.proxy_server, timeline)
    preview = {"number": 1, "hostname": f"pr-1.{app}.localhost"}
    cases = [("docker", {"type": "docker", "health_path": "/", "watch_seconds": 0}, f"{app}.localhost"),
             ("preview", {"type": "docker", "health_path": "/", "preview": preview}, preview["hostname"])]
    totals, seconds = [], {}
    try:
        for case, target, host in cases:
            # a first swap serves the page before any loop starts; the SWAPS that follow are measured
            swaps(runner, settings, workdir, app, target, images, 1, timeline, f"{case}-first")
            loops = [Loop(caddy.url, host, keep, timeline) for keep in (True, False)]
            for loop in loops:
                loop.start()
            seconds[case] = swaps(runner, settings, workdir, app, target, images, SWAPS, timeline, case)
            time.sleep(1)  # the loop keeps asking past the last retirement
            for loop in loops:
                loop.halt.set()
                loop.join(timeout=10)
            totals += [(case, loop) for loop in loops]
    finally:
        docker_previews.remove(client, caddy_for(settings, workdir), workdir, app, 1, "bench", lambda _: None)
        remove_app_resources(app)
        caddy.stop()
    load = " ".join(open("/proc/loadavg").read().split()[:3])
    migrate = MIGRATE_REQ.read_text().strip() if MIGRATE_REQ.is_file() else "absent"
    print(f"swaps bench (load {load}; net.ipv4.tcp_migrate_req {migrate}; drain 2 s, the runner's default; "
          f"caddy log {WORK / 'caddy' / 'caddy.log'})")
    failed_reloads = 0
    for mode in ("keep-alive", "fresh"):
        mine = [lp for lp in reloads if lp.mode == mode]
        lost = [line for lp in mine for line in lp.failures]
        again = [line for lp in mine for line in lp.retried]
        print(f"  {RELOADS} reloads alone, two {mode:10} loops: requests "
              f"{sum(sum(lp.counts.values()) + len(lp.failures) for lp in mine):6}  failed {len(lost):3}  "
              f"sent again {len(again):3}")
        for line in lost[:10]:
            print(f"      {line}")
        failed_reloads += len(lost)
    failed = 0
    for case, loop in totals:
        n = sum(loop.counts.values()) + len(loop.failures)
        failed += len(loop.failures)
        took = sorted(seconds[case])
        print(f"  {case:8} {loop.mode:10} swaps {len(took):3}  requests {n:6}  failed {len(loop.failures):3}  "
              f"sent again {len(loop.retried):2}  served v1 {loop.counts['v1']}, v2 {loop.counts['v2']}  "
              f"swap p50 {took[len(took) // 2]:.2f}s")
        for line in loop.failures + [f"sent again: {r}" for r in loop.retried]:
            print(f"      {line}")
    print(f"  total: {sum(len(seconds[k]) for k in seconds)} swaps, "
          f"{sum(sum(lp.counts.values()) + len(lp.failures) for _, lp in totals)} requests, {failed} failed")
    return 1 if failed or failed_reloads else 0


if __name__ == "__main__":
    sys.exit(main())
