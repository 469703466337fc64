"""The one event shape every forge's delivery becomes (providers/ normalise into it), and what it asks of
Tahobuddy. Pure: the rules, previews, intake and event store all read it."""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class Action(str, Enum):
    """What an event asks of Tahobuddy."""

    BRANCH_PUSH = "branch_push"      # deploy rules with `branch:`
    TAG_CREATED = "tag_created"      # deploy rules with `tag:`
    TAG_MOVED = "tag_moved"          # a force-pushed tag: deploy its new commit
    DELETED = "deleted"              # a branch or tag went away: nothing to deploy
    PR_OPENED = "pr_opened"          # a pull request opened, reopened or pushed to: deploy its preview
    PR_CLOSED = "pr_closed"          # closed, merged or not: tear its preview down
    PR_RETARGETED = "pr_retargeted"  # its base branch changed: tear its preview down if the rule no longer matches
    PING = "ping"
    IGNORED = "ignored"


@dataclass(frozen=True)
class WebhookEvent:
    event_type: str
    action: Action
    reason: str = ""
    repository: str = ""                       # GitHub: owner/name; other forges: host/owner/.../name
    repo_urls: tuple[str, ...] = field(default=())
    ref_type: str = ""                          # "branch" | "tag"
    ref_name: str = ""
    sha: str = ""                               # "" when the event does not say (create)
    base_branch: str = ""                       # a tag pushed at a branch's head
    sender: str = ""
    # pull requests (previews): the head commit is `sha`, its ref in the base repository `ref_name`
    # (`pull/2/head`; GitLab `merge-requests/2/head`; ref_type "pull"), the branch it merges into `base_branch`
    pr_number: int = 0
    head_ref: str = ""                          # the PR's branch name (in the fork, for a fork)
    head_repo_is_fork: bool = False
    author_association: str = ""                # GitHub: OWNER, MEMBER, COLLABORATOR, CONTRIBUTOR, NONE...;
                                                # others: shapes.SAME_REPOSITORY_TRUST for a head in the repository

    @property
    def ref(self) -> str:
        if not self.ref_type:
            return ""
        return {"branch": "refs/heads/", "tag": "refs/tags/", "pull": "refs/"}[self.ref_type] + self.ref_name

    @property
    def deployable(self) -> bool:
        return self.action in (Action.BRANCH_PUSH, Action.TAG_CREATED, Action.TAG_MOVED)
