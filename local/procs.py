"""Start and stop the stack's daemons: free ports, readiness waits, stop by pid.

Every child asks the kernel to SIGTERM it when its parent dies
(PR_SET_PDEATHSIG), so a supervisor killed with SIGKILL leaves no daemon
holding its ports; each child still gets its own session, so Ctrl-C reaches
only the supervisor, which stops the children in order.
"""
from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import time

import requests


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 30.0, proc: subprocess.Popen | None = None) -> None:
    """Poll `url` until it answers (any status), at most `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode} before {url} answered")
        try:
            requests.get(url, timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f}s")


_LIBC = ctypes.CDLL(None, use_errno=True)   # loaded here: nothing may be loaded between fork and exec
_PR_SET_PDEATHSIG = 1


def _die_with(parent: int):
    def preexec():
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:   # the parent died before prctl: no signal will come
            os.kill(os.getpid(), signal.SIGKILL)
    return preexec


def start(argv: list[str], log_path: str, env: dict | None = None, cwd: str | None = None) -> subprocess.Popen:
    """A daemon in its own session, logging to `log_path`, that dies with this process."""
    with open(log_path, "ab") as log:
        return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=cwd,
                                start_new_session=True, preexec_fn=_die_with(os.getpid()))


def tail(log_path: str, lines: int = 20) -> str:
    """The last `lines` lines of a log, to say why a daemon died."""
    try:
        with open(log_path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 64 * 1024))
            text = fh.read().decode(errors="replace")
    except OSError as exc:
        return f"(no log: {exc})"
    return "\n".join(text.splitlines()[-lines:])


def stop(proc: subprocess.Popen, grace: float = 10.0) -> None:
    """SIGTERM the process group by the leader's pid, then SIGKILL after `grace` seconds."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=grace)
    except ProcessLookupError:
        pass


def _gone(pid: int) -> bool:
    """Exited: no such pid, or a zombie nobody has reaped yet (its ports are closed)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def stop_pid(pid: int, grace: float = 10.0, group: bool = False) -> None:
    """SIGTERM a process we did not spawn ourselves (or its whole group), then SIGKILL after `grace` seconds."""
    kill = os.killpg if group else os.kill
    try:
        kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if _gone(pid):
            return
        time.sleep(0.1)
    try:
        kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
