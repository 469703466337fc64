"""Load simulation on the embedded stack: many apps, many agents, many deliveries, in one run.

  moto server  <-  chalice local (one process: webhooks and agent calls)  <-  signed GitHub pushes
       ^                                                                        (a bounded sender pool)
       +------ N `tahobuddy agent` processes (shell runner, concurrency 1 or 2, short long polls)

Every app is its own repository as the API sees it (its own URL, so its own `repo_key` and its
own mirror on each agent), but all those URLs are symlinks to one bare repository: one object
store, one branch per app. Delivery n goes to app n % apps at commit n // apps, so an app's
pushes are `apps` deliveries apart, as pushes to many repositories interleave.

Each job's command appends its job id to one shared file (O_APPEND, one short line: atomic),
so a job that ran twice shows up twice. The run has two stages: the first CHECKPOINT deliveries,
drained; then the rest, drained. For each: webhook latency, pickup latency (the event's
`received_at` -> the job's `started_at`), throughput, jobs lost (not ended when the queue is
empty, or a delivery answered without its job) and jobs run twice; then how each grows.
Every loop is bounded by the run's budget (--budget-minutes).
"""
from __future__ import annotations

import argparse
import collections
import json
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import requests

from harness import WORK, Daemons, figures, load, procs, start_aws  # noqa: F401  (sets the env first)
from contract.states import ENDED_VALUES  # noqa: E402  (harness put the project on the path)

SECRET = "bench-secret"


def arguments(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--apps", type=int, default=1000)
    p.add_argument("--agents", type=int, default=10)
    p.add_argument("--deliveries", type=int, default=10_000)
    p.add_argument("--checkpoint", type=int, default=1_000, help="deliveries of the first stage")
    p.add_argument("--senders", type=int, default=8, help="concurrent webhook senders")
    p.add_argument("--budget-minutes", type=float, default=25.0, help="the whole run stops by then")
    p.add_argument("--cold-mirrors", action="store_true",
                   help="agents start without mirrors: each clones every repository it is first sent")
    args = p.parse_args(argv)
    if not 0 < args.checkpoint <= args.deliveries or args.apps < 1 or args.agents < 1:
        p.error("need apps >= 1, agents >= 1 and 0 < checkpoint <= deliveries")
    return args


class Api:
    def __init__(self, url: str, token: str):
        self.url, self.token, self.secret = url, token, SECRET

    def headers(self):
        return {"Authorization": f"Bearer {self.token}"}


def git(*args: str, cwd: Path | None = None, stdin: str | None = None) -> str:
    return subprocess.run(["git", "-c", "user.name=b", "-c", "user.email=b@b", *args], cwd=cwd, input=stdin,
                          capture_output=True, text=True, check=True).stdout.strip()


def make_origin(root: Path, apps: int, rounds: int) -> tuple[list[Path], list[str]]:
    """One bare repository with `rounds` commits and a branch per app; one symlink per app."""
    origin, work, links = root / "origin.git", root / "work", root / "repos"
    git("init", "-q", "--bare", "-b", "main", str(origin))
    git("init", "-q", "-b", "main", str(work))
    shas = []
    for k in range(rounds):
        git("commit", "-q", "--allow-empty", "-m", f"round {k}", cwd=work)
        shas.append(git("rev-parse", "HEAD", cwd=work))
    git("push", "-q", str(origin), "HEAD:refs/heads/main", cwd=work)
    git("update-ref", "--stdin", cwd=origin,
        stdin="".join(f"create refs/heads/app-{i:04d} {shas[-1]}\n" for i in range(apps)))
    links.mkdir()
    for i in range(apps):
        (links / f"app-{i:04d}.git").symlink_to(origin)
    return [links / f"app-{i:04d}.git" for i in range(apps)], shas


def warm_mirrors(agent_dirs: list[Path], links: list[Path]) -> float:
    """Give every agent the bare mirror of every app's repository, as after its first deploy of each:
    one `git clone --mirror`, then hard-linked copies with each app's own URL in their config. The
    bench then measures the steady state (an incremental fetch per job), not 10 x apps cold clones."""
    import hashlib
    import os
    import shutil
    t0 = time.monotonic()
    template = links[0].parent.parent / "mirror-template.git"
    git("clone", "--mirror", "--quiet", "--", str(links[0]), str(template))
    config = (template / "config").read_text()
    for workdir in agent_dirs:
        for link in links:
            dest = workdir / "mirrors" / (hashlib.sha256(str(link).encode()).hexdigest()[:24] + ".git")
            shutil.copytree(template, dest, copy_function=os.link)
            (dest / "config").unlink()
            (dest / "config").write_text(config.replace(str(links[0]), str(link)))
    return time.monotonic() - t0


def make_apps(links: list[Path], ran: Path) -> float:
    """The apps, saved in-process (the same validation as PUT /api/v1/apps): seconds taken."""
    from concurrent.futures import ThreadPoolExecutor
    from functions.store import app_store
    command = ["sh", "-c", f'echo "$TAHOBUDDY_JOB" >> {ran}']

    def save(i):
        app_store.save({"name": f"scale-{i:04d}", "repository": str(links[i]), "rules": [
            {"name": "main", "match": {"branch": f"app-{i:04d}"}, "target": {"type": "shell", "commands": [command]}}]})
    t0 = time.monotonic()
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(save, range(len(links))))
    return time.monotonic() - t0


