"""What the benchmarks share: an embedded AWS on free loopback ports, latency figures,
and a bounded concurrent load loop. Every daemon started here is stopped by its pid."""
from __future__ import annotations

import os
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from local import procs  # noqa: E402

WORK = Path(tempfile.mkdtemp(prefix="tahobuddy-bench-"))
AWS_PORT = procs.free_port()
os.environ.update({
    "TAHOBUDDY_AWS_ENDPOINT": f"http://127.0.0.1:{AWS_PORT}", "TAHOBUDDY_PREFIX": "tbbench",
    "TAHOBUDDY_WEBHOOK_SECRET": "bench-secret", "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
})


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) one process has used so far; its children's is not counted."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU seconds each named process uses between `start()` and `stop()`: on the embedded stack the API
    and the AWS emulator share the machine's cores with the build, as Lambda and DynamoDB would not."""

    def __init__(self, pids: dict[str, int]):
        self.pids, self.before = pids, {}

    def start(self) -> None:
        self.before = {name: cpu_seconds(pid) for name, pid in self.pids.items()}

    def stop(self) -> dict[str, float]:
        return {name: round(cpu_seconds(pid) - self.before[name], 3) for name, pid in self.pids.items()}


class Daemons:
    def __init__(self):
        self.running = []
        self.names: dict[str, int] = {}

    def start(self, name, argv, ready_url, env=None, cwd=None):
        proc = procs.start(argv, str(WORK / f"{name}.log"), env=env or dict(os.environ), cwd=cwd or str(ROOT))
        self.running.append(proc)
        self.names[name] = proc.pid
        procs.wait_http(ready_url, proc=proc, timeout=60)
        return proc

    def stop_all(self):
        for proc in reversed(self.running):
            procs.stop(proc)


def start_aws(daemons: Daemons) -> None:
    daemons.start("moto", [sys.executable, "-m", "local.moto_server", "-H", "127.0.0.1", "-p", str(AWS_PORT)],
                  f"http://127.0.0.1:{AWS_PORT}/moto-api/")
    from local import provision
    provision.all_resources()


class EmulatorClock:
    """Time this process spends waiting on AWS (the emulator) per thread: botocore's send."""

    def __init__(self):
        self.local = threading.local()
        self.by_op: dict[str, list[float]] = {}

    def install(self):
        from botocore.endpoint import Endpoint
        original, clock = Endpoint._send, self

        def timed(endpoint, request):
            t0 = time.perf_counter()
            try:
                return original(endpoint, request)
            finally:
                op = (request.headers.get("X-Amz-Target") or b"?")
                op = (op.decode() if isinstance(op, bytes) else op).split(".")[-1]
                clock.by_op.setdefault(op, []).append((time.perf_counter() - t0) * 1000)
                clock.local.ms = getattr(clock.local, "ms", 0.0) + (time.perf_counter() - t0) * 1000
                clock.local.calls = getattr(clock.local, "calls", 0) + 1
        Endpoint._send = timed
        return self

    def take(self) -> tuple[float, int]:
        ms, calls = getattr(self.local, "ms", 0.0), getattr(self.local, "calls", 0)
        self.local.ms, self.local.calls = 0.0, 0
        return ms, calls


def figures(samples_ms: list[float]) -> dict:
    ordered = sorted(samples_ms)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {"n": len(ordered), "p50_ms": round(statistics.median(ordered), 2), "p99_ms": round(pick(0.99), 2),
            "max_ms": round(ordered[-1], 2)}


def load(send, count: int, concurrency: int, budget_s: float = 120.0) -> dict:
    """Send `count` deliveries from `concurrency` threads; stop early if `budget_s` runs out."""
    lat, failed, lock = [], [0], threading.Lock()
    deadline = time.monotonic() + budget_s

    def one(i):
        if time.monotonic() > deadline:
            return
        t0 = time.perf_counter()
        ok = send(i)
        ms = (time.perf_counter() - t0) * 1000
        with lock:
            lat.append(ms)
            failed[0] += 0 if ok else 1

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(one, range(count)))
    wall = time.perf_counter() - t0
    return {**figures(lat), "failed": failed[0], "per_second": round(len(lat) / wall, 1), "concurrency": concurrency}
