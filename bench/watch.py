"""The health watch's swap back: how long from the first failed check of a bad version to the previous
version serving again, and how many requests fail in between.

ROUNDS rounds on the runner's own path (`DockerRunner.prepare`, `run`, `cleanup`, as the agent's
dispatcher calls them), with Caddy started here and two prebuilt images: `v1` (healthy) and `bad`, which
serves `bad` and passes its health check, then loses its page BREAK_AFTER seconds after it starts. Each
round swaps `bad` in over the serving v1 (the rollback trigger, so no build sits in between) with
watch_seconds 60 and watch_failures 3; the watch sees three failed checks in a row and routes v1's kept
container back. A loop GETs the app through Caddy every 20 ms on a fresh connection for the whole round.

Per round: from the swap to the first failed check (BREAK_AFTER, by design), from the first failed
check to the decision (the watch_failures checks, one a second), from the decision to the route pointing
back at v1 (one Caddy config change), from the first failed check to the loop's first v1 answer, and the
requests that failed in between. The issue's aim: back within 5 s of detection. Exits 1 when a round did
not end rolled back or missed that aim. Bounded: each round by the watch (60 s), the loop by 120 s;
Caddy (started here) is stopped by its pid.

    ROUNDS=5 .venv/bin/python bench/watch.py      # `make bench` runs it (bench/run.sh)
"""
from __future__ import annotations

import io
import os
import statistics
import sys
import tarfile
import threading
import time
from pathlib import Path

import requests

from harness import WORK  # noqa: F401  (sets the environment first)

ROUNDS = int(os.environ.get("ROUNDS", "5"))
BREAK_AFTER = int(os.environ.get("BREAK_AFTER", "3"))
AIM = 5.0   # seconds from detection to the previous version serving


def image(client, base: str, name: str, script: str) -> str:
    """An image running `script` under sh (no tahobuddy labels: the runner never prunes it)."""
    dockerfile = f'FROM {base}\nCMD ["sh", "-c", "{script}"]\n'
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(dockerfile)
        tar.addfile(info, io.BytesIO(dockerfile.encode()))
    buf.seek(0)
    built, _ = client.images.build(fileobj=buf, custom_context=True, tag=f"tahobuddy-bench/watch:{name}", rm=True)
    return built.id


class Loop(threading.Thread):
    """GETs through Caddy every 20 ms on a fresh connection; keeps (epoch seconds, page or error)."""

    def __init__(self, url: str, host: str, budget: float = 120.0):
        super().__init__(daemon=True)
        self.url, self.host, self.budget = url, host, budget
        self.seen: list[tuple[float, str]] = []
        self.halt = threading.Event()

    def run(self):
        end = time.monotonic() + self.budget
        while not self.halt.is_set() and time.monotonic() < end:
            try:
                r = requests.get(self.url, headers={"Host": self.host, "Connection": "close"}, timeout=2)
                page = r.text.strip() if r.status_code == 200 else f"HTTP {r.status_code}"
            except requests.RequestException as exc:
                page = exc.__class__.__name__
            self.seen.append((time.time(), page))
            self.halt.wait(0.02)


def one_round(runner, settings, workdir: Path, app: str, releases: list[dict], host: str, url: str,
              n: int) -> dict:
    from runners.base import Cancel, JobSpec, RunContext
    target = {"type": "docker", "health_path": "/", "watch_seconds": 60, "watch_failures": 3}
    spec = JobSpec(job_id=f"bad{n}", app=app, rule="release", target=target, repository="bench",
                   ref="refs/tags/bad", sha="b" * 40, trigger="rollback", installation="bench",
                   app_spec={"name": app, "hostname": host, "port": 8080}, releases=tuple(releases))
    ctx = RunContext(workdir=workdir, worktree=None, cancel=Cancel(), settings=settings, secrets=lambda name: "")
    loop = Loop(url, host)
    loop.start()
    runner.prepare(spec, ctx)
    try:
        result = runner.run(spec, ctx, lambda line: None)
    finally:
        runner.cleanup(spec, ctx)
    time.sleep(0.5)
    loop.halt.set()
    loop.join(timeout=10)
    marks = ctx.phases.marks
    if result.reason.value != "rolled_back_after_watch":
        raise SystemExit(f"round {n}: not rolled back: {result.status.value} {result.detail}")
    first = marks["watch_first_failed"]
    back = next((t for t, page in loop.seen if t > first and page == "v1"), None)
    failed = [page for t, page in loop.seen if page not in ("v1", "bad") and (back is None or t < back)]
    return {"swap->first failed check": first - marks["route_switched"],
            "first failed check->detection": marks["watch_failed"] - first,
            "detection->route back": marks["rolled_back"] - marks["watch_failed"],
            "first failed check->v1 serving": (back - first) if back else float("inf"),
            "failed requests": len(failed)}


