"""The agent API's typed calls (Woodpecker's rpc.Peer: Next, Init, Extend, Update, Log, Done).

    POST /api/v1/agents/register         AgentHello      -> AgentSession   (agent token)
    POST /api/v1/agents/heartbeat        AgentBeat       -> AgentBeatAnswer (session)
    POST /api/v1/agent/jobs/ID/claim     -               -> ClaimAnswer     (session)
    POST /api/v1/agent/jobs/ID/wait      -               -> WaitAnswer      (session; quiet period)
    POST /api/v1/agent/jobs/ID/heartbeat -               -> JobBeatAnswer   (session)
    POST /api/v1/agent/jobs/ID/logs      LogBatch        -> {"last_seq"}    (session)
    POST /api/v1/agent/jobs/ID/finish    Finish          -> the job         (session)
    POST /api/v1/agent/jobs/ID/release   Handback        -> the job         (session)
    GET  /api/v1/agent/previews          -               -> PreviewList     (session; the reconciler)
    POST /api/v1/agent/apps/NAME/output  AppOutput       -> {"last_seq"}    (session; its pool's apps only)

The agent id is never a header the caller picks: registering with an agent token returns a
session token bound to the agent id, and every job call is made with it.
`from_dict` checks types and ignores unknown keys, so either side may grow a field first.
Each type names its free-text fields in `TEXT` (a reason, a detail, log lines, phase names): the
agent sends every message through `masked(mask)`, so no secret value it resolved leaves it in them.
Identifiers (a sha, an image id, a ref) are not free text and go as they are.
"""
from __future__ import annotations

import dataclasses
import re
import typing
from dataclasses import dataclass, field

from .states import JobState, Reason

SECRET_REF = re.compile(r"^secret:([A-Za-z_][A-Za-z0-9_]*)$")  # the API checks it; the agent resolves NAME
BUILD_SECRET_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")  # `RUN --mount=type=secret,id=ID`; the API checks, the runner too
AGENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$")


class WireError(ValueError):
    """A message that does not fit its type; `field` names the part that is wrong."""

    def __init__(self, field_name: str, message: str):
        super().__init__(f"{field_name}: {message}")
        self.field = field_name


_KINDS = {str: "a string", int: "a whole number", float: "a number", bool: "true or false", list: "a list",
          dict: "an object"}


def _masked(value, mask: typing.Callable[[str], str]):
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, list):
        return [_masked(v, mask) for v in value]
    if isinstance(value, dict):
        return {_masked(k, mask): _masked(v, mask) for k, v in value.items()}
    return value


class Wire:
    TEXT: typing.ClassVar[tuple[str, ...]] = ()  # the fields that carry free text, which `masked` passes through mask

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def masked(self, mask: typing.Callable[[str], str]) -> "Wire":
        """The same message with every string in its TEXT fields (in lists and maps, keys too) put through `mask`."""
        return dataclasses.replace(self, **{name: _masked(getattr(self, name), mask) for name in self.TEXT})

    @classmethod
    def from_dict(cls, doc) -> "Wire":
        if not isinstance(doc, dict):
            raise WireError("body", "send a JSON object")
        hints, values = typing.get_type_hints(cls), {}
        for f in dataclasses.fields(cls):
            if f.name not in doc or doc[f.name] is None:
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                    raise WireError(f.name, "is required")
                continue
            want = typing.get_origin(hints[f.name]) or hints[f.name]
            if want is typing.Union:  # Optional[X]
                want = next(a for a in typing.get_args(hints[f.name]) if a is not type(None))
            want = typing.get_origin(want) or want
            value = doc[f.name]
            if want is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)  # JSON has one number type
            if not isinstance(value, want) or (want in (int, float) and isinstance(value, bool)):
                raise WireError(f.name, f"must be {_KINDS.get(want, want.__name__)}")
            values[f.name] = value
        return cls(**values)


@dataclass(frozen=True)
class AgentHello(Wire):
    agent_id: str
    pool: str
    targets: list
    version: str = ""
    host: str = ""
    concurrency: int = 1


@dataclass(frozen=True)
class AgentSession(Wire):
    agent_id: str
    session: str                 # the bearer token for every later call of this agent
    heartbeat_seconds: int       # beat this often; 3 missed beats and the agent shows as lost
    lease_seconds: int


@dataclass(frozen=True)
class AgentBeat(Wire):
    state: str = "idle"          # idle | busy | stopping
    jobs: list = field(default_factory=list)


@dataclass(frozen=True)
class AgentBeatAnswer(Wire):
    ok: bool = True


@dataclass(frozen=True)
class ClaimAnswer(Wire):  # noqa: E302
    """`run: false` means: delete the message, the job is not (or no longer) this agent's to run."""

    run: bool
    state: str
    reason: str = ""
    job: dict = field(default_factory=dict)
    app: dict = field(default_factory=dict)
    lease_seconds: int = 0
    releases: list = field(default_factory=list)   # images this app+rule served, newest last (rollback)
    wait_until: float = 0.0    # > 0: still in its quiet period; hold the message and ask `wait` again
    serving: str = ""          # the commit its target serves now ("" unknown): the base of the rule's `paths`
    preview_digests: list = field(default_factory=list)  # repo@sha256:... the app's open previews serve: the
    #                                                      registry's pruning (keep_images) never deletes them


@dataclass(frozen=True)
class WaitAnswer(Wire):
    """For a held message: keep holding (`wait_until` in the future), claim now (`wait_until` passed),
    or drop it (`state` ended: superseded by a newer job of its group, or canceled)."""

    state: str
    reason: str = ""
    wait_until: float = 0.0


@dataclass(frozen=True)
class JobBeatAnswer(Wire):
    cancel: bool
    cancel_reason: str = ""
    lease_seconds: int = 0


@dataclass(frozen=True)
class LogBatch(Wire):
    TEXT = ("lines",)
    first_seq: int
    lines: list


@dataclass(frozen=True)
class AppOutput(Wire):
    """What the serving container of an app (or of one of its previews) printed: agent/output.py follows it
    and sends a batch every half second. `at` holds when Docker saw each line (epoch seconds)."""

    TEXT = ("lines",)
    lines: list
    at: list = field(default_factory=list)
    preview: int = 0


@dataclass(frozen=True)
class Finish(Wire):
    TEXT = ("reason", "detail", "phases", "backup")  # a backup's verdict may quote a tool's error
    state: str
    reason_code: str = ""
    reason: str = ""
    exit_code: typing.Optional[int] = None
    detail: str = ""
    sha: str = ""
    release: dict = field(default_factory=dict)     # what now serves: image, ref, sha, digest (a registry's
    #                                                 <registry>/<app>@sha256:..., when pushed or pulled)
    phases: dict = field(default_factory=dict)      # phase name -> epoch seconds
    backup: dict = field(default_factory=dict)      # a backup job's record, a restore job's figures

    def checked(self) -> "Finish":
        try:
            JobState(self.state)
        except ValueError as exc:
            raise WireError("state", "must be succeeded, failed, canceled, superseded or skipped") from exc
        try:
            Reason.parse(self.reason_code)
        except ValueError as exc:
            raise WireError("reason_code", str(exc)) from exc
        return self


@dataclass(frozen=True)
class Handback(Wire):
    TEXT = ("reason",)
    reason: str = ""


@dataclass(frozen=True)
class PreviewList(Wire):
    """The pull-request previews the store keeps ({app, number, state}); the agent's reconciler removes
    every other preview container, route, image and volume it finds."""

    previews: list = field(default_factory=list)
