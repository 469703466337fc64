"""The health check of an app's container, and the watch after its swap.

Before the swap the new container must pass one check (runners/docker.py). After it, for `watch_seconds`
(default 120; 0 turns the watch off), the same check runs every WATCH_EVERY seconds: `watch_failures`
failures in a row (default 3), or the container exiting or restarting, end the watch as failed, and the
runner routes the previous container back. That container is kept running but unrouted during the
watch, so the swap back is one Caddy config change; a stopped one would need a start and a health check
first (seconds to minutes, the app's boot time) while nothing good serves.
"""
from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import requests
from docker.errors import NotFound

from .proxy import RESTART_WAIT, route

WATCH_EVERY = 1.0          # seconds between checks during the watch
DEFAULT_WATCH_SECONDS = 120
DEFAULT_WATCH_FAILURES = 3


def probe(upstream: str, target: dict) -> str:
    """One health check of the container at `upstream` (host:port): "" when healthy, else what failed.
    HTTP GET of health_path (2xx/3xx) when the target has one, else a TCP connect."""
    host, port = upstream.rsplit(":", 1)
    try:
        if target.get("health_path"):
            r = requests.get(f"http://{upstream}{target['health_path']}", timeout=2)
            return "" if r.status_code < 400 else f"{target['health_path']} answered {r.status_code}"
        with socket.create_connection((host, int(port)), timeout=2):
            return ""
    except (OSError, requests.RequestException) as exc:
        return f"{exc.__class__.__name__}"


def settings(target: dict) -> tuple[int, int]:
    """watch_seconds and watch_failures of a docker target, with their defaults."""
    seconds = target.get("watch_seconds")
    failures = target.get("watch_failures")
    return (DEFAULT_WATCH_SECONDS if seconds is None else int(seconds),
            DEFAULT_WATCH_FAILURES if failures is None else max(1, int(failures)))


@dataclass(frozen=True)
class Verdict:
    """How a watch ended. `failed` says what failed ("" when it passed or was cut short); `after` is
    seconds from the swap to the check that decided; `first_failed` the monotonic time of the first
    failed check of the failing run (what the bench measures from); `cut_short` the cancel's reason."""

    failed: str = ""
    after: float = 0.0
    first_failed: float = 0.0
    checks: int = 0
    cut_short: str = ""

    @property
    def passed(self) -> bool:
        return not self.failed and not self.cut_short


def container_trouble(container, restarts_at_swap: int) -> str:
    """The container has exited or restarted since the swap: what to say, or ""."""
    container.reload()
    state = container.attrs.get("State") or {}
    if container.attrs.get("RestartCount", 0) > restarts_at_swap:
        return (f"the container restarted ({container.attrs['RestartCount'] - restarts_at_swap} time(s); "
                f"last exit code {state.get('ExitCode')})")
    if container.status != "running":
        return f"the container {container.status} (exit code {state.get('ExitCode')})"
    return ""


class Streak:
    """Consecutive failed checks; a passing check resets it."""

    def __init__(self, needed: int):
        self.needed, self.count, self.first_at, self.last = needed, 0, 0.0, ""

    def add(self, why: str, now: float) -> bool:
        """Count one check's result; True when `needed` have failed in a row."""
        if not why:
            self.count, self.last = 0, ""
            return False
        if self.count == 0:
            self.first_at = now
        self.count, self.last = self.count + 1, why
        return self.count >= self.needed


def watch(container, upstream: str, target: dict, cancel, log, clock=time.monotonic) -> Verdict:
    """Check the swapped-in container until watch_seconds have passed, it fails, or `cancel` is requested."""
    seconds, needed = settings(target)
    start = clock()
    restarts = container.attrs.get("RestartCount", 0)
    streak, checks = Streak(needed), 0
    log(f"watch: checking the new container every {WATCH_EVERY:g} s for {seconds} s; {needed} failed check(s) "
        "in a row, an exit or a restart swap the previous version back in")
    while clock() - start < seconds:
        if cancel.wait(WATCH_EVERY):
            return Verdict(after=clock() - start, checks=checks, cut_short=cancel.reason)
        now = clock()
        checks += 1
        trouble = container_trouble(container, restarts)
        if trouble:
            return Verdict(trouble, now - start, now, checks)
        why = probe(upstream, target)
        if why:
            log(f"watch: check failed {now - start:.1f} s after the swap: {why}")
        if streak.add(why, now):
            return Verdict(f"{needed} health checks in a row failed ({streak.last})", now - start,
                           streak.first_at, checks)
    return Verdict(after=clock() - start, checks=checks)


def published(container, port: int) -> str:
    """host:port where Docker published the container's `port` on loopback, or ""."""
    container.reload()
    ports = (container.attrs["NetworkSettings"].get("Ports") or {}).get(f"{port}/tcp")
    return f"127.0.0.1:{ports[0]['HostPort']}" if ports else ""


def swap_back(client, caddy, key: str, app_spec: dict, old_container_id: str) -> str:
    """Point the route back at the previous container (started again if it was stopped); returns its
    upstream. Raises docker's NotFound when the previous container is gone."""
    old = client.containers.get(old_container_id)
    if old.status != "running":
        old.start()
    port = int(app_spec.get("port", 8080))
    upstream = published(old, port)
    if not upstream:
        raise RuntimeError(f"the previous container {old.name} publishes no port {port}")
    caddy.apply({key: route(app_spec, upstream)}, wait=RESTART_WAIT)
    return upstream


def _records(workdir: Path) -> Path:
    return workdir / "watching"


def record(workdir: Path, key: str, old: dict, new: dict) -> Path:
    """Note a watch under way ({"id", "upstream"} of each container), so an agent killed during it
    settles it when it starts again (settle_interrupted). Removed when the watch ends."""
    path = _records(workdir) / f"{key}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"key": key, "old": old, "new": new}))
    return path


def settle_interrupted(client, caddy, workdir: Path, say) -> list[str]:
    """Watches this agent was killed during: keep the container the app's route points at, remove the
    other one, so no version is left running unrouted. Returns the names of the containers removed."""
    removed = []
    for path in sorted(_records(workdir).glob("*.json")) if _records(workdir).is_dir() else []:
        try:
            rec = json.loads(path.read_text())
            handle = (caddy.routes().get(rec["key"]) or {}).get("handle") or [{}]
            routed = ((handle[0].get("upstreams") or [{}])[0]).get("dial", "")
        except (OSError, ValueError, KeyError, IndexError) as exc:
            say(f"watch: cannot read {path.name}: {exc}")
            path.unlink(missing_ok=True)
            continue
        sides = {side: rec[side] for side in ("old", "new")}
        if routed not in {s["upstream"] for s in sides.values()}:
            say(f"watch: {rec['key']}: the route points at neither container of an interrupted watch; both kept")
        else:
            for side, c in sides.items():
                if c["upstream"] == routed:
                    continue
                try:
                    container = client.containers.get(c["id"])
                    container.remove(force=True)
                    removed.append(container.name)
                    say(f"watch: {rec['key']}: removed the {side} container {container.name} of a watch the "
                        f"agent was stopped during; the routed one ({routed}) serves")
                except NotFound:
                    pass
        path.unlink(missing_ok=True)
    return removed
