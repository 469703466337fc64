"""GitLab deliveries -> one normalised `WebhookEvent`; a job -> a GitLab commit status.

GitLab sends its secret as-is in `X-Gitlab-Token` (no HMAC): it is compared in
constant time. A repository is `host/group/.../name` (nested groups keep every
level), so a GitLab project never collides with a GitHub one of the same path.
GitLab's "Test" button for tag push events posts its push sample: a branch push
under the `Tag Push Hook` header. That delivery says the hook works; it deploys nothing.
Merge requests deploy previews (`_merge_request`).
"""
from __future__ import annotations

import hmac
import urllib.parse
from typing import Mapping

from functions.domain import refs
from functions.providers import shapes
from functions.errors import BadSignature, InvalidInput
from functions.domain.events import Action, WebhookEvent
from functions.providers.base import (MAX_DELIVERY_ID, ZERO_SHA, JobStatus, StatusRequest, get, repo_path,
                                      required_header, short_description, url_fields)

name = "gitlab"
secret_env = "TAHOBUDDY_GITLAB_SECRET"
PUSH, TAG_PUSH, MERGE_REQUEST, SYSTEM = "Push Hook", "Tag Push Hook", "Merge Request Hook", "System Hook"
PROJECT_URLS = ("git_http_url", "git_ssh_url", "web_url", "http_url", "ssh_url")
REPOSITORY_URLS = ("git_http_url", "git_ssh_url", "homepage")


def verify(headers: Mapping[str, str], body: bytes, secret: str) -> None:
    token = headers.get("x-gitlab-token")
    if not token:
        raise BadSignature("missing X-Gitlab-Token header: set the Secret token on the GitLab webhook")
    if not hmac.compare_digest(secret.encode(), token.strip().encode()):
        raise BadSignature("X-Gitlab-Token does not match: check the webhook's Secret token")


def event_type(headers: Mapping[str, str]) -> str:
    return required_header(headers, "X-Gitlab-Event", "GitLab sends it with every delivery")


def delivery_id(headers: Mapping[str, str]) -> str:
    """`gitlab:<hook>:<key>`: `Idempotency-Key` stays the same across GitLab's retries; older
    GitLab versions send only `X-Gitlab-Event-UUID`."""
    key = (headers.get("idempotency-key") or "").strip() or required_header(
        headers, "X-Gitlab-Event-UUID", "GitLab sends Idempotency-Key or X-Gitlab-Event-UUID with every delivery")
    if len(key) > MAX_DELIVERY_ID:
        raise InvalidInput("Idempotency-Key", f"at most {MAX_DELIVERY_ID} characters")
    hook = (headers.get("x-gitlab-webhook-uuid") or "").strip()[:MAX_DELIVERY_ID]
    return f"gitlab:{hook or 'nohook'}:{key}"


def _repo_fields(doc: dict) -> dict:
    project = doc.get("project") if isinstance(doc.get("project"), dict) else {}
    urls = url_fields(project, PROJECT_URLS) + url_fields(doc.get("repository"), REPOSITORY_URLS)
    home = project.get("web_url") or (urls[0] if urls else "")
    sender = get(doc, "user_username") or get(doc, "user", "username")
    return {"repository": refs.repo_key(str(home)), "repo_urls": tuple(dict.fromkeys(urls)), "sender": str(sender)}


