"""What every forge provides (Woodpecker's `server/forge/forge.go`), and the one event shape they share.

A provider turns one HTTP delivery into a `WebhookEvent` (verify, delivery_id,
event_type, normalise) and shapes the forge's commit-status request (`report`): the status word
comes from the one state table (functions/domain/statuses.py). All five are pure: the intake
stores and matches, the outbox's sender (functions/notify/sender.py) sends what `report` built
through a thin client (`client.send`, GitHub's own client for GitHub).
"""
from __future__ import annotations

import json
import urllib.parse
from dataclasses import dataclass
from typing import Mapping, Protocol

from contract.states import JobState, Reason

from functions.domain import refs, statuses
from functions.domain.events import WebhookEvent
from functions.errors import InvalidInput

ZERO_SHA = "0" * 40
CONTENT_TYPES = ("application/json", "application/x-www-form-urlencoded")
MAX_DELIVERY_ID = 100


@dataclass(frozen=True)
class StatusRequest:
    """One commit-status call, relative to the forge's API base (GitLab `/api/v4`, Gitea `/api/v1`)."""

    method: str
    path: str
    body: dict


@dataclass(frozen=True)
class JobStatus:
    """What a commit status says about one job: the parts of a job a forge shows."""

    state: JobState | str
    reason_code: Reason | str = Reason.NONE
    context: str = "tahobuddy"
    target_url: str = ""
    description: str = ""

    def word(self, forge: str) -> str:
        """This forge's status word, from the one state table."""
        return statuses.word(forge, getattr(self.state, "value", self.state),
                             getattr(self.reason_code, "value", self.reason_code))


class Provider(Protocol):
    """One forge. Call order per delivery: verify -> event_type -> delivery_id -> normalise.

    `verify` raises BadSignature and never puts the expected secret or digest in its
    message; `event_type`/`delivery_id` raise InvalidInput naming the missing header;
    `normalise` never raises on a strange payload (a missing field makes the event inert).
    `headers` is a mapping with lower-case keys.
    """

    name: str
    secret_env: str                 # the per-provider override of TAHOBUDDY_WEBHOOK_SECRET

    def verify(self, headers: Mapping[str, str], body: bytes, secret: str) -> None: ...

    def event_type(self, headers: Mapping[str, str]) -> str: ...

    def delivery_id(self, headers: Mapping[str, str]) -> str: ...

    def normalise(self, event_type: str, payload: dict) -> WebhookEvent: ...

    def report(self, repository: str, sha: str, status: JobStatus) -> StatusRequest: ...


def required_header(headers: Mapping[str, str], name: str, hint: str) -> str:
    """A header's value, or InvalidInput saying which header and what to set (at most MAX_DELIVERY_ID)."""
    value = (headers.get(name.lower()) or "").strip()
    if not value or len(value) > MAX_DELIVERY_ID:
        raise InvalidInput(name, f"header is required (at most {MAX_DELIVERY_ID} characters); {hint}")
    return value


def decode_body(body: bytes, content_type: str) -> dict:
    """The JSON document a forge sent, as JSON or as a form's `payload` field (GitHub, Gitea)."""
    media = (content_type or "").split(";")[0].strip().lower()
    if media not in CONTENT_TYPES:
        raise InvalidInput("Content-Type", f"{media or 'none'} is not accepted; use application/json")
    try:
        text = body.decode("utf-8") if body else ""
    except UnicodeDecodeError as exc:
        raise InvalidInput("body", "is not UTF-8 text") from exc
    if media == "application/x-www-form-urlencoded":
        form = urllib.parse.parse_qs(text)
        if "payload" not in form:
            raise InvalidInput("body", "form-encoded delivery has no 'payload' field")
        text = form["payload"][0]
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise InvalidInput("body", f"not valid JSON ({exc})") from exc
    if not isinstance(doc, dict):
        raise InvalidInput("body", "the JSON payload must be an object")
    return doc


def get(doc, *path, default=""):
    """doc[path[0]][path[1]]...; `default` when any step is missing, None or not a mapping."""
    for key in path:
        if not isinstance(doc, dict) or key not in doc or doc[key] is None:
            return default
        doc = doc[key]
    return doc


def url_fields(doc, keys: tuple[str, ...]) -> tuple[str, ...]:
    """The non-empty string URLs among `keys` of a repository/project object, in that order."""
    if not isinstance(doc, dict):
        return ()
    return tuple(str(doc[k]) for k in keys if isinstance(doc.get(k), str) and doc.get(k))


def repo_host_and_path(repository: str) -> tuple[str, str]:
    """'https://gitlab.example.com/group/sub/name.git' -> ('gitlab.example.com', 'group/sub/name')."""
    key = refs.repo_key(repository)
    host, _, path = key.partition("/")
    if not host or path.count("/") < 1:
        raise InvalidInput("repository", f"{repository!r} names no host/owner/name to report a commit status to")
    return host, path


def repo_path(repository: str) -> str:
    return repo_host_and_path(repository)[1]


def short_description(text: str, limit: int = statuses.DESCRIPTION_LIMIT) -> str:
    """Forges cut or refuse long descriptions (GitHub: 140 characters); cut it here, visibly."""
    return statuses.short(" ".join((text or "").split()), limit)


# ---- registry (Woodpecker's forge setup): the only place that knows the provider modules ----
PROVIDERS = {
    "github": "github",
    "gitlab": "gitlab",
    "gitea": "gitea:GITEA",
    "forgejo": "gitea:FORGEJO",
}


def names() -> list[str]:
    return sorted(PROVIDERS)


def find(name: str) -> Provider:
    """The provider behind `POST /api/v1/hooks/<name>`; KeyError names the known ones."""
    import importlib
    if name not in PROVIDERS:
        raise KeyError(f"no provider {name!r} (known: {', '.join(names())})")
    module, _, attr = PROVIDERS[name].partition(":")
    found = importlib.import_module(f"{__package__}.{module}")
    return getattr(found, attr) if attr else found
