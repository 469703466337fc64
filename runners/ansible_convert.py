"""JobSpec -> ansible-runner arguments, as a plain function."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from .base import JobSpec, Reason, RunnerError
from .secretrefs import resolve


def inside(root: Path, relative: str, field: str) -> Path:
    """`root/relative`, refusing anything that leaves the worktree (../, absolute paths, links out)."""
    path = (root / relative).resolve()
    if not path.is_relative_to(root.resolve()):
        raise RunnerError(f"target.{field} {relative!r} points outside the repository", reason=Reason.REFUSED)
    return path


def run_kwargs(spec: JobSpec, worktree: Path, private_dir: Path, lookup: Callable[[str], str]) -> dict:
    target = spec.target
    playbook = inside(worktree, target["playbook"], "playbook")
    if not playbook.is_file():
        raise RunnerError(f"playbook {target['playbook']} is not in the repository at {spec.sha[:12]}",
                          reason=Reason.REFUSED)
    inventory = target.get("inventory", "localhost,")
    if not inventory.endswith(","):  # a host list stays a host list; anything else is a path in the repo
        inventory = str(inside(worktree, inventory, "inventory"))
    extravars = {**resolve(dict(target.get("extra_vars") or {}), lookup),
                 "tahobuddy_app": spec.app, "tahobuddy_ref": spec.ref, "tahobuddy_sha": spec.sha,
                 "tahobuddy_tag": spec.tag, "tahobuddy_job": spec.job_id}
    return {"private_data_dir": str(private_dir), "project_dir": str(worktree),
            "playbook": str(playbook.relative_to(worktree.resolve())), "inventory": inventory,
            "extravars": extravars, "quiet": True, "timeout": int(target.get("timeout", 1800))}
