"""GitLab merge requests and Gitea/Forgejo pull requests as preview events, from the fixtures
written from each forge's webhook docs: which actions deploy, which tear down, which do nothing
and why, and who is trusted when the forge sends no author association."""
import copy
import json
from pathlib import Path

import pytest

from functions.domain import previews, rules
from functions.providers import gitea, gitlab
from functions.domain.events import Action

pytestmark = pytest.mark.unit
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "providers"


def payload(forge: str, case: str) -> dict:
    return json.loads((FIXTURES / forge / f"{case}.json").read_text())["payload"]


def mr(case: str = "merge_request", **attrs):
    doc = payload("gitlab", case)
    doc["object_attributes"].update(attrs)
    return gitlab.normalise("Merge Request Hook", doc)


def pr(forge: str = "gitea", case: str = "pull_request_synchronized", action: str | None = None):
    doc = payload(forge, case)
    if action:
        doc["action"] = action
    return providers_of[forge].normalise("pull_request", doc)


providers_of = {"gitea": gitea.GITEA, "forgejo": gitea.FORGEJO}


def rule(**preview):
    doc = {"name": "previews", "match": {"pull_request": {"base": "main"}}, "target": {"type": "docker"}}
    if preview:
        doc["preview"] = preview
    return rules.validate("rules[0]", doc, 0)


def test_gitlab_open_reopen_and_new_commits_deploy_the_head_at_its_merge_request_ref():
    for action in ("open", "reopen", "update"):  # the fixture's update carries oldrev: commits were pushed
        event = mr(action=action)
        assert (event.action, event.ref, event.sha, event.pr_number, event.head_ref) == (
            Action.PR_OPENED, "refs/merge-requests/7/head", "b6568db1bc1dcd7f8b4d5a946b0b91f9dacd7327", 7,
            "feature/comments"), action


def test_gitlab_update_without_new_commits_is_inert_and_says_so():
    event = mr("merge_request_title_edit")
    assert event.action == Action.IGNORED and "no new commits" in event.reason and "!7" in event.reason
    assert mr(action="approved").action == Action.IGNORED and "not acted on" in mr(action="approved").reason


def test_gitlab_close_and_merge_tear_down():
    assert mr(action="close").action == Action.PR_CLOSED
    merged = mr("merge_request_merged")
    assert (merged.action, merged.pr_number, merged.ref) == (Action.PR_CLOSED, 7, "refs/merge-requests/7/head")


def test_gitlab_requests_without_number_or_commit_are_inert():
    assert mr(iid=None).action == Action.IGNORED and "no request number" in mr(iid=None).reason
    assert mr(last_commit={"id": "not-a-sha"}).action == Action.IGNORED
    assert mr(source_project_id=None).head_repo_is_fork  # no source project named: never trusted


@pytest.mark.parametrize("forge", ["gitea", "forgejo"])
def test_gitea_and_forgejo_actions_map_to_open_close_or_nothing(forge):
    for action in ("opened", "reopened", "synchronized"):
        event = pr(forge, action=action)
        assert (event.action, event.ref, event.pr_number, event.base_branch) == (
            Action.PR_OPENED, "refs/pull/3/head", 3, "main"), action
    merged = pr(forge, "pull_request_merged")
    assert merged.action == Action.PR_CLOSED and "(merged)" in merged.reason
    assert "(closed)" in pr(forge, action="closed").reason
    edited = pr(forge, "pull_request_edited")
    assert edited.action == Action.IGNORED and "edited" in edited.reason


def test_gitea_agit_flow_request_is_not_trusted_although_it_names_the_base_repository():
    doc = payload("gitea", "pull_request_opened")
    head = doc["pull_request"]["head"]
    head.update(label="", ref="refs/pull/3/head")  # Gitea's API for an AGit request: no branch label
    event = gitea.GITEA.normalise("pull_request", doc)
    assert event.head_repo_is_fork and event.author_association == ""
    assert "fork" in previews.refusal(rule(), event)


@pytest.mark.parametrize("event", [
    lambda: mr("merge_request_from_fork"), lambda: pr("gitea", "pull_request_from_fork"),
    lambda: pr("forgejo", "pull_request_from_fork")], ids=["gitlab", "gitea", "forgejo"])
def test_fork_requests_are_refused_unless_the_rule_allows_forks(event):
    e = event()
    assert e.action == Action.PR_OPENED and e.head_repo_is_fork
    assert "fork" in previews.refusal(rule(), e) and "allow_forks" in previews.refusal(rule(), e)
    assert previews.refusal(rule(allow_forks=True), e) == ""


@pytest.mark.parametrize("event", [
    lambda: mr(), lambda: pr("gitea"), lambda: pr("forgejo")], ids=["gitlab", "gitea", "forgejo"])
def test_same_repository_requests_are_trusted_and_match_their_base(event):
    e = event()
    assert previews.refusal(rule(), e) == "" and rules.evaluate(rule(), e)
    other = copy.copy(rule())
    other["match"] = {"pull_request": {"base": "develop"}}
    assert not rules.evaluate(other, e)
