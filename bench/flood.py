"""A flood of badly signed deliveries beside valid ones: how much does it slow the valid ones?

Through `chalice local` + moto server on loopback:
  1. valid deliveries alone (one sender): p50/p99;
  2. the same number of valid deliveries while FLOOD_SENDERS threads send FLOOD badly signed ones
     (bounded in count and time): p50/p99, and the ratio to 1.
It then checks that the flood stored nothing (no event of its delivery ids) and that every valid
delivery became an event with its job.
"""
from __future__ import annotations

import hashlib
import sys
import threading
import time
import uuid

import requests

from harness import Daemons, figures, load, procs, start_aws  # noqa: F401  (env first)
from webhook import headers, lost, make_app, payload

VALID = 200
FLOOD = 1000
FLOOD_SENDERS = 4
BUDGET_S = 120


def bad_headers(body: bytes, delivery: str) -> dict:
    good = headers(body, delivery)
    return {**good, "X-Hub-Signature-256": "sha256=" + hashlib.sha256(b"not the secret" + body).hexdigest()}


def valid_run(url: str, run: str, offset: int) -> dict:
    session = requests.Session()

    def send(i):
        body = payload(offset + i, run)
        r = session.post(url, data=body, headers=headers(body, f"{run}-{offset + i}"), timeout=30)
        return r.status_code == 200
    return load(send, VALID, 1, BUDGET_S)


def flood(url: str, run: str, stop: threading.Event) -> dict:
    """FLOOD badly signed deliveries from FLOOD_SENDERS threads, until done, `stop` or the budget."""
    statuses: dict[int, int] = {}
    lock, deadline = threading.Lock(), time.monotonic() + BUDGET_S

    def sender(k: int) -> None:
        session = requests.Session()
        for i in range(k, FLOOD, FLOOD_SENDERS):
            if stop.is_set() or time.monotonic() > deadline:
                return
            body = payload(i, run)
            code = session.post(url, data=body, headers=bad_headers(body, f"flood-{run}-{i}"), timeout=30).status_code
            with lock:
                statuses[code] = statuses.get(code, 0) + 1
    threads = [threading.Thread(target=sender, args=(k,)) for k in range(FLOOD_SENDERS)]
    for t in threads:
        t.start()
    return {"threads": threads, "statuses": statuses}


def stored_flood_events(run: str) -> int:
    from functions.store.models import EventModel
    return sum(1 for _ in EventModel.scan(EventModel.id.contains(f"flood-{run}-")))


def main() -> int:
    daemons = Daemons()
    try:
        start_aws(daemons)
        port = procs.free_port()
        daemons.start("chalice", [sys.executable, "-m", "local.api", "--host", "127.0.0.1", "--port", str(port),
                                  "--no-autoreload"], f"http://127.0.0.1:{port}/api/v1/health")
        url = f"http://127.0.0.1:{port}/api/v1/hooks/github"
        run = f"flood-{uuid.uuid4().hex[:6]}"
        make_app(run)
        valid_run(url, run, 10_000)  # warm-up, not counted
        alone = valid_run(url, run, 0)
        stop = threading.Event()
        t0 = time.perf_counter()
        attack = flood(url, run, stop)
        beside = valid_run(url, run, VALID)
        stop.set()  # the valid run is what we measure; the flood stops with it (or when it has sent all)
        for t in attack["threads"]:
            t.join(timeout=BUDGET_S)
        wall = time.perf_counter() - t0
        sent_bad = sum(attack["statuses"].values())
        report = {"alone": alone, "during_flood": beside, "flood_sent": sent_bad, "flood_statuses": attack["statuses"],
                  "flood_per_second": round(sent_bad / wall, 1), "flood_stored": stored_flood_events(run),
                  "valid_lost": lost(run, 3 * VALID)}  # warm-up, alone, beside
    finally:
        daemons.stop_all()
    print("Badly signed flood beside valid deliveries (chalice local + moto server, loopback)")
    for name in ("alone", "during_flood"):
        f = report[name]
        print(f"  valid {name:<13} p50 {f['p50_ms']:>7} ms  p99 {f['p99_ms']:>7} ms  ({f['n']} deliveries, "
              f"{f['failed']} not 200)")
    print(f"  ratio during/alone:  p50 {report['during_flood']['p50_ms'] / report['alone']['p50_ms']:.2f}x  "
          f"p99 {report['during_flood']['p99_ms'] / report['alone']['p99_ms']:.2f}x")
    print(f"  flood: {report['flood_sent']} badly signed sent by {FLOOD_SENDERS} threads at "
          f"{report['flood_per_second']}/s, answered {report['flood_statuses']}; stored {report['flood_stored']}; "
          f"valid deliveries lost {report['valid_lost']}")
    return 0 if report["flood_stored"] == 0 and report["valid_lost"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
