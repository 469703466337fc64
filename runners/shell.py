"""shell: the rule's commands, as argv lists, in the worktree at the job's commit.

With `image:` they run in builder containers instead (runners/builder.py); without it, on the
agent's host as the agent's user.
"""
from __future__ import annotations

import os
import shutil
import time

from . import process
from .base import JobResult, JobSpec, Log, Reason, RunContext, Status
from .builder import Builder
from .builder_convert import environment


class ShellRunner:
    name = "shell"

    def __init__(self):
        self.builder = Builder()

    def available(self) -> bool:
        return True

    def prepare(self, spec: JobSpec, ctx: RunContext) -> None:
        if spec.target.get("image") and ctx.worktree is not None:
            self.builder.prepare(spec, ctx)

    def run(self, spec: JobSpec, ctx: RunContext, log: Log) -> JobResult:
        if ctx.worktree is None:
            return JobResult.never_ran(Reason.REFUSED, "shell targets need the source; nothing to roll back to")
        if spec.target.get("image"):
            return self.builder.run(spec, ctx, log, spec.target["commands"], environment(spec, ctx.secrets))
        env = {**os.environ, **spec.target.get("env", {}), **spec.env()}
        deadline = time.monotonic() + ctx.timeout
        for i, argv in enumerate(spec.target["commands"], 1):
            if shutil.which(argv[0], path=env.get("PATH")) is None and not (ctx.worktree / argv[0]).exists():
                return JobResult.failed(f"command {i}: {argv[0]!r} not found", 127)
            log(f"$ {' '.join(argv)}")
            exit_ = process.run(argv, cwd=ctx.worktree, env=env, log=log, cancel=ctx.cancel,
                                timeout=max(0.0, deadline - time.monotonic()))
            if exit_.canceled:
                return JobResult(Status.CANCELED, exit_.code, Reason.CANCELED, f"command {i} canceled: "
                                 f"{ctx.cancel.reason}")
            if exit_.timed_out:
                return JobResult.failed(f"command {i} timed out after {ctx.timeout:.0f}s", exit_.code,
                                        Reason.TIMEOUT)
            if exit_.code != 0:
                return JobResult.failed(f"command {i} ({argv[0]}) exited with {exit_.code}", exit_.code)
        return JobResult.ok(f"{len(spec.target['commands'])} command(s) succeeded")

    def cleanup(self, spec: JobSpec, ctx: RunContext) -> None:
        """Removes the job's builder containers, if it had any (safe after a failed prepare, and twice)."""
        if spec.target.get("image"):
            self.builder.cleanup(spec, ctx)
