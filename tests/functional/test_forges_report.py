"""Each provider's commit-status request, sent by the thin client to a stand-in on loopback that
checks method, path, auth header and body fields against the forge's documented API:
GitHub `POST /repos/{owner}/{repo}/statuses/{sha}`, GitLab `POST /projects/:id/statuses/:sha`,
Gitea/Forgejo `POST /repos/{owner}/{repo}/statuses/{sha}`."""
import json
import re
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from contract.states import JobState, Reason
from functions import providers
from functions.providers import client
from functions.providers.base import JobStatus

pytestmark = pytest.mark.functional
TOKEN = "forge-token-0123456789"
SHA = "da1560886d4f094c3e6c9ef40349f7d38b5d27d7"
GITEA = {"path": re.compile(r"^/api/v1/repos/([^/]+)/([^/]+)/statuses/([0-9a-f]{40})$"),
         "auth": ("Authorization", f"token {TOKEN}"),
         "states": {"pending", "success", "error", "failure", "warning"},
         "fields": {"state", "context", "target_url", "description"}}
API = {  # what each forge's API documents for creating a commit status
    "github": {"path": re.compile(r"^/repos/([^/]+)/([^/]+)/statuses/([0-9a-f]{40})$"),
               "auth": ("Authorization", f"Bearer {TOKEN}"),
               "states": {"error", "failure", "pending", "success"},
               "fields": {"state", "context", "target_url", "description"}},
    "gitlab": {"path": re.compile(r"^/api/v4/projects/([^/]+)/statuses/([0-9a-f]{40})$"),
               "auth": ("PRIVATE-TOKEN", TOKEN),
               "states": {"pending", "running", "success", "failed", "canceled"},
               "fields": {"state", "ref", "name", "context", "target_url", "description", "coverage", "pipeline_id"}},
    "gitea": GITEA, "forgejo": GITEA,
}
BASES = {"github": "", "gitlab": "/api/v4", "gitea": "/api/v1", "forgejo": "/api/v1"}
REPOS = {"github": "https://github.com/octo-org/blog.git", "gitlab": "https://gitlab.example.com/platform/web/blog.git",
         "gitea": "git@gitea.example.com:gitea/webhooks.git", "forgejo": "https://code.example.org/gitea/webhooks"}


def check(forge: str, method: str, path: str, headers, raw: bytes) -> str:
    """'' when the request is what the forge's API accepts, else why not."""
    api = API[forge]
    if method != "POST":
        return f"method {method}, want POST"
    match = api["path"].match(path)
    if not match:
        return f"path {path} is not a commit-status path"
    if forge == "gitlab" and "/" not in urllib.parse.unquote(match.group(1)) and not match.group(1).isdigit():
        return "project id must be a number or a URL-encoded namespace/path"
    if headers.get(api["auth"][0]) != api["auth"][1]:
        return f"missing {api['auth'][0]}"
    if headers.get("Content-Type") != "application/json":
        return "Content-Type must be application/json"
    try:
        body = json.loads(raw)
    except ValueError:
        return "body is not JSON"
    if body.get("state") not in api["states"]:
        return f"state {body.get('state')!r} is not one of {sorted(api['states'])}"
    if set(body) - api["fields"]:
        return f"unknown fields {sorted(set(body) - api['fields'])}"
    if not all(isinstance(body.get(k, ""), str) for k in ("context", "target_url", "description")):
        return "context, target_url and description are strings"
    return ""


class StandIn:
    """A forge API on loopback for one forge, started and stopped by the test."""

    def __init__(self, forge: str):
        self.forge, self.accepted = forge, []
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                problem = check(stand_in.forge, "POST", self.path, self.headers, raw)
                if not problem:
                    stand_in.accepted.append((self.path, json.loads(raw)))
                answer = json.dumps({"message": problem} if problem else {"id": len(stand_in.accepted),
                                                                           **json.loads(raw)}).encode()
                self.send_response(422 if problem else 201)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{BASES[forge]}"

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def stand_in(request):
    server = StandIn(request.param)
    yield server
    server.stop()


@pytest.mark.parametrize("stand_in", list(API), indirect=True)
def test_every_job_state_reports_a_status_the_forge_accepts(stand_in):
    provider = providers.find(stand_in.forge)
    statuses = [JobStatus(s, context="tahobuddy/blog", target_url="https://tb.example/jobs/1",
                          description=f"job {s.value}") for s in JobState]
    statuses.append(JobStatus(JobState.FAILED, Reason.SETUP_ERROR, description="git fetch failed"))
    for status in statuses:
        answer = client.send(stand_in.forge, stand_in.url, TOKEN, provider.report(REPOS[stand_in.forge], SHA, status))
        assert answer["state"] == provider.report(REPOS[stand_in.forge], SHA, status).body["state"]
    assert len(stand_in.accepted) == len(statuses)
    assert all(path.endswith(f"/statuses/{SHA}") for path, _ in stand_in.accepted)
    states = {body["state"] for _, body in stand_in.accepted}
    assert states <= API[stand_in.forge]["states"] and {"pending", "success"} <= states


@pytest.mark.parametrize("stand_in", ["gitlab"], indirect=True)
def test_gitlab_gets_the_nested_group_as_its_project_id(stand_in):
    req = providers.find("gitlab").report(REPOS["gitlab"], SHA, JobStatus(JobState.RUNNING))
    client.send("gitlab", stand_in.url, TOKEN, req)
    [(path, body)] = stand_in.accepted
    assert path == f"/api/v4/projects/platform%2Fweb%2Fblog/statuses/{SHA}" and body["state"] == "running"


@pytest.mark.parametrize("stand_in", ["gitlab", "gitea"], indirect=True)
def test_a_refused_status_says_why_and_never_shows_the_token(stand_in):
    other = "gitea" if stand_in.forge == "gitlab" else "gitlab"  # the other forge's words are refused
    req = providers.find(other).report(REPOS[other], SHA, JobStatus(JobState.FAILED))
    with pytest.raises(client.StatusRefused) as err:
        client.send(stand_in.forge, stand_in.url, TOKEN, req)
    assert "HTTP 422" in str(err.value) and TOKEN not in str(err.value)
    assert stand_in.accepted == []
