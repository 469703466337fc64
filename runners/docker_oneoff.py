"""A one-off container of an app's image: the release command before a swap, `tahobuddy run`. It runs with
the app's environment, network and volumes, its output streams into the job log line by line, and it is
removed at the end, whether it exited, timed out or was canceled."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from docker.errors import APIError, NotFound

from .base import Cancel, Log

POLL = 0.2  # seconds between looks at the container's state (its output streams meanwhile)


@dataclass(frozen=True)
class Outcome:
    exit_code: int | None  # None: it never exited by itself (timed out or canceled)
    why: str               # "" when it exited 0; else what happened, in words

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


def _stream(container, prefix: str, log: Log) -> None:
    buffered = b""
    for chunk in container.logs(stream=True, follow=True):
        buffered += chunk
        *lines, buffered = buffered.split(b"\n")
        for line in lines:
            log(f"{prefix}{line.decode(errors='replace')}")
    if buffered:
        log(f"{prefix}{buffered.decode(errors='replace')}")


def _kill(container) -> None:
    try:
        container.kill()
    except APIError:
        pass  # it exited meanwhile


def run(client, kwargs: dict, prefix: str, log: Log, timeout: float, cancel: Cancel) -> Outcome:
    """Start a container from `kwargs` (docker-py's run arguments, detached), stream its output, wait for it
    to exit within `timeout` seconds or a cancel, and remove it."""
    container = client.containers.run(**{**kwargs, "detach": True})
    reader = threading.Thread(target=_stream, args=(container, prefix, log), daemon=True)
    reader.start()
    deadline, outcome = time.monotonic() + timeout, None
    try:
        while outcome is None:
            container.reload()
            if container.status in ("exited", "dead"):
                code = int(container.attrs["State"]["ExitCode"])
                outcome = Outcome(code, "" if code == 0 else f"exited {code}")
            elif cancel.requested:
                _kill(container)
                outcome = Outcome(None, f"canceled: {cancel.reason}")
            elif time.monotonic() > deadline:
                _kill(container)
                outcome = Outcome(None, f"timed out after {timeout:g}s")
            else:
                cancel.wait(POLL)
        reader.join(timeout=5)  # the stream ends when the container does; its last lines reach the log
        return outcome
    finally:
        try:
            container.remove(force=True)
        except NotFound:
            pass
