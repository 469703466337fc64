"""App output figures (issue 26: what the serving container prints shows "within 2 s of it printing").

The production path: moto, the API under `chalice local`, Caddy and a real `tahobuddy agent` process
(docker target; its output follower is the one the agent runs, agent/output.py). Containers started here
are labelled as the docker runner labels a serving container (role app, the app, the agent's
installation; the runner's rotating log driver; docker-init), so the agent follows them as it follows a
deployed app; the app itself is saved through the API, so the agent's batches are accepted.

1. Latency: a container prints `tick N` every ~100 ms, LINES lines. A reader GETs
   /api/v1/apps/APP/output?after=SEQ every READ_EVERY s and notes when each line first is readable; per
   line, the delay is that moment minus Docker's own time stamp of the line (the `at` the agent ships,
   from Docker's `timestamps`; same host, same clock). Beside it, `tahobuddy logs --app APP -f` runs as a
   user runs it and each line's delay is when the command printed it (its own polling included: it
   reads again at once after a page with lines, and POLL s after an empty one). Lines lost: printed and
   never readable. The aim: at most 2 s, for `logs --app -f`, with none lost.
2. Load: one app's container prints RATES lines/s (bursts every 100 ms) for STAGE_SECONDS each, rate after
   rate, until a rate loses lines. Per rate: lines printed, readable, lost; lost lines the agent reported
   (its `[tahobuddy: N line(s) dropped ...]` note: it holds at most 5,000 lines not yet taken by the API)
   and lines the API's own cap removed before the reader got them; the delay figures; and the
   throughput the agent delivered to the API (the most one app can sustain: above it the agent's backlog
   grows until it drops the oldest).

Bounded: the printers by their line counts, each wait by a deadline, the reader by BUDGET s. Everything
started here (moto, the API, Caddy, the agent, the `logs -f` command, the containers) is stopped by its
pid or id. Exits 1 when the latency aim is missed or a line is lost in part 1.

    LINES=200 .venv/bin/python bench/app_output.py      # `make bench` runs it (bench/run.sh)
"""
from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import requests

from harness import WORK, Daemons, procs, start_aws  # noqa: F401  (sets the environment first)

LINES = int(os.environ.get("LINES", "200"))
RATES = [int(r) for r in os.environ.get("RATES", "100,300,1000,3000,10000").split(",")]
STAGE_SECONDS = int(os.environ.get("STAGE_SECONDS", "10"))
READ_EVERY = 0.05
BUDGET = 900.0     # the reader's whole life, seconds
AIM = 2.0          # seconds from printing to showing in `logs --app -f`
INSTALLATION = "bench-output"
NOTE = re.compile(r"\[tahobuddy: (\d+) line\(s\) dropped")


class Api:
    def __init__(self, url: str, token: str):
        self.url, self.token = url, token

    def headers(self) -> dict:
        return {"Authorization": f"Bearer {self.token}"}


