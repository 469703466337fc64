"""Gitea and Forgejo deliveries -> one normalised `WebhookEvent`; a job -> their commit status.

Forgejo is a fork of Gitea and sends the same payloads; only the header names
differ (`X-Gitea-*` / `X-Forgejo-*`), so one class serves both. The signature is a
bare hex HMAC-SHA256 of the raw body, compared in constant time. A new tag comes as
`push` and as `create` (which carries its commit in `sha`); both make one job.
Pull requests (opened, synchronized, closed) deploy and tear down previews, as GitHub's do.
"""
from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Mapping

from functions.domain import refs
from functions.providers import shapes
from functions.errors import BadSignature
from functions.domain.events import Action, WebhookEvent
from functions.providers.base import (JobStatus, StatusRequest, get, repo_path, required_header, short_description,
                                      url_fields)

REPO_URLS = ("clone_url", "ssh_url", "html_url")


def sign(secret: str, body: bytes) -> str:
    """The `X-Gitea-Signature` / `X-Forgejo-Signature` value for `body`: bare hex, no prefix."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _repo_fields(doc: dict) -> dict:
    repo = doc.get("repository") if isinstance(doc.get("repository"), dict) else {}
    urls = url_fields(repo, REPO_URLS)
    home = repo.get("html_url") or (urls[0] if urls else "")
    sender = get(doc, "sender", "login") or get(doc, "sender", "username") or get(doc, "pusher", "login")
    return {"repository": refs.repo_key(str(home)), "repo_urls": urls, "sender": str(sender)}


def _push(doc: dict) -> WebhookEvent:
    common = _repo_fields(doc)
    split = shapes.split_ref("push", get(doc, "ref"), common)
    if isinstance(split, WebhookEvent):
        return split
    fields = dict(ref_type=split[0], ref_name=split[1], **common)
    return shapes.pushed(fields, str(get(doc, "after")), False, str(get(doc, "before")) == shapes.ZERO_SHA)


def _create_or_delete(event_type: str, doc: dict) -> WebhookEvent:
    return shapes.create_or_delete(event_type, doc, _repo_fields(doc), sha=str(get(doc, "sha")))


PR_OPEN_ACTIONS = ("opened", "reopened", "synchronized")


def _pull_request(doc: dict) -> WebhookEvent:
    """opened, reopened and synchronized (Gitea's word for new commits) deploy the head commit as a
    preview; closed, merged or not, tears it down; other actions (edited, label_updated...) are
    inert. The head is fetched as `refs/pull/N/head`, which Gitea keeps in the base repository.

    Trusted (shapes.pull_request says why) only when the head is a branch of the base repository:
    same repository id, not a fork, and a branch label. An AGit-flow request (`git push origin
    HEAD:refs/for/main`) also names the base repository as its head, but anyone who may read the
    repository can open one; Gitea sends it with an empty label, so it counts as a fork's."""
    pr = doc.get("pull_request") if isinstance(doc.get("pull_request"), dict) else {}
    action, number = str(doc.get("action") or "no action"), get(doc, "number", default=0)
    head, base = str(get(pr, "head", "ref")), str(get(pr, "base", "ref"))
    what = f"pull request #{number} ({action}) from {refs.shown(head)} into {refs.shown(base)}"
    if action in PR_OPEN_ACTIONS:
        verdict = Action.PR_OPENED
    elif action == "closed":
        verdict, what = Action.PR_CLOSED, what.replace("(closed)", "(merged)" if get(pr, "merged") is True else
                                                       "(closed)")
    else:
        verdict, what = Action.IGNORED, what + ": not acted on"
    head_id, base_id = get(pr, "head", "repo", "id", default=None), get(pr, "base", "repo", "id", default=None)
    same = (head_id is not None and head_id == base_id and get(pr, "head", "repo", "fork") is not True
            and bool(get(pr, "head", "label")))
    return shapes.pull_request("pull_request", _repo_fields(doc), number, verdict, what, ref_name=f"pull/{number}/head",
                               head_sha=str(get(pr, "head", "sha")), head_ref=head, base=base, same_repository=same)


@dataclass(frozen=True)
class GiteaProvider:
    """Gitea, or Forgejo: `forge` is the header's word (`Gitea` or `Forgejo`)."""

    name: str
    forge: str
    secret_env: str

    def verify(self, headers: Mapping[str, str], body: bytes, secret: str) -> None:
        header = f"X-{self.forge}-Signature"
        got = (headers.get(header.lower()) or "").strip().lower()
        if not got:
            raise BadSignature(f"missing {header} header: set a Secret on the {self.forge} webhook")
        if not hmac.compare_digest(sign(secret, body).encode(), got.encode()):
            raise BadSignature(f"{header} does not match the body: check the webhook secret")

    def event_type(self, headers: Mapping[str, str]) -> str:
        return required_header(headers, f"X-{self.forge}-Event", f"{self.forge} sends it with every delivery")

    def delivery_id(self, headers: Mapping[str, str]) -> str:
        delivery = required_header(headers, f"X-{self.forge}-Delivery", f"{self.forge} sends it with every delivery")
        return f"{self.name}:{delivery}"

    def normalise(self, event_type: str, doc: dict) -> WebhookEvent:
        """One delivery -> a WebhookEvent. The "Test delivery" button sends a push of the default branch."""
        if event_type == "push":
            return _push(doc)
        if event_type in ("create", "delete"):
            return _create_or_delete(event_type, doc)
        if event_type == "pull_request":
            return _pull_request(doc)
        return WebhookEvent(event_type, Action.IGNORED, f"event type {event_type!r} is not acted on", **_repo_fields(doc))

    def report(self, repository: str, sha: str, status: JobStatus) -> StatusRequest:
        """`POST /repos/{owner}/{repo}/statuses/{sha}`: never ran is `error`, ran and failed `failure`,
        canceled or superseded `warning`."""
        body = {"state": status.word(self.name), "context": status.context, "description": short_description(status.description)}
        if status.target_url:
            body["target_url"] = status.target_url
        return StatusRequest("POST", f"/repos/{repo_path(repository)}/statuses/{sha}", body)


GITEA = GiteaProvider("gitea", "Gitea", "TAHOBUDDY_GITEA_SECRET")
FORGEJO = GiteaProvider("forgejo", "Forgejo", "TAHOBUDDY_FORGEJO_SECRET")
