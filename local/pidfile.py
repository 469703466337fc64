"""The stack's pid file: what it started, so the next start can stop what a killed stack left.

Children already die with the supervisor (`procs.start` asks the kernel for
PR_SET_PDEATHSIG), but a child that ignores or outlives that signal, or a
daemon a helper started (dockerd), would keep its port. The file records
each child's pid and command line; a pid is only stopped when /proc still
shows the same command line, so a reused pid is never killed.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from . import procs
from .ports import cmdline

NAME = "stack.pids.json"


class StackRunning(RuntimeError):
    pass


def _path(home: Path) -> Path:
    return home / NAME


def _alive_as(entry: dict) -> bool:
    return bool(entry.get("cmdline")) and cmdline(int(entry.get("pid", 0))) == entry["cmdline"]


def write(home: Path, children: list[tuple[str, int, bool]]) -> None:
    """Record this supervisor and its (name, pid, own process group) children, atomically."""
    doc = {"supervisor": {"pid": os.getpid(), "cmdline": cmdline(os.getpid())},
           "children": [{"name": n, "pid": p, "group": g, "cmdline": cmdline(p)} for n, p, g in children]}
    tmp = _path(home).with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=2))
    tmp.replace(_path(home))


def remove(home: Path) -> None:
    _path(home).unlink(missing_ok=True)


def reap_stale(home: Path) -> list[str]:
    """Stop children a dead supervisor left; refuse when that supervisor still runs. Returns what was done."""
    try:
        doc = json.loads(_path(home).read_text())
    except FileNotFoundError:
        return []
    except ValueError:
        remove(home)
        return [f"ignored an unreadable {NAME}"]
    sup = doc.get("supervisor") or {}
    if _alive_as(sup) and sup.get("pid") != os.getpid():
        raise StackRunning(f"a stack already runs from {home} (pid {sup['pid']}); stop it first "
                           f"(Ctrl-C in its terminal, or kill {sup['pid']})")
    done = []
    for entry in doc.get("children") or []:
        name, pid = entry.get("name", "?"), int(entry.get("pid", 0))
        if not _alive_as(entry):
            continue  # gone, or the pid now belongs to another program: leave it alone
        procs.stop_pid(pid, group=bool(entry.get("group")))
        done.append(f"stopped stale {name} (pid {pid}) left by a stack that did not stop cleanly")
    remove(home)
    return done
