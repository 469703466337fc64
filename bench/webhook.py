"""Webhook path figures: p50/p99 latency and sustained deliveries per second.

Three ways, in one run, on the same signed payloads:
  1. in-process (chalice.test.Client) against moto server over HTTP
  2. through `chalice local` + moto server over loopback HTTP
  3. baseline: adnanh's `webhook` (Debian package) verifying the same HMAC and running /bin/true
Then it checks that no delivery was lost: every one sent is a stored event with its job.
Aim: in-process p99 under 20 ms; zero deliveries lost at any rate.
"""
from __future__ import annotations

import json
import shutil
import sys
import time
import uuid

import requests

from harness import ROOT, WORK, Daemons, EmulatorClock, figures, load, procs, start_aws  # noqa: F401  (env first)

SECRET = "bench-secret"
SEQUENTIAL = 300
RATES = (1, 4, 16)
PER_RATE = 400


def payload(i: int, run: str) -> bytes:
    sha = f"{i + 1:040x}"  # never the all-zero SHA, which GitHub uses for a deleted ref
    return json.dumps({"ref": "refs/heads/main", "after": sha, "created": False, "deleted": False,
                       "repository": {"full_name": f"bench/{run}", "clone_url": f"https://github.com/bench/{run}.git"},
                       "commits": [{"id": sha, "message": "x" * 200}]}).encode()


def headers(body: bytes, delivery: str) -> dict:
    from functions.providers.github import sign
    return {"Content-Type": "application/json", "X-GitHub-Event": "push", "X-GitHub-Delivery": delivery,
            "X-GitHub-Hook-ID": "bench", "X-Hub-Signature-256": sign(SECRET, body)}


def make_app(run: str) -> None:
    from functions.store import app_store
    app_store.save({"name": run, "repository": f"https://github.com/bench/{run}.git",
                    "rules": [{"name": "main", "match": {"branch": "main"}, "target": {"type": "docker"}}]})


def lost(run: str, sent: int) -> int:
    """Deliveries answered 200 that did not become a stored event with a job."""
    from functions.store.models import EventModel, JobModel
    jobs = {j.event_id for j in JobModel.by_app.query(run)}
    events = {e.id for e in EventModel.scan(EventModel.id.startswith(f"bench:{run}-"))}
    return sent - len(jobs & events)


def queued_messages() -> int:
    import boto3
    from contract.queues import DEFAULT_POOL
    from functions.dispatch import queue
    from functions.config import boto_kwargs
    attrs = boto3.client("sqs", **boto_kwargs()).get_queue_attributes(
        QueueUrl=queue.url(DEFAULT_POOL), AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"])


def in_process() -> dict:
    from chalice.test import Client
    from functions.app import app
    run = f"inproc-{uuid.uuid4().hex[:6]}"
    make_app(run)
    clock, own, waits, calls = EmulatorClock().install(), [], [], []
    with Client(app) as client:
        def send(i):
            body = payload(i, run)
            clock.take()
            t0 = time.perf_counter()
            r = client.http.post("/api/v1/hooks/github", body=body, headers=headers(body, f"{run}-{i}"))
            total = (time.perf_counter() - t0) * 1000
            wait, n = clock.take()
            own.append(total - wait), waits.append(wait), calls.append(n)
            return r.status_code == 200
        for i in range(20):  # warm-up, not counted
            send(10**6 + i)
        del own[:], waits[:], calls[:]
        result = load(send, SEQUENTIAL, 1)
    return {**result, "lost": lost(run, SEQUENTIAL + 20), "own": figures(own), "emulator_wait": figures(waits),
            "aws_calls_per_delivery": max(set(calls), key=calls.count),
            "emulator_by_operation": {op: figures(ms) for op, ms in clock.by_op.items()}}


def over_http(url: str, route: str, run: str | None, concurrency: int, count: int) -> dict:
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_maxsize=concurrency)
    session.mount("http://", adapter)

    def send(i):
        body = payload(i, run or "baseline")
        r = session.post(url + route, data=body, headers=headers(body, f"{run}-{concurrency}-{i}"), timeout=30)
        return r.status_code == 200
    return load(send, count, concurrency)


