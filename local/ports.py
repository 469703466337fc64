"""Check every port the stack needs before starting anything, and name who holds a taken one.

A daemon that finds its port taken dies with the cause buried in its own log
(moto: "exited with 1"), or worse, the stack talks to a stale process on that
port. So the supervisor tries each port first and says which process has it
(read from /proc/net/tcp and /proc/*/fd, as `ss -ltnp` does) and which
variable moves it.
"""
from __future__ import annotations

import errno
import socket
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
_LISTEN = "0A"


@dataclass(frozen=True)
class Need:
    port: int
    what: str          # "AWS emulator", "API", ...
    variable: str      # the environment variable that moves it


class PortTaken(RuntimeError):
    pass


def is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a closed socket in TIME_WAIT is no owner
        try:
            s.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return False
            raise
    return True


def _listening_inodes(port: int) -> set[str]:
    inodes = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = (PROC / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if len(cols) > 9 and cols[3] == _LISTEN and int(cols[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(cols[9])
    return inodes


def cmdline(pid: int) -> list[str]:
    """A process's argv from /proc ([] when it is gone or unreadable)."""
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def owner(port: int) -> str:
    """'pid 123 (python -m moto.server ...)' for whoever listens on `port`, or '' when /proc does not say."""
    wanted = {f"socket:[{inode}]" for inode in _listening_inodes(port)}
    if not wanted:
        return ""
    for proc_dir in PROC.iterdir():
        if not proc_dir.name.isdigit():
            continue
        try:
            fds = list((proc_dir / "fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                if str(fd.readlink()) in wanted:
                    pid = int(proc_dir.name)
                    return f"pid {pid} ({' '.join(cmdline(pid))[:120] or '?'})"
            except OSError:
                continue
    return ""


def check(needs: list[Need]) -> None:
    """Raise PortTaken naming every taken port, its owner and the variable that moves it."""
    problems = []
    for need in needs:
        if not is_free(need.port):
            who = owner(need.port)
            problems.append(f"port {need.port} ({need.what}) is taken"
                            f"{' by ' + who if who else ''}; stop it or set {need.variable} to another port")
    if problems:
        raise PortTaken("; ".join(problems))
