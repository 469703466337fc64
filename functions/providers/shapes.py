"""What every forge's push and create/delete deliveries have in common, read once: a ref that
must be a valid branch or tag, a commit that must be a full SHA, a deletion, a new tag. Each
provider reads its own field names and hands the values here."""
from __future__ import annotations

from functions.domain import refs
from functions.domain.events import Action, WebhookEvent
from functions.providers.base import ZERO_SHA, get



def split_ref(event_type: str, ref, common: dict) -> tuple[str, str] | WebhookEvent:
    """(branch|tag, name) of a full ref, or the inert event saying why it can't be deployed."""
    ref_type, ref_name = refs.split(ref if isinstance(ref, str) else "")
    if not ref_type:
        return WebhookEvent(event_type, Action.IGNORED, f"ref {refs.shown(str(ref))} is neither a branch nor a tag",
                            **common)
    if refs.name_problem(ref_name):
        return WebhookEvent(event_type, Action.IGNORED, f"ref {refs.shown(ref)}: {refs.name_problem(ref_name)}",
                            **common)
    return ref_type, ref_name


def pushed(fields: dict, after: str, deleted: bool, created: bool) -> WebhookEvent:
    """A push of `fields` (ref_type, ref_name, repository ...) to commit `after`."""
    ref_type, name = fields["ref_type"], fields["ref_name"]
    if deleted or after == ZERO_SHA:
        return WebhookEvent("push", Action.DELETED, f"{ref_type} {name} was deleted", **fields)
    if not refs.valid_sha(after):
        return WebhookEvent("push", Action.IGNORED, "push has no valid 'after' commit", **fields)
    if ref_type == "branch":
        return WebhookEvent("push", Action.BRANCH_PUSH, "", sha=after, **fields)
    return WebhookEvent("push", Action.TAG_CREATED if created else Action.TAG_MOVED, "", sha=after, **fields)


def create_or_delete(event_type: str, doc: dict, common: dict, sha: str = "") -> WebhookEvent:
    """GitHub's and Gitea's `create` / `delete`: `ref_type` plus a short `ref` name."""
    ref_type, ref_name = get(doc, "ref_type"), get(doc, "ref")
    if ref_type not in ("branch", "tag"):
        return WebhookEvent(event_type, Action.IGNORED, "no valid ref_type (branch or tag)", **common)
    if refs.name_problem(ref_name):
        return WebhookEvent(event_type, Action.IGNORED, f"ref {refs.shown(str(ref_name))}: {refs.name_problem(ref_name)}",
                            **common)
    fields = dict(ref_type=ref_type, ref_name=ref_name, **common)
    if event_type == "delete":
        return WebhookEvent(event_type, Action.DELETED, f"{ref_type} {ref_name} was deleted", **fields)
    if ref_type == "branch":
        return WebhookEvent(event_type, Action.IGNORED, "a new branch deploys from its push event", **fields)
    return WebhookEvent(event_type, Action.TAG_CREATED, "", sha=sha if refs.valid_sha(sha) else "", **fields)


# A pull (merge) request's head branch that lives in the target repository itself was pushed there
# by someone with write access to it (GitLab: Developer or above; Gitea/Forgejo: write), so the
# request is trusted as a collaborator's. GitLab, Gitea and Forgejo send nothing like GitHub's
# `author_association`; this word lets previews.refusal() stay the same for every forge.
SAME_REPOSITORY_TRUST = "COLLABORATOR"


def pull_request(event_type: str, common: dict, number, verdict: Action, what: str, *, ref_name: str,
                 head_sha: str, head_ref: str, base: str, same_repository: bool) -> WebhookEvent:
    """A pull or merge request of a forge without author associations (GitLab, Gitea, Forgejo).

    `verdict` is PR_OPENED (deploy the head commit), PR_CLOSED (tear the preview down), PR_RETARGETED
    (its base changed: tear the preview down if the rule no longer matches) or IGNORED
    (`what` says why). `ref_name` is where the forge keeps the head in the target repository, forks
    included (GitLab `merge-requests/N/head`, Gitea `pull/N/head`): the agent's mirror fetches every
    ref, so the head commit is there even when its branch is in a fork. Only a head branch in the
    target repository counts as trusted (SAME_REPOSITORY_TRUST); any other has no association, and
    previews.refusal() refuses it unless the rule sets preview.allow_forks.
    """
    if isinstance(number, bool) or not isinstance(number, int) or number <= 0:
        return WebhookEvent(event_type, Action.IGNORED, f"{what}: no request number", **common)
    fields = dict(ref_type="pull", ref_name=ref_name, pr_number=number, head_ref=head_ref,
                  base_branch=base if not refs.name_problem(base) else "", head_repo_is_fork=not same_repository,
                  author_association=SAME_REPOSITORY_TRUST if same_repository else "", **common)
    sha = head_sha if refs.valid_sha(head_sha) else ""
    if verdict == Action.PR_OPENED and not sha:
        return WebhookEvent(event_type, Action.IGNORED, f"{what}: no valid head commit", **fields)
    return WebhookEvent(event_type, verdict, what if verdict != Action.PR_OPENED else "", sha=sha, **fields)
