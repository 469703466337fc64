"""ansible: run a playbook from the repository with ansible-runner, streaming its events.

With `image:` the playbook runs as `ansible-playbook` inside a builder container of that image
(runners/builder.py) instead, so the image must contain ansible-playbook on its PATH (and Python,
and /bin/sh for the `command` module). Its extra vars, secrets resolved, reach it as a file
mounted read-only, never on its command line.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path

from . import ansible_convert, builder_convert
from .base import JobResult, JobSpec, Log, Reason, RunContext, Status
from .builder import Builder

TASK = re.compile(r"^TASK \[(.*)\]")


def playbook_binary() -> str | None:
    """ansible-playbook beside this Python (the agent's venv), else on PATH."""
    beside = Path(sys.executable).parent / "ansible-playbook"
    return str(beside) if beside.is_file() else shutil.which("ansible-playbook")


class AnsibleRunner:
    name = "ansible"

    def __init__(self):
        self.builder = Builder()

    def available(self) -> bool:
        try:
            import ansible_runner  # noqa: F401
        except ImportError:
            return False
        return playbook_binary() is not None

    def prepare(self, spec: JobSpec, ctx: RunContext) -> None:
        private = ctx.workdir / "ansible" / spec.job_id
        private.mkdir(parents=True, exist_ok=True)
        ctx.scratch["private"] = private
        if spec.target.get("image"):
            self.builder.prepare(spec, ctx)
            argv, extravars = builder_convert.ansible_command(spec, ctx.worktree, private, ctx.secrets)
            extra = private / "extra-vars.json"
            extra.write_text(json.dumps(extravars))
            extra.chmod(0o600)
            ctx.scratch["argv"], ctx.scratch["volumes"] = argv, {
                str(extra): {"bind": builder_convert.EXTRA_VARS, "mode": "ro"}}
            return
        ctx.scratch["kwargs"] = ansible_convert.run_kwargs(spec, ctx.worktree, private, ctx.secrets)

    def run(self, spec: JobSpec, ctx: RunContext, log: Log) -> JobResult:
        if spec.target.get("image"):
            return self._run_in_container(spec, ctx, log)
        import ansible_runner
        failed: list[str] = []

        def on_event(event: dict) -> bool:
            for line in (event.get("stdout") or "").splitlines():
                log(line)
            if event.get("event") in ("runner_on_failed", "runner_on_unreachable") and \
                    not event.get("event_data", {}).get("ignore_errors"):
                failed.append(event.get("event_data", {}).get("task", "?"))
            return True

        path = f"{Path(playbook_binary()).parent}:{os.environ.get('PATH', '')}"  # the agent's own ansible
        r = ansible_runner.run(**ctx.scratch["kwargs"], envvars={"PATH": path, "ANSIBLE_NOCOLOR": "1"},
                               event_handler=on_event,
                               cancel_callback=lambda: ctx.cancel.requested)
        if r.status == "successful":
            return JobResult.ok(f"playbook {spec.target['playbook']} succeeded")
        if r.status == "canceled":
            return JobResult(Status.CANCELED, r.rc or -1, Reason.CANCELED, f"playbook canceled: {ctx.cancel.reason}")
        if r.status == "timeout":
            return JobResult.failed(f"playbook timed out after {spec.target.get('timeout', 1800)}s", r.rc or 1,
                                    Reason.TIMEOUT)
        task = f"task {failed[0]!r} failed" if failed else f"ansible-playbook exited with {r.rc}"
        return JobResult.failed(f"{task} in {spec.target['playbook']}", r.rc or 1)

    def _run_in_container(self, spec: JobSpec, ctx: RunContext, log: Log) -> JobResult:
        """ansible-playbook in a builder container; a failed task is named from its output."""
        seen = {"task": "", "failed": ""}

        def on_line(line: str) -> None:
            m = TASK.match(line)
            if m:
                seen["task"] = m.group(1)
            elif line.startswith(("fatal:", "failed:")) and not seen["failed"]:
                seen["failed"] = seen["task"]

        env = {**spec.env(), "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0", "PYTHONUNBUFFERED": "1"}
        result = self.builder.run(spec, ctx, log, [ctx.scratch["argv"]], env, ctx.scratch["volumes"], on_line)
        if result.status == Status.SUCCEEDED:
            return JobResult.ok(f"playbook {spec.target['playbook']} succeeded in {spec.target['image']}")
        if result.exit_code in (2, 4) and seen["failed"]:  # ansible-playbook: a host failed or was unreachable
            return JobResult.failed(f"task {seen['failed']!r} failed in {spec.target['playbook']}", result.exit_code)
        return result

    def cleanup(self, spec: JobSpec, ctx: RunContext) -> None:
        """Removes the private data dir (the resolved extra vars are there) and any builder container;
        safe after a failed prepare and twice."""
        if spec.target.get("image"):
            self.builder.cleanup(spec, ctx)
        private = ctx.scratch.pop("private", None)
        if private is not None:
            shutil.rmtree(private, ignore_errors=True)