class Sender:
    """Signed pushes to chalice local; remembers each accepted delivery's job."""

    def __init__(self, api: Api, links: list[Path], shas: list[str], concurrency: int):
        self.api, self.links, self.shas = api, links, shas
        self.session = requests.Session()
        self.session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=concurrency))
        self.jobs: dict[int, str] = {}          # delivery number -> job id
        self.latency: dict[int, float] = {}     # delivery number -> ms
        self.refused: dict[int, str] = {}       # delivery number -> why (status, body)
        self.lock = threading.Lock()

    def warm_up(self, count: int = 20) -> None:
        """Signed pings (stored, match nothing): the API's first requests import and connect, not measured."""
        from functions.providers.github import sign
        for i in range(count):
            body = json.dumps({"zen": "warm", "hook_id": 1}).encode()
            self.session.post(f"{self.api.url}/api/v1/hooks/github", data=body, timeout=60, headers={
                "Content-Type": "application/json", "X-GitHub-Event": "ping", "X-GitHub-Hook-ID": "scale",
                "X-GitHub-Delivery": f"warm-{i}", "X-Hub-Signature-256": sign(SECRET, body)}).raise_for_status()

    def send(self, n: int) -> bool:
        from functions.providers.github import sign
        i, k = n % len(self.links), n // len(self.links)
        body = json.dumps({"ref": f"refs/heads/app-{i:04d}", "after": self.shas[k], "created": False,
                           "deleted": False, "repository": {"full_name": f"bench/scale-{i:04d}",
                                                            "clone_url": str(self.links[i])}}).encode()
        headers = {"Content-Type": "application/json", "X-GitHub-Event": "push", "X-GitHub-Hook-ID": "scale",
                   "X-GitHub-Delivery": f"scale-{n}", "X-Hub-Signature-256": sign(SECRET, body)}
        t0 = time.perf_counter()
        try:
            r = self.session.post(f"{self.api.url}/api/v1/hooks/github", data=body, headers=headers, timeout=60)
            jobs = r.json().get("jobs", []) if r.status_code == 200 else []
            why = "" if len(jobs) == 1 else f"{r.status_code}: {r.text[:200]}"
        except requests.RequestException as exc:
            jobs, why = [], f"{exc.__class__.__name__}: {exc}"
        ms = (time.perf_counter() - t0) * 1000
        with self.lock:
            self.latency[n] = ms
            if why:
                self.refused[n] = why
            else:
                self.jobs[n] = jobs[0]
        return not why


