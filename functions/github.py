"""GitHub deliveries -> one normalised `WebhookEvent` (adnanh/webhook's shape).

Only fields GitHub really sends are read, each defensively: a missing or
odd field makes the event inert ("nothing to deploy"), never a 500.
"""
from __future__ import annotations

import json
import urllib.parse
from dataclasses import dataclass, field
from enum import Enum

from . import refs
from .errors import InvalidInput

ZERO_SHA = "0" * 40
CONTENT_TYPES = ("application/json", "application/x-www-form-urlencoded")


class Action(str, Enum):
    """What an event asks of Tahobuddy."""

    BRANCH_PUSH = "branch_push"      # deploy rules with `branch:`
    TAG_CREATED = "tag_created"      # deploy rules with `tag:`
    TAG_MOVED = "tag_moved"          # a force-pushed tag: deploy its new commit
    DELETED = "deleted"              # a branch or tag went away: nothing to deploy
    PING = "ping"
    IGNORED = "ignored"


@dataclass(frozen=True)
class WebhookEvent:
    event_type: str
    action: Action
    reason: str = ""
    repository: str = ""                       # owner/name
    repo_urls: tuple[str, ...] = field(default=())
    ref_type: str = ""                          # "branch" | "tag"
    ref_name: str = ""
    sha: str = ""                               # "" when the event does not say (create)
    base_branch: str = ""                       # a tag pushed at a branch's head
    sender: str = ""

    @property
    def ref(self) -> str:
        if not self.ref_type:
            return ""
        return ("refs/heads/" if self.ref_type == "branch" else "refs/tags/") + self.ref_name

    @property
    def deployable(self) -> bool:
        return self.action in (Action.BRANCH_PUSH, Action.TAG_CREATED, Action.TAG_MOVED)


def decode_body(body: bytes, content_type: str) -> dict:
    """The JSON document GitHub sent, in either of its two content types."""
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


def _get(doc, *path, default=""):
    for key in path:
        if not isinstance(doc, dict) or key not in doc or doc[key] is None:
            return default
        doc = doc[key]
    return doc


def _repo_fields(doc: dict) -> dict:
    repo = doc.get("repository") if isinstance(doc.get("repository"), dict) else {}
    urls = tuple(
        str(repo[k]) for k in ("clone_url", "ssh_url", "html_url", "git_url", "url", "svn_url")
        if isinstance(repo.get(k), str) and repo.get(k)
    )
    return {
        "repository": str(repo.get("full_name") or ""),
        "repo_urls": urls,
        "sender": str(_get(doc, "sender", "login")),
    }


def _push(doc: dict) -> WebhookEvent:
    ref = _get(doc, "ref")
    common = _repo_fields(doc)
    kind, name = refs.split(ref if isinstance(ref, str) else "")
    if not kind:
        return WebhookEvent("push", Action.IGNORED, f"ref {refs.shown(str(ref))} is neither a branch nor a tag",
                            **common)
    if refs.name_problem(name):
        return WebhookEvent("push", Action.IGNORED, f"ref {refs.shown(ref)}: {refs.name_problem(name)}", **common)
    after = str(_get(doc, "after"))
    base = refs.split(str(_get(doc, "base_ref")))
    fields = dict(ref_type=kind, ref_name=name, base_branch=base[1] if base[0] == "branch" else "", **common)
    if _get(doc, "deleted", default=False) is True or after == ZERO_SHA:
        return WebhookEvent("push", Action.DELETED, f"{kind} {name} was deleted", **fields)
    if not refs.valid_sha(after):
        return WebhookEvent("push", Action.IGNORED, "push has no valid 'after' commit", **fields)
    if kind == "branch":
        return WebhookEvent("push", Action.BRANCH_PUSH, "", sha=after, **fields)
    created = _get(doc, "created", default=False) is True
    action = Action.TAG_CREATED if created else Action.TAG_MOVED
    return WebhookEvent("push", action, "", sha=after, **fields)


def _create_or_delete(event_type: str, doc: dict) -> WebhookEvent:
    common = _repo_fields(doc)
    ref_type, name = _get(doc, "ref_type"), _get(doc, "ref")
    if ref_type not in ("branch", "tag"):
        return WebhookEvent(event_type, Action.IGNORED, "no valid ref_type (branch or tag)", **common)
    if refs.name_problem(name):
        return WebhookEvent(event_type, Action.IGNORED, f"ref {refs.shown(str(name))}: {refs.name_problem(name)}",
                            **common)
    fields = dict(ref_type=ref_type, ref_name=name, **common)
    if event_type == "delete":
        return WebhookEvent(event_type, Action.DELETED, f"{ref_type} {name} was deleted", **fields)
    if ref_type == "branch":
        return WebhookEvent(event_type, Action.IGNORED, "a new branch deploys from its push event", **fields)
    return WebhookEvent(event_type, Action.TAG_CREATED, "", **fields)


def normalise(event_type: str, doc: dict) -> WebhookEvent:
    """Turn one GitHub delivery into a WebhookEvent; unknown types are inert."""
    if event_type == "ping":
        return WebhookEvent("ping", Action.PING, "ping: the webhook is set up", **_repo_fields(doc))
    if event_type == "push":
        return _push(doc)
    if event_type in ("create", "delete"):
        return _create_or_delete(event_type, doc)
    return WebhookEvent(event_type, Action.IGNORED, f"event type {event_type!r} is not acted on", **_repo_fields(doc))
