"""The runner contract (after Woodpecker's backend.Backend and Buildkite's ProcessExit).

Call order, made by the agent's dispatcher:

    runner.available()            -> can this machine run it at all (docker answers, tool installed)
    runner.prepare(spec, ctx)     -> set up (pull base, create network, check secrets); may raise
    runner.run(spec, ctx, log)    -> JobResult; a build that fails is a normal result, only a broken
                                     runner raises
    runner.cleanup(spec, ctx)     -> always, from `finally`: safe after a failed prepare, safe twice

A JobResult keeps "never ran" (exit_code -1, reason REFUSED/SETUP_ERROR) apart
from "ran and failed" (an exit code, reason NONE or TIMEOUT/CANCELED).
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Callable, Protocol, runtime_checkable

from contract.states import Reason  # noqa: F401 - the runners' reasons are the wire's

NEVER_RAN = -1


class Status(str, Enum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"
    SUPERSEDED = "superseded"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class JobResult:
    status: Status
    exit_code: int = 0
    reason: Reason = Reason.NONE
    detail: str = ""
    release: dict = field(default_factory=dict)   # what now serves (image, ref, sha, ...), for rollback
    backup: dict = field(default_factory=dict)    # a backup's record (runners/db_backup.py), or a restore's

    @classmethod
    def ok(cls, detail: str = "", release: dict | None = None, backup: dict | None = None) -> "JobResult":
        return cls(Status.SUCCEEDED, 0, Reason.NONE, detail, dict(release or {}), dict(backup or {}))

    @classmethod
    def failed(cls, detail: str, exit_code: int = 1, reason: Reason = Reason.NONE) -> "JobResult":
        return cls(Status.FAILED, exit_code, reason, detail)

    @classmethod
    def never_ran(cls, reason: Reason, detail: str) -> "JobResult":
        return cls(Status.FAILED, NEVER_RAN, reason, detail)

    @classmethod
    def canceled(cls, detail: str, exit_code: int = NEVER_RAN) -> "JobResult":
        return cls(Status.CANCELED, exit_code, Reason.CANCELED, detail)


@dataclass(frozen=True)
class JobSpec:
    """Everything a runner may know of a job, as the API handed it to the agent."""

    job_id: str
    app: str
    rule: str
    target: dict
    repository: str
    ref: str
    sha: str
    trigger: str = "webhook"
    attempt: int = 1
    app_spec: dict = field(default_factory=dict)
    releases: tuple = ()          # what this app rule served, oldest first, from the store (rollback)
    installation: str = ""        # the agent's installation id, stamped on what a job makes (labels)
    serving: str = ""             # the commit its target serves now, as the API knows it ("" unknown)
    preview_digests: tuple = ()   # repo@sha256:... the app's open previews serve (registry retention keeps them)

    @property
    def target_type(self) -> str:
        return self.target["type"]

    @property
    def ref_name(self) -> str:
        for prefix in ("refs/heads/", "refs/tags/"):
            if self.ref.startswith(prefix):
                return self.ref[len(prefix):]
        return self.ref

    @property
    def preview(self) -> int:
        """The pull request a preview or teardown job is for (0: not a preview); the API puts
        {number, hostname, seed} in its target (functions/domain/previews.py)."""
        return int((self.target.get("preview") or {}).get("number") or 0)

    @property
    def tag(self) -> str:
        return self.ref_name if self.ref.startswith("refs/tags/") else ""

    def env(self) -> dict[str, str]:
        """The TAHOBUDDY_* variables every runner hands to what it runs."""
        return {"TAHOBUDDY_APP": self.app, "TAHOBUDDY_REF": self.ref, "TAHOBUDDY_SHA": self.sha,
                "TAHOBUDDY_TAG": self.tag, "TAHOBUDDY_JOB": self.job_id}

    @classmethod
    def from_claim(cls, claim, installation: str = "") -> "JobSpec":
        """From the API's answer to a claim (a contract.wire.ClaimAnswer), run by the agent of `installation`."""
        job = claim.job
        return cls(job_id=job["id"], app=job["app"], rule=job["rule"], target=dict(job["target"]),
                   repository=job["repository"], ref=job["ref"], sha=job.get("sha") or "",
                   trigger=job.get("trigger") or "webhook", attempt=int(job.get("attempts") or 1),
                   app_spec=dict(claim.app or {}), releases=tuple(dict(r) for r in claim.releases or ()),
                   installation=installation, serving=str(getattr(claim, "serving", "") or ""),
                   preview_digests=tuple(str(d) for d in getattr(claim, "preview_digests", None) or ()))


class Cancel:
    """A cancellation with its reason; idempotent (the first reason wins)."""

    def __init__(self):
        self._event = threading.Event()
        self.reason = ""

    def request(self, reason: str) -> None:
        if not self._event.is_set():
            self.reason = reason or "canceled"
            self._event.set()

    @property
    def requested(self) -> bool:
        return self._event.is_set()

    def wait(self, seconds: float) -> bool:
        return self._event.wait(seconds)


Log = Callable[[str], None]


class Phases:
    """Wall-clock moments (epoch seconds) at which a job's steps began or ended: fetch_started, fetched,
    build_started, built, container_started, healthy, route_switched, old_retired; after a watch
    watch_passed, or watch_first_failed, watch_failed and rolled_back; cache_started and cache_pushed
    around a build's stage cache images (runners/image.py). The agent sends them
    with the finish call, so a user sees where a deploy's time went (`tahobuddy jobs ID`)."""

    def __init__(self):
        self.marks: dict[str, float] = {}

    def mark(self, name: str) -> None:
        self.marks[name] = round(time.time(), 3)


@dataclass
class RunContext:
    """What the agent lends a runner for one job."""

    workdir: Path                      # the agent's own state (images kept, routes, mirrors)
    worktree: Path | None              # the repository at the job's commit (None for a rollback)
    cancel: Cancel
    settings: Any                      # agent.config.AgentConfig
    secrets: Callable[[str], str]      # NAME -> value, from the agent's own secrets
    timeout: float = 1800.0
    scratch: dict = field(default_factory=dict)   # prepare() -> run() -> cleanup() hand-over
    phases: Phases = field(default_factory=Phases)


@runtime_checkable
class Runner(Protocol):
    name: str

    def available(self) -> bool: ...

    def prepare(self, spec: JobSpec, ctx: RunContext) -> None: ...

    def run(self, spec: JobSpec, ctx: RunContext, log: Log) -> JobResult: ...

    def cleanup(self, spec: JobSpec, ctx: RunContext) -> None: ...


class RunnerError(Exception):
    """A runner is broken (not the build): the root of every error a runner raises."""

    def __init__(self, message: str, cause: BaseException | None = None, reason: Reason = Reason.SETUP_ERROR):
        super().__init__(message)
        self.reason = reason
        if cause is not None:
            self.__cause__ = cause
