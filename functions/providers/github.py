"""GitHub deliveries -> one normalised `WebhookEvent`; a job -> a GitHub commit status.

Only fields GitHub really sends are read, each defensively: a missing or
odd field makes the event inert ("nothing to deploy"), never a 500.
Signatures are HMAC-SHA256 over the raw body (`X-Hub-Signature-256: sha256=<hex>`),
compared in constant time; no error names the expected digest or the secret.
"""
from __future__ import annotations

import hashlib
import hmac
from typing import Mapping

from functions.domain import refs
from functions.providers import shapes
from functions.errors import BadSignature, InvalidInput
from functions.domain.events import Action, WebhookEvent
from functions.providers.base import (MAX_DELIVERY_ID, JobStatus, StatusRequest, get, repo_path, required_header,
                                      short_description, url_fields)

name = "github"
secret_env = "TAHOBUDDY_WEBHOOK_SECRET"
PREFIX = "sha256="
REPO_URLS = ("clone_url", "ssh_url", "html_url", "git_url", "url", "svn_url")


def sign(secret: str, body: bytes) -> str:
    """The `X-Hub-Signature-256` value GitHub would send for `body`."""
    return PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(secret: str, body: bytes, header: str | None) -> None:
    """Raise BadSignature unless `header` is GitHub's signature of `body` under `secret`."""
    if not secret:
        raise BadSignature("the server has no webhook secret configured (set TAHOBUDDY_WEBHOOK_SECRET)")
    if not header:
        raise BadSignature("missing X-Hub-Signature-256 header: set a secret on the GitHub webhook")
    if not header.startswith(PREFIX):
        raise BadSignature("X-Hub-Signature-256 must start with 'sha256='")
    if not hmac.compare_digest(sign(secret, body).encode(), header.strip().encode()):
        raise BadSignature("X-Hub-Signature-256 does not match the body: check the webhook secret")


def verify(headers: Mapping[str, str], body: bytes, secret: str) -> None:
    verify_signature(secret, body, headers.get("x-hub-signature-256"))


def event_type(headers: Mapping[str, str]) -> str:
    return required_header(headers, "X-GitHub-Event", "GitHub sends it with every delivery")


def delivery_id(headers: Mapping[str, str]) -> str:
    """`<hook id>:<delivery>`: one delivery sent to two hooks is two events (their jobs are still one)."""
    delivery = required_header(headers, "X-GitHub-Delivery", "GitHub sends it with every delivery")
    hook = (headers.get("x-github-hook-id") or "").strip()
    if len(hook) > MAX_DELIVERY_ID:
        raise InvalidInput("X-GitHub-Hook-ID", f"at most {MAX_DELIVERY_ID} characters")
    return f"{hook or 'nohook'}:{delivery}"


def _repo_fields(doc: dict) -> dict:
    repo = doc.get("repository") if isinstance(doc.get("repository"), dict) else {}
    return {"repository": str(repo.get("full_name") or ""), "repo_urls": url_fields(repo, REPO_URLS),
            "sender": str(get(doc, "sender", "login"))}


def _push(doc: dict) -> WebhookEvent:
    common = _repo_fields(doc)
    split = shapes.split_ref("push", get(doc, "ref"), common)
    if isinstance(split, WebhookEvent):
        return split
    base = refs.split(str(get(doc, "base_ref")))
    fields = dict(ref_type=split[0], ref_name=split[1], base_branch=base[1] if base[0] == "branch" else "", **common)
    return shapes.pushed(fields, str(get(doc, "after")), get(doc, "deleted", default=False) is True,
                         get(doc, "created", default=False) is True)


def _create_or_delete(event_type: str, doc: dict) -> WebhookEvent:
    return shapes.create_or_delete(event_type, doc, _repo_fields(doc))  # GitHub's `create` names no commit


PR_OPEN_ACTIONS = ("opened", "reopened", "synchronize")


def _pull_request(doc: dict) -> WebhookEvent:
    """opened/reopened/synchronize deploy the head commit as a preview; closed (merged or not) tears
    it down; every other action (labeled, assigned...) is inert. The head is fetched as
    `refs/pull/N/head`, which GitHub keeps in the base repository, forks included."""
    common = _repo_fields(doc)
    pr = doc.get("pull_request") if isinstance(doc.get("pull_request"), dict) else {}
    action, number = str(doc.get("action") or "no action"), get(doc, "number", default=0)
    if isinstance(number, bool) or not isinstance(number, int) or number <= 0:
        return WebhookEvent("pull_request", Action.IGNORED, "pull request without a number", **common)
    head_sha, head_ref, base = str(get(pr, "head", "sha")), str(get(pr, "head", "ref")), str(get(pr, "base", "ref"))
    head_repo = str(get(pr, "head", "repo", "full_name"))
    fields = dict(ref_type="pull", ref_name=f"pull/{number}/head", pr_number=number, head_ref=head_ref,
                  base_branch=base if not refs.name_problem(base) else "",
                  head_repo_is_fork=bool(get(pr, "head", "repo", "fork", default=False)) or (
                      bool(head_repo) and head_repo != common["repository"]),
                  author_association=str(get(pr, "author_association")), **common)
    if action == "closed":
        return WebhookEvent("pull_request", Action.PR_CLOSED, f"pull request #{number} closed",
                            sha=head_sha if refs.valid_sha(head_sha) else "", **fields)
    if action == "edited" and isinstance(get(doc, "changes", "base", default=None), dict):
        return WebhookEvent("pull_request", Action.PR_RETARGETED, f"pull request #{number} now merges into {base}",
                            sha=head_sha if refs.valid_sha(head_sha) else "", **fields)
    if action not in PR_OPEN_ACTIONS:
        return WebhookEvent("pull_request", Action.IGNORED, f"pull request #{number} {action}: not acted on", **fields)
    if not refs.valid_sha(head_sha):
        return WebhookEvent("pull_request", Action.IGNORED, f"pull request #{number} has no valid head commit",
                            **fields)
    return WebhookEvent("pull_request", Action.PR_OPENED, "", sha=head_sha, **fields)


def normalise(event_type: str, doc: dict) -> WebhookEvent:
    """Turn one GitHub delivery into a WebhookEvent; unknown types are inert."""
    if event_type == "ping":
        return WebhookEvent("ping", Action.PING, "ping: the webhook is set up", **_repo_fields(doc))
    if event_type == "push":
        return _push(doc)
    if event_type in ("create", "delete"):
        return _create_or_delete(event_type, doc)
    if event_type == "pull_request":
        return _pull_request(doc)
    return WebhookEvent(event_type, Action.IGNORED, f"event type {event_type!r} is not acted on", **_repo_fields(doc))


def report(repository: str, sha: str, status: JobStatus) -> StatusRequest:
    """`POST /repos/{owner}/{repo}/statuses/{sha}`; `repository` is owner/name or a URL of it."""
    body = {"state": status.word(name), "description": short_description(status.description),
            "context": status.context}
    if status.target_url:
        body["target_url"] = status.target_url
    path = repository if refs.OWNER_NAME.match(repository or "") else repo_path(repository)
    return StatusRequest("POST", f"/repos/{path}/statuses/{sha}", body)
