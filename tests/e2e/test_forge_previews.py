"""Previews from GitLab merge requests and Gitea pull requests for real: the fixtures written from
each forge's webhook docs, signed as the forge signs them and pointed at a local repository whose
request head lives only where the forge keeps it (refs/merge-requests/N/head, refs/pull/N/head);
the API under chalice local, an agent process, dockerd and Caddy."""
import copy
import json
import subprocess
from pathlib import Path

import pytest
import requests

from tests.e2e.test_previews import Site
from tests.e2e.test_tag_to_serving import DOCKERFILE
from tests.functional.test_forges import Hook
from tests.helpers import jobs_of
from tests.realparts import AgentProcess, job_log, remove_app_resources, wait_job

pytestmark = pytest.mark.e2e
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "providers"
FORGES = {"gitlab": ("merge_request_open", "refs/merge-requests/{n}/head"),
          "gitea": ("pull_request_opened", "refs/pull/{n}/head")}
CLOSE = {"gitlab": "merge", "gitea": "closed"}


class ForgeSite(Site):
    """A preview site whose pull requests come from GitLab or Gitea."""

    def __init__(self, api, tmp_path, caddy, forge: str):
        super().__init__(api, None, tmp_path, caddy, forge=forge)
        self.forge, self.hook = forge, Hook(api, forge)

    def push(self, number: int, text: str, branch: str = "feature") -> str:
        """Commit `text` as the page; the forge writes its head ref in the origin, and only that ref
        holds the commit (as a fork's), so the agent must fetch the forge's ref to deploy it."""
        self.repo.write({"Dockerfile": DOCKERFILE, "www/index.html": text + "\n"})
        sha = self.repo.commit_and_tag(text, branch=branch)
        ref = FORGES[self.forge][1].format(n=number)
        for args in (("update-ref", ref, sha), ("update-ref", "-d", f"refs/heads/{branch}")):
            subprocess.run(["git", "-C", str(self.repo.origin), *args], check=True)
        return sha

    def payload(self, action: str, number: int, sha: str, fork: bool = False) -> dict:
        case = FIXTURES / self.forge / f"{FORGES[self.forge][0]}.json"
        doc = copy.deepcopy(json.loads(case.read_text())["payload"])
        origin = str(self.repo.origin)
        if self.forge == "gitlab":
            attrs = doc["object_attributes"]
            attrs.update(iid=number, action=action, source_branch="feature", target_branch="main")
            attrs["last_commit"]["id"] = sha
            if fork:
                attrs["source_project_id"] = attrs["target_project_id"] + 1
            doc["project"]["git_http_url"] = origin
        else:
            doc.update(action=action, number=number)
            pr = doc["pull_request"]
            pr["number"], pr["merged"] = number, action == "closed"
            pr["head"].update(sha=sha, ref="feature")
            if fork:
                pr["head"]["repo"].update(id=pr["base"]["repo"]["id"] + 1, fork=True, full_name="someone/site")
            doc["repository"]["clone_url"] = origin
        return doc

    def send(self, action: str, number: int, sha: str, delivery: str | None = None, **kw) -> dict:
        body = json.dumps(self.payload(action, number, sha, **kw)).encode()
        event = {"gitlab": "Merge Request Hook", "gitea": "pull_request"}[self.forge]
        headers = {"Content-Type": "application/json", f"X-{self.forge.capitalize()}-Event": event}
        r = requests.post(f"{self.api.url}/api/v1/hooks/{self.forge}", data=body, timeout=60,
                          headers=self.hook.headers(headers, body, self.api.secret, delivery))
        assert r.status_code == 200, r.text
        return r.json()


@pytest.fixture
def forge_site(api, tmp_path, caddy, docker_images, empty_queue):
    made = []

    def make(forge: str):
        made.append(ForgeSite(api, tmp_path / f"s{len(made)}", caddy, forge))
        return made[-1]
    yield make
    for s in made:
        remove_app_resources(s.name)


@pytest.mark.parametrize("forge", sorted(FORGES))
def test_a_request_is_served_at_its_hostname_then_torn_down_when_merged(api, agent_token, caddy, forge_site,
                                                                        tmp_path, forge):
    s = forge_site(forge)
    agent = AgentProcess(api, agent_token, tmp_path, caddy)
    body = s.send("open" if forge == "gitlab" else "opened", 4, s.push(4, f"v-{forge}-4"))
    assert [d["outcome"] for d in body["decision"]] == ["queued"], body
    job = wait_job(api, body["jobs"][0])
    assert (job["state"], job["trigger"], job["preview"]) == ("succeeded", "preview", 4), job_log(api, job["id"])
    assert job["ref"] == FORGES[forge][1].format(n=4)
    assert s.served(4) == f"v-{forge}-4" and s.previews()[4]["state"] == "live"
    assert f"tahobuddy-{s.name}.pr-4" in s.route_ids()
    body = s.send(CLOSE[forge], 4, job["sha"])
    teardown = wait_job(api, body["jobs"][0])
    assert (teardown["state"], teardown["trigger"]) == ("succeeded", "teardown"), job_log(api, teardown["id"])
    assert s.things(4)["containers"] == [] and f"tahobuddy-{s.name}.pr-4" not in s.route_ids()
    assert s.previews()[4]["state"] == "closed"
    assert agent.stop() == 0


@pytest.mark.parametrize("forge", sorted(FORGES))
def test_a_fork_request_is_refused_with_a_job_that_says_so(api, forge_site, forge):
    s = forge_site(forge)
    body = s.send("open" if forge == "gitlab" else "opened", 9, s.push(9, "v-fork"), fork=True)
    assert body["decision"][0]["outcome"] == "refused" and "fork" in body["decision"][0]["reason"], body
    job = wait_job(api, body["jobs"][0])
    assert (job["state"], job["reason_code"], job["preview"]) == ("failed", "refused", 9), job
    assert "allow_forks" in job["reason"] and s.previews() == {}


def test_a_redelivered_merge_request_and_a_commitless_update_make_one_job(api, forge_site):
    s = forge_site("gitlab")
    sha = s.push(6, "v-once")
    first = s.send("open", 6, sha, delivery=f"{s.name}-open")
    again = s.send("open", 6, sha, delivery=f"{s.name}-open")          # GitLab's retry: the same Idempotency-Key
    reopened = s.send("reopen", 6, sha)                                 # another delivery, the same commit
    assert again["status"] == "duplicate" and reopened["decision"][0]["outcome"] == "duplicate"
    assert first["jobs"] == again["jobs"] == reopened["jobs"] and len(first["jobs"]) == 1
    edited = s.send("update", 6, sha)                                   # a title edit: no oldrev in it
    assert edited["action"] == "ignored" and "no new commits" in edited["reason"] and edited["jobs"] == []
    assert [j["trigger"] for j in jobs_of(api, s.name)] == ["preview"]