def _push(event_type: str, doc: dict) -> WebhookEvent:
    common = _repo_fields(doc)
    ref = get(doc, "ref")
    ref_type, ref_name = refs.split(ref if isinstance(ref, str) else "")
    if not ref_type:
        return WebhookEvent(event_type, Action.IGNORED, f"ref {refs.shown(str(ref))} is neither a branch nor a tag", **common)
    if refs.name_problem(ref_name):
        return WebhookEvent(event_type, Action.IGNORED, f"ref {refs.shown(ref)}: {refs.name_problem(ref_name)}", **common)
    fields = dict(ref_type=ref_type, ref_name=ref_name, **common)
    if event_type == TAG_PUSH and ref_type == "branch":
        return WebhookEvent(event_type, Action.PING, "GitLab's test delivery for tag push events (a branch push sample): "
                            "the webhook is set up; nothing deployed", **fields)
    after, checkout = str(get(doc, "after")), str(get(doc, "checkout_sha"))
    if after == ZERO_SHA:
        return WebhookEvent(event_type, Action.DELETED, f"{ref_type} {ref_name} was deleted", **fields)
    sha = checkout if refs.valid_sha(checkout) else after  # an annotated tag's `after` is the tag object
    if not refs.valid_sha(sha):
        return WebhookEvent(event_type, Action.IGNORED, "push has no valid 'checkout_sha' or 'after' commit", **fields)
    if ref_type == "branch":
        return WebhookEvent(event_type, Action.BRANCH_PUSH, "", sha=sha, **fields)
    created = str(get(doc, "before")) == ZERO_SHA
    return WebhookEvent(event_type, Action.TAG_CREATED if created else Action.TAG_MOVED, "", sha=sha, **fields)


MR_OPEN_ACTIONS, MR_CLOSE_ACTIONS = ("open", "reopen"), ("close", "merge")


def _merge_request(doc: dict) -> WebhookEvent:
    """open, reopen, and update with new commits deploy the head commit as a preview; close and merge
    tear it down. GitLab says `update` for a title or label edit too: only an update that carries
    `oldrev` (present when commits were pushed) deploys. The head is fetched as
    `refs/merge-requests/IID/head`, which GitLab keeps in the target project, forks included; a
    request whose source project is the target project is trusted (shapes.pull_request says why)."""
    attrs = doc.get("object_attributes") if isinstance(doc.get("object_attributes"), dict) else {}
    number, action = attrs.get("iid"), str(attrs.get("action") or "no action")
    source, target = str(attrs.get("source_branch") or ""), str(attrs.get("target_branch") or "")
    what = f"merge request !{number if isinstance(number, int) else '?'} ({action}) from {refs.shown(source)} " \
           f"into {refs.shown(target)}"
    if action in MR_OPEN_ACTIONS or (action == "update" and refs.valid_sha(str(attrs.get("oldrev") or ""))):
        verdict = Action.PR_OPENED
    elif action in MR_CLOSE_ACTIONS:
        verdict = Action.PR_CLOSED
    elif action == "update" and isinstance(get(doc, "changes", "target_branch", default=None), dict):
        verdict = Action.PR_RETARGETED
    else:
        verdict, what = Action.IGNORED, what + (": no new commits (an edit of its title, labels...), nothing to "
                                                "deploy" if action == "update" else ": not acted on")
    source_id, target_id = attrs.get("source_project_id"), attrs.get("target_project_id")
    return shapes.pull_request(MERGE_REQUEST, _repo_fields(doc), number, verdict, what,
                               ref_name=f"merge-requests/{number}/head", head_sha=str(get(attrs, "last_commit", "id")),
                               head_ref=source, base=target,
                               same_repository=source_id is not None and source_id == target_id)


def normalise(event_type: str, doc: dict) -> WebhookEvent:
    """Turn one GitLab delivery into a WebhookEvent; the body's ref, not the header, says branch or tag."""
    if event_type in (PUSH, TAG_PUSH):
        return _push(event_type, doc)
    if event_type == SYSTEM and doc.get("object_kind") in ("push", "tag_push"):  # an instance-wide hook
        return _push(PUSH, doc)
    if event_type == MERGE_REQUEST:
        return _merge_request(doc)
    return WebhookEvent(event_type, Action.IGNORED, f"event type {event_type!r} is not acted on", **_repo_fields(doc))


def report(repository: str, sha: str, status: JobStatus) -> StatusRequest:
    """`POST /projects/:id/statuses/:sha`, `:id` being the URL-encoded `group/sub/name`."""
    project = urllib.parse.quote(repo_path(repository), safe="")
    body = {"state": status.word(name), "context": status.context,
            "description": short_description(status.description)}
    if status.target_url:
        body["target_url"] = status.target_url
    return StatusRequest("POST", f"/projects/{project}/statuses/{sha}", body)
