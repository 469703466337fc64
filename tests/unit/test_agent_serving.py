"""Which jobs the agent checks against what the app serves (agent.worker.serving): a webhook's
branch push only. Tags, manual deploys, replays, rollbacks and previews are explicit choices."""
import pytest

from agent.worker import serving
from runners.base import JobSpec

pytestmark = pytest.mark.unit
HISTORY = ({"sha": "a" * 40, "image": "x:1"}, {"sha": "b" * 40, "image": "x:2"})


def spec(ref="refs/heads/main", trigger="webhook", releases=HISTORY) -> JobSpec:
    return JobSpec("j", "app", "main", {"type": "docker"}, "repo", ref, "c" * 40, trigger=trigger, releases=releases)


def test_a_webhooks_branch_push_is_checked_against_the_newest_release():
    assert serving(spec()) == "b" * 40


@pytest.mark.parametrize("job", [spec(ref="refs/tags/v1"), spec(trigger="manual"), spec(trigger="replay"),
                                 spec(trigger="rollback"), spec(trigger="preview", ref="refs/pull/3/head"),
                                 spec(releases=())], ids=["tag", "manual", "replay", "rollback", "preview", "no-history"])
def test_every_other_job_is_not(job):
    assert serving(job) == ""
