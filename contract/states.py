"""Job states and the reasons a job ended the way it did (kept as codes across the wire)."""
from __future__ import annotations

from enum import Enum


class JobState(str, Enum):
    AWAITING_APPROVAL = "awaiting_approval"  # its rule's `approval`: no message is sent until a person approves
    FROZEN = "frozen"                        # due inside a `freeze` window: its message is sent when it ends
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"
    SUPERSEDED = "superseded"
    SKIPPED = "skipped"          # its rule's paths: no watched path changed since what the target serves; never a failure


# The states a job ends in: none leads anywhere (functions/store/jobs.py's table), an agent may end a
# job in any of them, and a user reads each as "ended" (the CLI stops following, the tests stop waiting).
ENDED = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELED, JobState.SUPERSEDED,
                   JobState.SKIPPED})
ENDED_VALUES = frozenset(s.value for s in ENDED)   # the same, as the strings a job row and the API carry
SKIPPED_STATUS = "skipped: no watched path changed"   # what a forge's commit status says of a skipped job
AWAITING_STATUS = "awaiting approval"                  # and of a job waiting for a person (state `pending`)


class Reason(str, Enum):
    """Why a job ended as it did. "Never ran" (REFUSED, SETUP_ERROR, DEAD_LETTERED, NOT_PICKED_UP) is
    kept apart from "ran and failed" (NONE with an exit code, TIMEOUT, UNHEALTHY,
    RELEASE_FAILED, ROLLED_BACK_AFTER_WATCH), so a commit status
    can say `error` for the first and `failure` for the second (Buildkite's SignalReason)."""

    NONE = ""
    REFUSED = "refused"              # this agent or runner will not run the spec (target type, secret, block)
    SETUP_ERROR = "setup_error"      # it could not start: fetch, build context, prepare
    CANCELED = "canceled"
    TIMEOUT = "timeout"
    SUPERSEDED = "superseded"
    UNHEALTHY = "unhealthy"          # started, but never passed its health check
    DEAD_LETTERED = "dead_lettered"  # SQS gave up on its message after too many receives
    NOT_PICKED_UP = "not_picked_up"  # queued past the bound with no agent taking it
    GAVE_UP = "gave_up"              # attempts used up (its agents were lost or stopped each time)
    ENGINE_LOST = "engine_lost"      # the Docker Engine went away under the job (dockerd restarted or stopped)
    RELEASE_FAILED = "release_failed"  # the release command exited non-zero or timed out: nothing was swapped
    ROLLED_BACK_AFTER_WATCH = "rolled_back_after_watch"  # swapped in, failed the watch, previous version back

    @property
    def never_ran(self) -> bool:
        return self in (Reason.REFUSED, Reason.SETUP_ERROR, Reason.DEAD_LETTERED, Reason.NOT_PICKED_UP,
                        Reason.GAVE_UP, Reason.ENGINE_LOST)

    @classmethod
    def parse(cls, value) -> "Reason":
        try:
            return cls(value or "")
        except ValueError as exc:
            raise ValueError(f"unknown reason code {value!r} (one of {', '.join(r.value for r in cls if r.value)})") \
                from exc
