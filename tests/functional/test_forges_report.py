"""Each provider's commit-status request, as the outbox's sender sends it (functions/notify/sender.py
calls `provider.report` and `client.send`), at a stand-in on loopback that checks it against the
forge's published API: GitLab's OpenAPI description and Gitea's swagger document, vendored in
tests/fixtures/forge_apis/ (tests/forge_standin.py). GitHub's own path is tested against
@octokit/openapi (tests/functional/test_github_reports.py)."""
import pytest

from contract.states import JobState, Reason
from functions import providers
from functions.domain import statuses
from functions.providers import client
from functions.providers.base import JobStatus
from tests.forge_standin import ForgeStandIn

pytestmark = pytest.mark.functional
TOKEN = "forge-token-0123456789"
SHA = "da1560886d4f094c3e6c9ef40349f7d38b5d27d7"
FORGES = ["gitlab", "gitea", "forgejo"]
REPOS = {"gitlab": "https://gitlab.example.com/platform/web/blog.git",
         "gitea": "git@gitea.example.com:gitea/webhooks.git", "forgejo": "https://code.example.org/gitea/webhooks"}


@pytest.fixture
def stand_in(request):
    server = ForgeStandIn(request.param, TOKEN)
    yield server
    server.stop()


@pytest.mark.parametrize("stand_in", FORGES, indirect=True)
def test_every_job_state_reports_a_status_the_forge_accepts(stand_in):
    provider = providers.find(stand_in.forge)
    sent = [JobStatus(s, context="tahobuddy/blog", target_url="https://tb.example/jobs/1",
                      description=statuses.description(s.value)) for s in JobState]
    sent.append(JobStatus(JobState.FAILED, Reason.SETUP_ERROR, description="never ran: git fetch failed"))
    for status in sent:
        answer = client.send(stand_in.forge, stand_in.url, TOKEN, provider.report(REPOS[stand_in.forge], SHA, status))
        assert answer["state"] == status.word(stand_in.forge)
    assert stand_in.violations == [] and len(stand_in.statuses) == len(sent)
    published = set(stand_in.schema["definitions"][next(iter(stand_in.schema["definitions"]))]["properties"])
    assert all(set(s["body"]) <= published for s in stand_in.statuses)
    assert {"pending", "success"} <= set(stand_in.states(SHA))


@pytest.mark.parametrize("stand_in", ["gitlab"], indirect=True)
def test_gitlab_gets_the_nested_group_as_its_project_id(stand_in):
    req = providers.find("gitlab").report(REPOS["gitlab"], SHA, JobStatus(JobState.RUNNING))
    client.send("gitlab", stand_in.url, TOKEN, req)
    [got] = stand_in.statuses
    assert got["params"]["id"] == "platform/web/blog" and got["body"]["state"] == "running"
    assert req.path == f"/projects/platform%2Fweb%2Fblog/statuses/{SHA}"


@pytest.mark.parametrize("stand_in", ["gitlab", "gitea"], indirect=True)
def test_a_refused_status_says_why_never_shows_the_token_and_is_not_retried(stand_in):
    other = "gitea" if stand_in.forge == "gitlab" else "gitlab"  # the other forge's words are refused
    req = providers.find(other).report(REPOS[other], SHA, JobStatus(JobState.CANCELED))
    with pytest.raises(client.StatusRefused) as err:
        client.send(stand_in.forge, stand_in.url, TOKEN, req)
    assert "HTTP 422" in str(err.value) and TOKEN not in str(err.value)
    assert err.value.retry is False and err.value.status == 422
    assert stand_in.statuses == [] and stand_in.violations


def test_a_forge_that_does_not_answer_is_retried_later():
    with pytest.raises(client.StatusRefused) as err:
        client.send("gitlab", "http://127.0.0.1:9/api/v4", TOKEN,
                    providers.find("gitlab").report(REPOS["gitlab"], SHA, JobStatus(JobState.QUEUED)), timeout=2)
    assert err.value.retry is True and TOKEN not in str(err.value)