def queue_depth() -> tuple[int, int]:
    """(messages on the default pool's queue, visible + in flight; messages on its dead-letter queue)."""
    import boto3
    from contract.queues import dead_letter_queue_name, queue_name
    from functions.config import boto_kwargs, settings
    sqs = boto3.client("sqs", **boto_kwargs())
    out = []
    for name in (queue_name(settings().prefix), dead_letter_queue_name(settings().prefix)):
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        out.append(int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"]))
    return out[0], out[1]


def drain(deadline: float) -> tuple[float, int]:
    """Wait until the queue is empty (every job's message deleted: ended or superseded), or the
    deadline passes: (seconds waited, largest backlog seen)."""
    t0, most = time.monotonic(), 0
    while time.monotonic() < deadline:
        depth, _ = queue_depth()
        most = max(most, depth)
        if depth == 0:
            break
        time.sleep(1)
    return time.monotonic() - t0, most


def epoch(iso: str | None) -> float | None:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() if iso else None


def moto_query_ms(samples: int = 20) -> float:
    """Median time moto takes to answer one small GSI query (one group's jobs) at the current size."""
    import statistics
    from functions.store.models import JobModel
    times = []
    for i in range(samples):
        t0 = time.perf_counter()
        list(JobModel.by_group.query(f"scale-{i:04d}.main", limit=1))
        times.append((time.perf_counter() - t0) * 1000)
    return round(statistics.median(times), 1)


def measure(sender: Sender, numbers: range, ran_ids: collections.Counter, jobs: dict, events: dict,
            sent: dict, seconds: float, queued: int = 0) -> dict:
    """The figures of the deliveries `numbers` (their jobs as stored now)."""
    accepted = [n for n in numbers if n in sender.jobs]
    mine = [jobs.get(sender.jobs[n]) for n in accepted]
    states = collections.Counter(j["state"] if j else "missing" for j in mine)
    pickups = []
    for n, job in zip(accepted, mine):
        if job and job.get("started_at"):
            received = events.get(job.get("event_id"))
            if received is not None:
                pickups.append((epoch(job["started_at"]) - received) * 1000)
    ids = {sender.jobs[n] for n in accepted}
    not_ended = sum(v for s, v in states.items() if s not in ENDED_VALUES)
    lat = [sender.latency[n] for n in numbers if n in sender.latency]
    return {
        "deliveries": len(numbers), "sent": len(lat), "accepted": len(accepted),
        "refused": sum(1 for n in numbers if n in sender.refused),
        "webhook": figures(lat) if lat else {}, "pickup": figures(pickups) if pickups else {},
        "states": dict(states),
        # not ended while the queue still holds that many messages: waiting, not lost (the budget ran out)
        "unfinished": min(not_ended, queued),
        "lost": max(0, not_ended - queued) + sum(1 for n in numbers if n in sender.refused),
        "run_twice": sum(1 for i in ids if ran_ids[i] > 1),
        "reclaimed": sum(1 for j in mine if j and int(j.get("attempts") or 0) > 1),
        "succeeded_not_run": sum(1 for j in mine if j and j["state"] == "succeeded" and not ran_ids[j["id"]]),
        "ran_not_succeeded": sum(1 for j in mine if j and j["state"] != "succeeded" and ran_ids[j["id"]]),
        "seconds": round(seconds, 1), **sent,
        "jobs_per_second": round(states.get("succeeded", 0) / seconds, 2) if seconds else 0.0,
    }


def snapshot(ran: Path) -> tuple[collections.Counter, dict, dict]:
    """Every job and event as stored now (scans, in-process), and how often each job id ran."""
    from functions.store.models import EventModel, JobModel
    jobs = {j.id: {"id": j.id, "state": j.state, "started_at": j.started_at, "event_id": j.event_id,
                   "attempts": j.attempts} for j in JobModel.scan()}
    events = {e.id: epoch(e.received_at) for e in EventModel.scan()}
    ran_ids = collections.Counter(ran.read_text().split()) if ran.exists() else collections.Counter()
    return ran_ids, jobs, events


def stage(sender: Sender, numbers: range, senders: int, deadline: float) -> dict:
    """Send `numbers` (for at most 70 % of the time left, so the queue can drain), then drain."""
    t0 = time.monotonic()
    result = load(lambda i: sender.send(numbers.start + i), len(numbers), senders,
                  budget_s=max(1.0, 0.7 * (deadline - time.monotonic())))
    sending = time.monotonic() - t0
    waited, backlog = drain(deadline)
    return {"send_seconds": round(sending, 1), "webhooks_per_second": result["per_second"],
            "drain_seconds": round(waited, 1), "largest_backlog": backlog, "drained": queue_depth()[0] == 0,
            "total_seconds": time.monotonic() - t0}


def main(argv=None) -> int:
    args = arguments(argv)
    from functions.store import tokens
    from tests.realparts import AgentProcess
    started = time.monotonic()
    deadline = started + args.budget_minutes * 60
    daemons, agents, report = Daemons(), [], {"args": vars(args)}
    ran = WORK / "ran.log"
    try:
        start_aws(daemons)
        api_port = procs.free_port()
        daemons.start("api", [sys.executable, "-m", "local.api", "--host", "127.0.0.1", "--port", str(api_port),
                              "--no-autoreload"], f"http://127.0.0.1:{api_port}/api/v1/health")
        api = Api(f"http://127.0.0.1:{api_port}", tokens.issue("admin", "bench"))
        rounds = -(-args.deliveries // args.apps)
        links, shas = make_origin(WORK / "git", args.apps, rounds)
        report["apps_seconds"] = round(make_apps(links, ran), 1)
        agent_token = tokens.issue("agent", "bench")
        names = [f"scale-{i:02d}" for i in range(args.agents)]
        if not args.cold_mirrors:
            report["mirrors_seconds"] = round(warm_mirrors([WORK / n for n in names], links), 1)
        for i in range(args.agents):
            agents.append(AgentProcess(api, agent_token, WORK, targets="shell", name=names[i], extra={
                "TAHOBUDDY_CONCURRENCY": str(1 + i % 2), "TAHOBUDDY_POLL_WAIT": "1"}))
        sender = Sender(api, links, shas, args.senders)
        sender.warm_up()
        report["stages"] = []
        for numbers in (range(0, args.checkpoint), range(args.checkpoint, args.deliveries)):
            if not numbers or time.monotonic() > deadline:
                continue
            timing = stage(sender, numbers, args.senders, deadline - 90)  # 90 s kept for the figures
            ran_ids, jobs, events = snapshot(ran)
            queued, dead = queue_depth()
            timing["dead_letters"] = dead
            timing["moto_query_ms"] = moto_query_ms()
            sent_to = max((n for n in sender.latency if n in numbers), default=numbers.start - 1) + 1
            upto = range(0, sent_to)  # what was sent: the budget may stop a stage early
            report["stages"].append({
                "upto": sent_to, "planned": numbers.stop,
                "stage": measure(sender, numbers, ran_ids, jobs, events, timing, timing["total_seconds"]),
                "all": measure(sender, upto, ran_ids, jobs, events, {}, 0, queued),
                "last": measure(sender, range(max(0, sent_to - args.checkpoint), sent_to), ran_ids, jobs,
                                events, {}, 0)})
        report["run_minutes"] = round((time.monotonic() - started) / 60, 1)
        report["dead_letters"] = queue_depth()[1]
        report["agents_alive"] = sum(1 for a in agents if a.proc.poll() is None)
    finally:
        for a in agents:
            a.stop(timeout=30)
        daemons.stop_all()
    print_report(report)
    return 0 if all(s["all"]["lost"] == 0 and s["all"]["run_twice"] == 0
                    for s in report.get("stages", [])) else 1


def print_report(r: dict) -> None:
    a = r["args"]
    print(f"Scale: {a['apps']} apps (shell rule each), {a['agents']} agents (concurrency 1-2, poll wait 1 s), "
          f"{a['deliveries']} deliveries from {a['senders']} senders; apps saved in {r['apps_seconds']} s; "
          f"run {r['run_minutes']} min (budget {a['budget_minutes']})")
    for s in r["stages"]:
        st, every, last = s["stage"], s["all"], s["last"]
        print(f"  after {s['upto']} deliveries of {s['planned']} planned (this stage: sent {st['sent']} in "
              f"{st['send_seconds']} s at {st['webhooks_per_second']}/s, drained {st['drained']} "
              f"{st['drain_seconds']} s later, largest backlog {st['largest_backlog']}):")
        for label, m in ((f"stage ({st['sent']} sent)", st), (f"last {last['deliveries']}", last)):
            print(f"    {label}: webhook p50 {m['webhook'].get('p50_ms')} ms p99 {m['webhook'].get('p99_ms')} ms; "
                  f"pickup p50 {m['pickup'].get('p50_ms')} ms p99 {m['pickup'].get('p99_ms')} ms "
                  f"(n={m['pickup'].get('n', 0)})")
        print(f"    stage throughput: {st['jobs_per_second']} jobs succeeded/s, send to drained; "
              f"moto GSI query {st['moto_query_ms']} ms")
        print(f"    all {every['deliveries']}: accepted {every['accepted']}, refused {every['refused']}, "
              f"states {every['states']}")
        print(f"    jobs lost {every['lost']} (dead letters {st['dead_letters']}), still queued when the budget ran "
              f"out {every['unfinished']}, run twice {every['run_twice']}, reclaimed {every['reclaimed']}, "
              f"succeeded without running {every['succeeded_not_run']}, ran but not succeeded "
              f"{every['ran_not_succeeded']}")
    if len(r["stages"]) == 2:
        first, second = r["stages"]

        def ratio(x, y):
            return f"{y / x:.2f}x" if x and y is not None else "n/a"
        print(f"  growth from {first['upto']} to {second['upto']} deliveries (the last {first['last']['deliveries']} "
              "deliveries of each):")
        for label, key in (("webhook p50", ("webhook", "p50_ms")), ("webhook p99", ("webhook", "p99_ms")),
                           ("pickup p50", ("pickup", "p50_ms")), ("pickup p99", ("pickup", "p99_ms"))):
            x, y = first["last"][key[0]].get(key[1]), second["last"][key[0]].get(key[1])
            print(f"    {label}: {x} -> {y} ms ({ratio(x, y)})")
        x, y = first["stage"], second["stage"]
        for label, key in (("webhooks/s while sending", "webhooks_per_second"),
                           ("jobs succeeded/s, send to drained", "jobs_per_second"),
                           ("moto GSI query ms", "moto_query_ms")):
            print(f"    {label}: {x[key]} -> {y[key]} ({ratio(x[key], y[key])})")
        print(f"    jobs lost: {first['all']['lost']} -> {second['all']['lost']}; run twice: "
              f"{first['all']['run_twice']} -> {second['all']['run_twice']}")
    print(f"  dead letters {r['dead_letters']}, agents alive at the end {r['agents_alive']} of {a['agents']}")
    print(json.dumps(r))


if __name__ == "__main__":
    sys.exit(main())