def main() -> int:
    if not shutil.which("webhook"):
        print("adnanh's webhook is missing: apt-get install webhook (make bench installs it)", file=sys.stderr)
        return 2
    daemons = Daemons()
    try:
        start_aws(daemons)
        report = {"in_process": in_process()}
        api_port = procs.free_port()
        daemons.start("chalice", [sys.executable, "-m", "local.api", "--host", "127.0.0.1", "--port",
                                  str(api_port), "--no-autoreload"], f"http://127.0.0.1:{api_port}/api/v1/health")
        hooks = WORK / "hooks.json"
        hooks.write_text(json.dumps([{"id": "deploy", "execute-command": "/bin/true", "trigger-rule": {"match": {
            "type": "payload-hmac-sha256", "secret": SECRET,
            "parameter": {"source": "header", "name": "X-Hub-Signature-256"}}}}]))
        hook_port = procs.free_port()
        daemons.start("webhook", ["webhook", "-hooks", str(hooks), "-ip", "127.0.0.1", "-port", str(hook_port)],
                      f"http://127.0.0.1:{hook_port}/")
        report["chalice_local"], report["baseline_webhook"] = {}, {}
        for rate in RATES:
            run = f"http-{rate}-{uuid.uuid4().hex[:6]}"
            make_app(run)
            result = over_http(f"http://127.0.0.1:{api_port}", "/api/v1/hooks/github", run, rate, PER_RATE)
            report["chalice_local"][rate] = {**result, "lost": lost(run, result["n"])}
            report["baseline_webhook"][rate] = over_http(f"http://127.0.0.1:{hook_port}", "/hooks/deploy", None,
                                                         rate, PER_RATE)
        from functions.store.models import JobModel
        report["messages_on_queue"], report["jobs_made"] = queued_messages(), JobModel.count()
    finally:
        daemons.stop_all()
    print_report(report)
    return 0


def print_report(r: dict) -> None:
    ip = r["in_process"]
    print("Tahobuddy webhook path: verify -> record -> match -> enqueue (moto server over HTTP)")
    print(f"  in-process:   p50 {ip['p50_ms']} ms  p99 {ip['p99_ms']} ms  {ip['per_second']}/s  "
          f"lost {ip['lost']} of {ip['n'] + 20}   (aim: p99 < 20 ms: {'met' if ip['p99_ms'] < 20 else 'NOT met'})")
    print(f"     of which: {ip['aws_calls_per_delivery']} AWS calls waiting on moto server p50 "
          f"{ip['emulator_wait']['p50_ms']} ms / p99 {ip['emulator_wait']['p99_ms']} ms; Tahobuddy's own code "
          f"p50 {ip['own']['p50_ms']} ms / p99 {ip['own']['p99_ms']} ms")
    print("     moto server per operation: " + ", ".join(
        f"{op} p50 {f['p50_ms']} ms" for op, f in sorted(ip["emulator_by_operation"].items())))
    print(f"  {'concurrency':>11}  {'tahobuddy p50/p99 ms':>22}  {'/s':>7}  {'lost':>4}  "
          f"{'webhook p50/p99 ms':>20}  {'/s':>7}  {'throughput ratio':>16}")
    for rate, t in r["chalice_local"].items():
        b = r["baseline_webhook"][rate]
        print(f"  {rate:>11}  {t['p50_ms']:>10} / {t['p99_ms']:<9}  {t['per_second']:>7}  {t['lost']:>4}  "
              f"{b['p50_ms']:>8} / {b['p99_ms']:<9}  {b['per_second']:>7}  {t['per_second'] / b['per_second']:>15.3f}x")
    print(f"  jobs made {r['jobs_made']}, messages on the queue {r['messages_on_queue']}")
    print("  (tahobuddy stores each delivery, matches rules and queues a job; webhook only verifies and runs "
          "/bin/true)")
    print(json.dumps(r))


if __name__ == "__main__":
    sys.exit(main())
