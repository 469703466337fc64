"""ansible: run a playbook from the repository with ansible-runner, streaming its events."""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from . import ansible_convert
from .base import JobResult, JobSpec, Log, Reason, RunContext, Status


def playbook_binary() -> str | None:
    """ansible-playbook beside this Python (the agent's venv), else on PATH."""
    beside = Path(sys.executable).parent / "ansible-playbook"
    return str(beside) if beside.is_file() else shutil.which("ansible-playbook")


class AnsibleRunner:
    name = "ansible"

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
        ctx.scratch["kwargs"] = ansible_convert.run_kwargs(spec, ctx.worktree, private, ctx.secrets)

    def run(self, spec: JobSpec, ctx: RunContext, log: Log) -> JobResult:
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

    def cleanup(self, spec: JobSpec, ctx: RunContext) -> None:
        """Removes the private data dir: ansible-runner writes the resolved extra vars there."""
        private = ctx.scratch.pop("private", None)
        if private is not None:
            shutil.rmtree(private, ignore_errors=True)
