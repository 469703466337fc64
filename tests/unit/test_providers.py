"""Every provider behind the one protocol: fixtures written from each forge's webhook docs
normalise to what they say, signatures and tokens are checked in constant time and never
echoed, and `report` builds each forge's documented commit-status request."""
import hashlib
import hmac
import json
import urllib.parse
from pathlib import Path

import pytest

from contract.states import JobState, Reason
from functions import config, providers
from functions.domain import refs
from functions.errors import BadSignature, InvalidInput
from functions.providers import gitea, github, gitlab
from functions.domain.events import Action
from functions.providers.base import JobStatus

pytestmark = pytest.mark.unit
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "providers"
CASES = sorted(FIXTURES.glob("*/*.json"))
SECRET = "It's a Secret to Everybody"


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def lower(headers: dict) -> dict:
    return {k.lower(): v for k, v in headers.items()}


def signed(name: str, headers: dict, body: bytes, secret: str = SECRET) -> dict:
    """Headers as the forge sends them with `secret` set on the webhook."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    extra = {"github": {"x-hub-signature-256": "sha256=" + digest}, "gitlab": {"x-gitlab-token": secret},
             "gitea": {"x-gitea-signature": digest}, "forgejo": {"x-forgejo-signature": digest}}[name]
    return {**lower(headers), **extra}


def test_every_provider_has_fixtures_of_each_kind():
    assert providers.names() == ["forgejo", "gitea", "github", "gitlab"]
    for name in providers.names():
        actions = {load(p)["expect"]["action"] for p in FIXTURES.glob(f"{name}/*.json")}
        assert {"tag_created", "deleted", "ignored"} <= actions, (name, actions)  # tag, delete, MR/PR
        assert actions & {"ping", "branch_push"}, name  # ping, or the test button's push


@pytest.mark.parametrize("path", CASES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_fixture_normalises_to_what_it_documents(path):
    case, provider = load(path), providers.find(path.parent.name)
    body = json.dumps(case["payload"]).encode()
    headers = signed(provider.name, case["headers"], body)
    provider.verify(headers, body, SECRET)
    event = provider.normalise(provider.event_type(headers), json.loads(body))
    want = case["expect"]
    assert (event.action.value, event.ref, event.sha, event.repository) == (
        want["action"], want["ref"], want["sha"], want["repository"]), case["about"]
    assert provider.delivery_id(headers)
    if event.action not in (Action.PING, Action.IGNORED):
        assert event.reason == "" or event.action in (Action.DELETED, Action.PR_CLOSED)
    else:
        assert event.reason  # an inert event says why
    if "fork" in want:  # a pull or merge request: which one, into what, and whether its head is trusted
        assert (event.pr_number, event.base_branch, event.head_repo_is_fork) == (
            want["number"], want["base"], want["fork"]), case["about"]
        assert event.author_association == ("" if want["fork"] else "COLLABORATOR")


@pytest.mark.parametrize("name", ["github", "gitlab", "gitea", "forgejo"])
def test_bad_and_missing_signatures_are_refused_without_echoing_the_secret(name):
    provider, body = providers.find(name), b'{"ref": "refs/tags/v1"}'
    good = signed(name, {}, body)
    provider.verify(good, body, SECRET)
    digest = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    wrong = signed(name, {}, body, secret="not the secret")
    for headers, hint in ((wrong, "match"), ({}, "missing")):
        with pytest.raises(BadSignature) as err:
            provider.verify(headers, body, SECRET)
        assert hint in str(err.value) and SECRET not in str(err.value) and digest not in str(err.value)
    if name != "gitlab":  # a token is not tied to the body; a signature is
        with pytest.raises(BadSignature):
            provider.verify(good, body + b" ", SECRET)


def test_forgejo_reads_its_own_headers_and_gitea_its_own():
    body = b"{}"
    digest = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    with pytest.raises(BadSignature, match="X-Forgejo-Signature"):
        gitea.FORGEJO.verify({"x-gitea-signature": digest}, body, SECRET)
    with pytest.raises(InvalidInput, match="X-Gitea-Delivery"):
        gitea.GITEA.delivery_id({"x-forgejo-delivery": "d1"})
    assert gitea.FORGEJO.delivery_id({"x-forgejo-delivery": "d1"}) == "forgejo:d1"
    assert gitea.GITEA.delivery_id({"x-gitea-delivery": "d1"}) == "gitea:d1"


def test_gitlab_dedups_on_idempotency_key_then_event_uuid():
    both = {"idempotency-key": "key-1", "x-gitlab-event-uuid": "uuid-1", "x-gitlab-webhook-uuid": "hook"}
    assert gitlab.delivery_id(both) == "gitlab:hook:key-1"
    assert gitlab.delivery_id({"x-gitlab-event-uuid": "uuid-1"}) == "gitlab:nohook:uuid-1"
    with pytest.raises(InvalidInput, match="Idempotency-Key or X-Gitlab-Event-UUID"):
        gitlab.delivery_id({"x-gitlab-webhook-uuid": "hook"})
    with pytest.raises(InvalidInput, match="X-Gitlab-Event"):
        gitlab.event_type({})


def test_github_event_ids_are_unchanged():
    assert github.delivery_id({"x-github-delivery": "d", "x-github-hook-id": "7"}) == "7:d"
    assert github.delivery_id({"x-github-delivery": "d"}) == "nohook:d"


def test_gitlab_nested_group_urls_all_name_the_app_repository_and_never_a_github_one():
    event = gitlab.normalise("Push Hook", load(FIXTURES / "gitlab" / "push.json")["payload"])
    keys = refs.event_repo_keys(event.repository, event.repo_urls)
    assert keys == {"gitlab.example.com/platform/web/blog"}
    for configured in ("https://gitlab.example.com/platform/web/blog.git",
                       "git@gitlab.example.com:platform/web/blog.git",
                       "https://gitlab.example.com/platform/web/blog",
                       "ssh://git@gitlab.example.com/platform/web/blog.git"):
        assert refs.repo_key(configured) in keys, configured
    assert refs.repo_key("platform/web") not in keys and not any(k.startswith("github.com/") for k in keys)


def test_gitea_repository_keeps_its_host_so_forges_never_collide():
    gt = gitea.GITEA.normalise("create", load(FIXTURES / "gitea" / "create_tag.json")["payload"])
    fj = gitea.FORGEJO.normalise("create", load(FIXTURES / "forgejo" / "create_tag.json")["payload"])
    keys = [refs.event_repo_keys(e.repository, e.repo_urls) for e in (gt, fj)]
    assert keys[0] and keys[1] and keys[0].isdisjoint(keys[1])
    ssh = "ssh://git@gitea.example.com:2222/gitea/webhooks.git"
    assert refs.repo_key(ssh) == "gitea.example.com:2222/gitea/webhooks"


@pytest.mark.parametrize("name", ["github", "gitlab", "gitea", "forgejo"])
@pytest.mark.parametrize("doc", [{}, {"ref": 7, "repository": "x", "project": [1]}, {"ref": "refs/tags/bad..name"},
                                 {"ref": "refs/heads/main", "after": "nope"},
                                 {"object_attributes": "x", "pull_request": 3}])
def test_strange_payloads_are_inert_never_an_error(name, doc):
    provider = providers.find(name)
    for event_type in ("push", "create", "delete", "pull_request", "ping", "Push Hook", "Tag Push Hook", "Merge Request Hook",
                 "Note Hook"):
        event = provider.normalise(event_type, doc)
        assert not event.deployable and event.reason, (event_type, event)


def test_unknown_provider_names_the_known_ones():
    with pytest.raises(KeyError, match="forgejo, gitea, github, gitlab"):
        providers.find("bitbucket")


def test_a_provider_secret_overrides_the_one_secret(monkeypatch):
    monkeypatch.setenv("TAHOBUDDY_WEBHOOK_SECRET", "one")
    monkeypatch.setenv("TAHOBUDDY_GITLAB_SECRET", "lab")
    monkeypatch.delenv("TAHOBUDDY_GITEA_SECRET", raising=False)
    monkeypatch.setenv("TAHOBUDDY_FORGEJO_SECRET", "")
    s = config.settings.__wrapped__()
    assert [s.secret_for(n) for n in ("github", "gitlab", "gitea", "forgejo")] == ["one", "lab", "one", "one"]


# ---- report: each forge's documented commit-status request ----
REPO = {"github": "https://github.com/octo-org/blog.git", "gitlab": "git@gitlab.example.com:platform/web/blog.git",
        "gitea": "https://gitea.example.com/gitea/webhooks.git", "forgejo": "https://code.example.org/gitea/webhooks"}
PATHS = {"github": "/repos/octo-org/blog/statuses/{}", "gitlab": "/projects/platform%2Fweb%2Fblog/statuses/{}",
         "gitea": "/repos/gitea/webhooks/statuses/{}", "forgejo": "/repos/gitea/webhooks/statuses/{}"}
DOCUMENTED = {"github": {"error", "failure", "pending", "success"},
              "gitlab": {"pending", "running", "success", "failed", "canceled"},
              "gitea": {"pending", "success", "error", "failure", "warning"}}
DOCUMENTED["forgejo"] = DOCUMENTED["gitea"]
SHA = "da1560886d4f094c3e6c9ef40349f7d38b5d27d7"


@pytest.mark.parametrize("name", ["github", "gitlab", "gitea", "forgejo"])
def test_report_builds_the_documented_status_call_for_every_job_state(name):
    provider, seen = providers.find(name), set()
    for state in JobState:
        status = JobStatus(state, context="tahobuddy/blog", target_url="https://t.example/j/1", description="x " * 100)
        req = provider.report(REPO[name], SHA, status)
        assert (req.method, req.path) == ("POST", PATHS[name].format(SHA))
        assert req.body["state"] in DOCUMENTED[name] and req.body["context"] == "tahobuddy/blog"
        assert req.body["target_url"] == "https://t.example/j/1" and len(req.body["description"]) <= 140
        seen.add(req.body["state"])
    assert {"pending", "success"} <= seen


def test_states_tell_never_ran_from_failed_where_the_forge_can():
    never = JobStatus(JobState.FAILED, Reason.SETUP_ERROR)
    ran = JobStatus(JobState.FAILED, Reason.NONE)
    assert [github.report(REPO["github"], SHA, s).body["state"] for s in (never, ran)] == ["error", "failure"]
    assert [gitea.GITEA.report(REPO["gitea"], SHA, s).body["state"] for s in (never, ran)] == ["error", "failure"]
    assert gitlab.report(REPO["gitlab"], SHA, JobStatus(JobState.RUNNING)).body["state"] == "running"
    assert gitlab.report(REPO["gitlab"], SHA, JobStatus(JobState.SUPERSEDED)).body["state"] == "canceled"
    for provider, repo in ((github, "github"), (gitlab, "gitlab"), (gitea.GITEA, "gitea")):  # never a failure
        assert provider.report(REPO[repo], SHA, JobStatus(JobState.SKIPPED)).body["state"] == "success"
    assert gitea.GITEA.report(REPO["gitea"], SHA, JobStatus(JobState.CANCELED)).body["state"] == "warning"


def test_gitlab_project_id_is_the_url_encoded_nested_path():
    req = gitlab.report("https://gitlab.example.com/a/b/c/d.git", SHA, JobStatus(JobState.SUCCEEDED))
    assert urllib.parse.unquote(req.path.split("/")[2]) == "a/b/c/d"
    with pytest.raises(InvalidInput, match="repository"):
        gitlab.report("/srv/git/local.git", SHA, JobStatus(JobState.SUCCEEDED))
