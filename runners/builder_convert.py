"""A builder container's settings from a JobSpec, as plain functions (Woodpecker's docker/convert.go).

`shell` and `ansible` targets with `image:` run their commands in containers; this module says
what those containers are (docker-py `containers.create` kwargs), and `runners/builder.py` only
talks to dockerd. The worktree is the only part of the host the container sees, at WORKSPACE.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from . import ansible_convert
from . import docker_convert
from .base import JobSpec
from .secretrefs import resolve

WORKSPACE = "/workspace"
EXTRA_VARS = "/run/tahobuddy/extra-vars.json"   # ansible's extra vars, mounted read-only
NETWORKS = ("bridge", "none", "app")
NANO = 1_000_000_000


def labels(spec: JobSpec) -> dict[str, str]:
    """The job's labels plus the role: cleanup finds a job's builder containers by these."""
    return {**docker_convert.labels(spec), "tahobuddy.role": "builder"}


def label_filter(spec: JobSpec) -> dict:
    return {"label": [f"tahobuddy.job={spec.job_id}", "tahobuddy.role=builder"]}


def environment(spec: JobSpec, lookup: Callable[[str], str]) -> dict[str, str]:
    """The target's env with `secret:NAME` values resolved (the lookup registers them for masking),
    then the TAHOBUDDY_* variables, which a target cannot override."""
    return {**resolve(dict(spec.target.get("env") or {}), lookup), **spec.env()}


def network_mode(spec: JobSpec) -> str:
    """`bridge` (default), `none`, or `app`: the app's own network, where its database answers."""
    choice = spec.target.get("network") or "bridge"
    return docker_convert.network(spec.app) if choice == "app" else choice


def limits(target: dict) -> dict:
    """CPU and memory limits. Swap is held to the memory limit, so passing it is an OOM kill, not a
    slow crawl through swap."""
    out: dict = {}
    if target.get("cpus") is not None:
        out["nano_cpus"] = int(round(float(target["cpus"]) * NANO))
    if target.get("memory"):
        out["mem_limit"] = out["memswap_limit"] = str(target["memory"])
    return out


def container_kwargs(spec: JobSpec, worktree: Path, argv: list[str], env: dict[str, str], *, index: int,
                     suffix: str, user: str, extra_volumes: dict | None = None) -> dict:
    """One command's container: the argv behind docker-init (so a stop's SIGTERM reaches it, and the
    grace period means something), in the worktree, with the limits and nothing else of the host."""
    volumes = {str(worktree): {"bind": WORKSPACE, "mode": "rw"}, **(extra_volumes or {})}
    return {"image": spec.target["image"], "command": list(argv), "working_dir": WORKSPACE,
            "name": f"tahobuddy-build-{spec.job_id}-{index}-{suffix}", "labels": labels(spec),
            "environment": dict(env), "volumes": volumes, "network_mode": network_mode(spec),
            "user": user, "init": True, "detach": True, "stdin_open": False, "tty": False,
            "security_opt": ["no-new-privileges"], **limits(spec.target)}


def oom_reason(target: dict) -> str:
    memory = target.get("memory")
    return f"killed: memory limit {memory} exceeded" if memory else "killed: out of memory"


def ansible_command(spec: JobSpec, worktree: Path, private_dir: Path,
                    lookup: Callable[[str], str]) -> tuple[list[str], dict]:
    """ansible-playbook's argv inside the container, and its extra vars (written to a file that is
    mounted at EXTRA_VARS, so resolved secrets never show in `docker inspect`). The same checks as
    the ansible-runner path: the playbook and inventory must be inside the repository."""
    kwargs = ansible_convert.run_kwargs(spec, worktree, private_dir, lookup)
    inventory = kwargs["inventory"]
    if not inventory.endswith(","):
        inventory = f"{WORKSPACE}/{Path(inventory).relative_to(worktree.resolve()).as_posix()}"
    argv = ["ansible-playbook", "-i", inventory, f"{WORKSPACE}/{kwargs['playbook']}", "-e", f"@{EXTRA_VARS}"]
    return argv, kwargs["extravars"]
