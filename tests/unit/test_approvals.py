"""A rule's `approval`: checked when saved; who may decide; when a wait has lasted too long; what a forge says."""
import pytest

from contract.states import JobState
from functions.domain import approvals, rules
from functions.errors import InvalidInput
from functions.notify import github

pytestmark = pytest.mark.unit
SHELL = {"type": "shell", "commands": [["true"]]}


def rule(**approval):
    return rules.validate("rules[0]", {"match": {"branch": "main"}, "approval": approval, "target": SHELL}, 0)


def test_an_approval_is_checked_when_the_app_is_saved_with_a_seven_day_default():
    assert rule(required=True)["approval"] == {"required": True, "timeout": "7d"}
    assert rule(required=True, approvers=["alice"], timeout="12h")["approval"]["approvers"] == ["alice"]
    for bad, where in (({}, "required"), ({"required": True, "timeout": "7 days"}, "timeout"),
                       ({"required": True, "timeout": "31d"}, "timeout"), ({"required": True, "approvers": []},
                                                                            "approvers"),
                       ({"required": True, "who": ["x"]}, "who")):
        with pytest.raises(InvalidInput, match=rf"rules\[0\]\.approval\.{where}"):
            rule(**bad)
    with pytest.raises(InvalidInput, match="not to pull request previews"):
        rules.validate("rules[0]", {"match": {"pull_request": {"base": "main"}}, "approval": {"required": True},
                                    "target": {"type": "docker", "image": "x"}}, 0)


def test_only_listed_approvers_decide_and_any_admin_when_none_are_listed():
    assert approvals.may_decide({"required": True, "approvers": ["alice"]}, "alice")
    assert not approvals.may_decide({"required": True, "approvers": ["alice"]}, "bob")
    assert not approvals.may_decide({"required": True, "approvers": ["alice"]}, "")
    assert approvals.may_decide({"required": True}, "bob")


def test_a_wait_times_out_at_its_timeout_and_removals_are_never_gated():
    gated = {"approval": {"required": True, "timeout": "2h"}}
    assert approvals.gates(gated, "webhook") == gated["approval"] and approvals.gates(gated, "schedule")
    assert approvals.gates(gated, "purge") is None and approvals.gates({"approval": {"required": False}}, "webhook") \
        is None
    assert not approvals.timed_out(gated["approval"], 1000.0, 1000.0 + 7199)
    assert approvals.timed_out(gated["approval"], 1000.0, 1000.0 + 7200)
    assert approvals.timeout_seconds({"timeout": "30m"}) == 1800 and approvals.timeout_seconds({}) == 7 * 86400


def test_a_waiting_job_is_pending_on_the_forge_saying_awaiting_approval():
    assert github.outcome({"state": JobState.AWAITING_APPROVAL.value}) == ("pending", "awaiting approval")
    assert github.deployment_state({"state": JobState.AWAITING_APPROVAL.value}) == "queued"
