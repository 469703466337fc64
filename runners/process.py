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
POLL_SECONDS = 0.1


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
    # Wake when the output closes (the process is ending), not on the next tick of a poll: a build
    # of 0.12 s would otherwise be seen as 0.2 s. The tick (0.1 s) bounds how late a cancel or the
    # timeout is noticed; once the output is closed, waitpid's own short polls take over.
    while proc.poll() is None:
        if reader.is_alive():
            reader.join(POLL_SECONDS)
        else:
            try:
                proc.wait(POLL_SECONDS)
                break
            except subprocess.TimeoutExpired:
                pass
        if proc.poll() is not None:
            break
        if cancel.requested:
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