def stamp(iso: str) -> float:
    return datetime.strptime(iso, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp()


class Reader(threading.Thread):
    """Follows GET /apps/APP/output as `logs -f` does, but every READ_EVERY s when nothing came: keeps, per
    line text, (Docker's stamp, when it was first readable), the agent's drop notes and the cap's drops."""

    def __init__(self, api: Api, app: str):
        super().__init__(daemon=True)
        self.api, self.app = api, app
        self.seen: dict[str, tuple[float, float]] = {}
        self.notes: list[int] = []
        self.cap_dropped = 0
        self.errors = 0
        self.lock = threading.Lock()
        self.halt = threading.Event()

    def run(self):
        url, after = f"{self.api.url}/api/v1/apps/{self.app}/output", 0
        end = time.monotonic() + BUDGET
        while not self.halt.is_set() and time.monotonic() < end:
            try:
                page = requests.get(url, params={"after": after} if after else {},  # a new app: all its lines
                                    headers=self.api.headers(), timeout=30).json()
            except (requests.RequestException, ValueError):
                self.errors += 1
                self.halt.wait(READ_EVERY)
                continue
            got = time.time()
            with self.lock:
                self.cap_dropped += page.get("dropped") or 0
                for row in page["lines"]:
                    m = NOTE.search(row["line"])
                    if m:
                        self.notes.append(int(m[1]))
                    self.seen.setdefault(row["line"], (stamp(row["at"]), got))
            after = page["last_seq"]
            if not page["lines"] or not after:
                self.halt.wait(READ_EVERY)

    def lines(self, prefix: str) -> dict[str, tuple[float, float]]:
        with self.lock:
            return {k: v for k, v in self.seen.items() if k.startswith(prefix)}


class Follow(threading.Thread):
    """`tahobuddy logs --app APP -f` as a user runs it; when each line was printed by it."""

    def __init__(self, api: Api, app: str):
        super().__init__(daemon=True)
        env = {**os.environ, "TAHOBUDDY_API_URL": api.url, "TAHOBUDDY_TOKEN": api.token}
        self.proc = subprocess.Popen([str(Path(sys.executable).parent / "tahobuddy"), "logs", "--app", app, "-f",
                                      "--timeout", "300"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True, env=env)
        self.shown: dict[str, float] = {}

    def run(self):
        for line in self.proc.stdout:  # ends when the command exits (its --timeout, or stop())
            self.shown.setdefault(line.rstrip("\n"), time.time())

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.join(timeout=10)


def pick(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def spread(values: list[float]) -> str:
    if not values:
        return "no lines"
    return (f"p50 {statistics.median(values):.3f} s  p95 {pick(values, 0.95):.3f} s  max {max(values):.3f} s"
            f"  (n={len(values)})")


def ranges(numbers: list[int]) -> str:
    """[3, 4, 5, 9] -> "3-5, 9": which lines were lost."""
    out: list[list[int]] = []
    for n in sorted(numbers):
        if out and n == out[-1][1] + 1:
            out[-1][1] = n
        else:
            out.append([n, n])
    return ", ".join(f"{a}-{b}" if a != b else f"{a}" for a, b in out[:10]) + (" ..." if len(out) > 10 else "")


def serving(client, app: str, name: str, command: list[str]):
    """A container the agent takes for the app's serving one: the runner's labels, log driver and init."""
    from runners import docker_convert as convert
    from tests.realparts import BASE_IMAGE
    labels = {**convert.preview_labels(app, 0, INSTALLATION), "tahobuddy.role": "app", "tahobuddy.job": name}
    return client.containers.run(BASE_IMAGE, command, name=f"tahobuddy-{app}-{name}", detach=True, labels=labels,
                                 log_config=convert.log_config({}), init=True)


def wait_until(test, timeout: float, step: float = 0.2) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if test():
            return True
        time.sleep(step)
    return test()


def latency(client, reader: Reader, follow: Follow, app: str) -> dict:
    script = (f'i=0; while [ $i -lt {LINES} ]; do i=$((i+1)); echo "tick $i"; usleep 100000; done; '
              "exec sleep 3600")
    c = serving(client, app, "ticks", ["sh", "-c", script])
    try:
        want = {f"tick {i}" for i in range(1, LINES + 1)}
        wait_until(lambda: want <= set(reader.lines("tick ")) and want <= set(follow.shown),
                   LINES * 0.1 + 30)
        at_api = reader.lines("tick ")
        start = min((printed for line, (printed, _) in at_api.items() if line in want), default=0.0)
        api_delays = [seen - printed for line, (printed, seen) in at_api.items() if line in want]
        cli = {line: follow.shown[line] - at_api[line][0] for line in want if line in follow.shown and line in at_api}
        return {"api": api_delays, "cli": list(cli.values()),
                "cli_later": [d for line, d in cli.items() if at_api[line][0] >= start + 2],
                "lost_api": sorted(int(x.split()[1]) for x in want - set(at_api)),
                "lost_cli": sorted(int(x.split()[1]) for x in want - set(follow.shown)),
                "first": at_api["tick 1"][1] - at_api["tick 1"][0] if "tick 1" in at_api else None}
    finally:
        c.remove(force=True)


def load_stage(client, reader: Reader, app: str, rate: int) -> dict:
    count, burst = rate * STAGE_SECONDS, max(1, rate // 10)
    prefix = f"load{rate} "
    program = (f'BEGIN {{ for (i = 1; i <= {count}; i++) {{ print "{prefix}" i; '
               f'if (i % {burst} == 0) {{ fflush(); system("usleep 100000") }} }} fflush(); system("sleep 3600") }}')
    notes_before, cap_before = len(reader.notes), reader.cap_dropped
    c = serving(client, app, f"load{rate}", ["awk", program])
    try:
        last, still = -1, 0.0
        printing = time.monotonic() + STAGE_SECONDS * 1.5
        end = time.monotonic() + STAGE_SECONDS + 180
        while time.monotonic() < end:  # until all arrived, or nothing new for 15 s once it printed all
            n = len(reader.lines(prefix))
            if n >= count:
                break
            still = still + 1 if n == last else 0
            if still >= 15 and time.monotonic() > printing:
                break
            last = n
            time.sleep(1)
        got = reader.lines(prefix)
    finally:
        c.remove(force=True)
    lost = sorted(set(range(1, count + 1)) - {int(x[len(prefix):]) for x in got})
    printed = [p for p, _ in got.values()]
    seen = [s for _, s in got.values()]
    return {"rate": rate, "printed": count, "readable": len(got), "lost": len(lost), "which": ranges(lost),
            "agent_dropped": sum(reader.notes[notes_before:]), "cap_dropped": reader.cap_dropped - cap_before,
            "printed_per_s": len(got) / max(1e-3, max(printed) - min(printed)) if len(got) > 1 else 0.0,
            "delivered_per_s": len(got) / max(1e-3, max(seen) - min(printed)) if got else 0.0,
            "delays": [s - p for p, s in got.values()]}


def main() -> int:
    import docker
    from functions.store import tokens
    from tests.realparts import AgentProcess, Caddy, build_base_images

    client, daemons = docker.from_env(), Daemons()
    app = f"out{os.getpid()}"
    caddy = agent = follow = reader = None
    try:
        start_aws(daemons)
        build_base_images(WORK)
        port = procs.free_port()
        daemons.start("api", [sys.executable, "-m", "local.api", "--host", "127.0.0.1", "--port", str(port),
                              "--no-autoreload"], f"http://127.0.0.1:{port}/api/v1/health")
        api = Api(f"http://127.0.0.1:{port}", tokens.issue("admin", "bench"))
        r = requests.put(f"{api.url}/api/v1/apps/{app}", headers=api.headers(), timeout=30, json={
            "name": app, "repository": "bench/output", "hostname": f"{app}.localhost", "port": 8080,
            "rules": [{"name": "release", "match": {"tag": "release-*"}, "target": {"type": "docker"}}]})
        assert r.status_code == 201, r.text
        caddy = Caddy(WORK / "caddy")
        agent = AgentProcess(api, tokens.issue("agent", "bench"), WORK, caddy, targets="docker",
                             extra={"TAHOBUDDY_INSTALLATION": INSTALLATION})
        reader = Reader(api, app)
        reader.start()
        follow = Follow(api, app)
        follow.start()
        time.sleep(1)  # both have read the (empty) output once: every tick is new to them
        lat = latency(client, reader, follow, app)
        follow.stop()
        stages = []
        for rate in RATES:
            stages.append(load_stage(client, reader, app, rate))
            if stages[-1]["lost"]:
                break
    finally:
        if follow:
            follow.stop()
        if reader:
            reader.halt.set()
            reader.join(timeout=35)
        for c in client.containers.list(all=True, filters={"label": f"tahobuddy.app={app}"}):
            c.remove(force=True)
        if agent:
            agent.stop()
        if caddy:
            caddy.stop()
        daemons.stop_all()

    from cli.app_logs import POLL
    from agent.output import Output
    load = " ".join(open("/proc/loadavg").read().split()[:3])
    print(f"app output bench: {LINES} lines, one every ~100 ms, from Docker's stamp to readable "
          f"(agent: scan every {Output.SCAN_EVERY:g} s, send every {Output.FLUSH_EVERY:g} s; load {load})")
    print(f"  at GET /apps/APP/output (read every {READ_EVERY * 1000:g} ms)  {spread(lat['api'])}")
    print(f"  in `logs --app -f` (POLL {POLL:g} s)          {spread(lat['cli'])}")
    print(f"    of which lines printed 2 s or more after the first {spread(lat['cli_later'])}")
    if lat["first"] is not None:
        print(f"  the container's first line at the API   {lat['first']:.3f} s (the scanner finds a new container)")
    print(f"  lines lost: {len(lat['lost_api'])} at the API {ranges(lat['lost_api'])}, {len(lat['lost_cli'])} in "
          f"`logs -f` {ranges(lat['lost_cli'])} (of {LINES}); reader errors {reader.errors}")
    missed = not lat["cli"] or max(lat["cli"]) > AIM or lat["lost_api"] or lat["lost_cli"]
    print(f"  aim: shown by `logs --app -f` within {AIM:g} s of printing, none lost: "
          f"{'MISSED' if missed else 'met'}")
    print(f"load: one app printing in bursts every 100 ms for {STAGE_SECONDS} s a rate; the agent holds at most "
          f"{Output.MAX_PENDING:,} lines the API has not taken, the API keeps an app's last 5,000")
    for s in stages:
        print(f"  {s['rate']:6d}/s asked ({s['printed_per_s']:7.0f}/s printed): {s['printed']:6d} printed, "
              f"{s['readable']:6d} readable, {s['lost']:6d} lost (agent dropped {s['agent_dropped']}, "
              f"API cap {s['cap_dropped']}{'; lost ' + s['which'] if s['lost'] else ''}); delivered {s['delivered_per_s']:6.0f}/s; delay {spread(s['delays'])}")
    kept = [s["rate"] for s in stages if not s["lost"]]
    print(f"  sustained with none lost over {STAGE_SECONDS} s: {max(kept) if kept else 0}/s; "
          f"the most delivered: {max(s['delivered_per_s'] for s in stages):.0f} lines/s")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