def main() -> int:
    import docker
    from agent.config import AgentConfig
    from runners.base import Cancel, JobSpec, RunContext
    from runners.docker import DockerRunner
    from tests.realparts import BASE_IMAGE, Caddy, build_base_images, remove_app_resources

    client = docker.from_env()
    build_base_images(WORK)
    v1 = image(client, BASE_IMAGE, "v1", "mkdir -p /www; echo v1 > /www/index.html; exec httpd -f -p 8080 -h /www")
    bad = image(client, BASE_IMAGE, "bad", f"mkdir -p /www; echo bad > /www/index.html; "
                                           f"(sleep {BREAK_AFTER}; rm -f /www/index.html) & "
                                           "exec httpd -f -p 8080 -h /www")
    caddy = Caddy(WORK / "caddy")
    app, workdir = f"watch{os.getpid()}", WORK / "agent"
    host = f"{app}.localhost"
    workdir.mkdir(parents=True, exist_ok=True)
    settings = AgentConfig(proxy_admin=caddy.admin, proxy_listen=[f"127.0.0.1:{caddy.port}"], proxy_https=False,
                           workdir=str(workdir), installation="bench")
    DockerRunner.on_agent_start(settings, workdir, lambda line: print(f"agent: {line}"))
    runner, rows = DockerRunner(), []
    try:
        first = JobSpec(job_id="v1", app=app, rule="release", target={"type": "docker", "health_path": "/"},
                        repository="bench", ref="refs/tags/v1", sha="a" * 40, trigger="rollback",
                        installation="bench", app_spec={"name": app, "hostname": host, "port": 8080},
                        releases=({"image": v1, "ref": "refs/tags/v1", "sha": "a" * 40},))
        ctx = RunContext(workdir=workdir, worktree=None, cancel=Cancel(), settings=settings, secrets=lambda n: "")
        runner.prepare(first, ctx)
        served = runner.run(first, ctx, lambda line: None)
        runner.cleanup(first, ctx)
        releases = [{"image": bad, "ref": "refs/tags/bad", "sha": "b" * 40}, dict(served.release)]
        for n in range(1, ROUNDS + 1):
            rows.append(one_round(runner, settings, workdir, app, releases, host, caddy.url, n))
    finally:
        remove_app_resources(app)
        caddy.stop()
    load = " ".join(open("/proc/loadavg").read().split()[:3])
    print(f"watch bench: {ROUNDS} rounds, a bad version losing its page {BREAK_AFTER} s after it starts, "
          f"watch_failures 3, checks 1 s apart, a request every 20 ms (load {load})")
    for key in rows[0]:
        values = [row[key] for row in rows]
        shown = " ".join(f"{v:6.3f}" if isinstance(v, float) else f"{v:6d}" for v in values)
        fmt = "{:.3f}" if isinstance(values[0], float) else "{:g}"
        print(f"  {key:32} {shown}   median {fmt.format(statistics.median(values))}  max {fmt.format(max(values))}")
    missed = [row for row in rows if row["detection->route back"] > AIM]
    print(f"  aim: v1 routed again within {AIM:g} s of detection: {'met' if not missed else 'MISSED'} "
          f"in {len(rows) - len(missed)} of {len(rows)} rounds")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
