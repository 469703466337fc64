"""Run one argv (never a shell) with streamed output, a timeout and escalating cancellation:
SIGINT to the process group, a grace period, then SIGKILL (Buildkite's Cancel)."""
from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from .base import Cancel, Log

GRACE_SECONDS = 10.0


@dataclass(frozen=True)
class Exit:
    code: int
    timed_out: bool = False
    canceled: bool = False


def run(argv: list[str], *, cwd: Path | None, env: dict, log: Log, cancel: Cancel, timeout: float,
        grace: float = GRACE_SECONDS) -> Exit:
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    reader = threading.Thread(target=_pump, args=(proc, log), daemon=True)
    reader.start()
    deadline, why = time.monotonic() + timeout, None
    while proc.poll() is None:
        if cancel.wait(0.1):
            why = "canceled"
        elif time.monotonic() > deadline:
            why = "timeout"
        if why:
            log(f"tahobuddy: {why}: interrupting {argv[0]} (kill after {grace:.0f}s)")
            _stop(proc, grace)
            break
    proc.wait()
    reader.join(timeout=5)
    return Exit(proc.returncode, timed_out=why == "timeout", canceled=why == "canceled")


def _pump(proc: subprocess.Popen, log: Log) -> None:
    for raw in iter(proc.stdout.readline, b""):
        log(raw.decode("utf-8", errors="replace").rstrip("\n"))
    proc.stdout.close()


def _stop(proc: subprocess.Popen, grace: float) -> None:
    for sig, wait in ((signal.SIGINT, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue
