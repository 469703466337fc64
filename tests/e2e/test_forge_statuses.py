"""GitLab, Gitea and Forgejo hear of their jobs through the production path: a signed tag push on the
forge's route, a real agent running a shell target, and the job's commit statuses sent by the
outbox's sender as `make run` sends it (local/stack.py's tick, POST /api/v1/outbox/deliver) to a
stand-in that checks every request against the forge's published API (tests/forge_standin.py).
Without a token, that forge gets nothing, and `tahobuddy jobs ID` says why."""
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import reporting_api
from tests.forge_standin import ForgeStandIn
from tests.functional.test_forges import HOSTS, Hook, shell_app
from tests.realparts import AgentProcess, GitRepo, wait_job

pytestmark = pytest.mark.e2e
FORGES = ["gitlab", "gitea", "forgejo"]
TOKENS = {f: f"{f}-status-token-0123456789" for f in FORGES}
CLI = str(Path(sys.executable).parent / "tahobuddy")
COMMIT = "da1560886d4f094c3e6c9ef40349f7d38b5d27d7"   # the fixtures' commit, replaced by the real one


@pytest.fixture(scope="module")
def stand_ins():
    made = {f: ForgeStandIn(f, TOKENS[f]) for f in FORGES}
    yield made
    for s in made.values():
        s.stop()


@pytest.fixture(scope="module")
def forge_api(moto, admin_token, workdir, stand_ins):
    """The API with each forge's token and API URL, and make run's tick sending its outbox."""
    with reporting_api(workdir, "chalice-forges.log", admin_token, {
            **{f"TAHOBUDDY_{f.upper()}_TOKEN": TOKENS[f] for f in FORGES},
            **{f"TAHOBUDDY_{f.upper()}_API_URL": stand_ins[f].url for f in FORGES}}) as api:
        yield api


def tag_push(api, forge: str, tmp_path, commands) -> tuple[str, str, str]:
    """A real origin with a tag, an app of `forge` on it, and the forge's signed tag push naming it;
    returns (job id, commit, the project's host/path)."""
    repo = GitRepo(tmp_path / f"{forge}-repo")
    repo.write({"hello.txt": f"hello from {forge}\n"})
    sha = repo.commit_and_tag("release one", tag="v1.0.0")
    hook, origin = Hook(api, forge), str(repo.origin)
    shell_app(api, origin, commands, forge=forge)
    headers, body = hook.body("tag_push", replace={COMMIT: sha})
    doc = json.loads(body)
    holder = doc["project"] if forge == "gitlab" else doc["repository"]
    holder["git_http_url" if forge == "gitlab" else "clone_url"] = origin  # the clone URL is the local origin
    body = json.dumps(doc).encode()
    r = requests.post(f"{api.url}/api/v1/hooks/{forge}", data=body, headers=hook.headers(headers, body, api.secret),
                      timeout=60)
    assert r.status_code == 200 and len(r.json()["jobs"]) == 1, r.text
    return r.json()["jobs"][0], sha, f"{HOSTS[forge]}/{hook.path}".lower()


def arrived(stand_in: ForgeStandIn, sha: str, count: int, timeout: float = 60) -> list[dict]:
    deadline = time.monotonic() + timeout
    while len([s for s in stand_in.statuses if s["params"]["sha"] == sha]) < count:
        assert time.monotonic() < deadline, (f"waited {timeout}s for {count} statuses of {sha[:7]}; got "
                                             f"{stand_in.states(sha)}, refused {stand_in.violations}")
        time.sleep(0.1)
    return [s for s in stand_in.statuses if s["params"]["sha"] == sha]


@pytest.mark.parametrize("forge", FORGES)
def test_a_tag_pushed_on_the_forge_reports_its_statuses_there(forge_api, stand_ins, agent_token, tmp_path,
                                                             empty_queue, forge):
    stand_in = stand_ins[forge]
    agent = AgentProcess(forge_api, agent_token, tmp_path, targets="shell", name=f"{forge}-status")
    job_id, sha, project = tag_push(forge_api, forge, tmp_path, [["cat", "hello.txt"]])
    assert wait_job(forge_api, job_id)["state"] == "succeeded"
    agent.stop()
    got = arrived(stand_in, sha, 3)
    running = "running" if forge == "gitlab" else "pending"
    assert [s["body"]["state"] for s in got] == ["pending", running, "success"], got
    assert [s["body"]["description"] for s in got] == ["queued", "deploying", "deployed"]
    where = got[0]["params"]
    assert (where["id"] if forge == "gitlab" else f"{HOSTS[forge]}/{where['owner']}/{where['repo']}") == (
        project.split("/", 1)[1] if forge == "gitlab" else project)
    assert all(s["body"]["context"].endswith("/release") for s in got)
    assert got[-1]["body"]["target_url"] == f"{forge_api.url}/api/v1/jobs/{job_id}"
    assert stand_in.violations == []
    job = requests.get(f"{forge_api.url}/api/v1/jobs/{job_id}", headers=forge_api.headers(), timeout=10).json()
    assert job["reports"]["sent"] == 3 and job["reports"]["gave_up"] == [], job["reports"]


def test_a_failed_build_is_a_failure_on_gitlab(forge_api, stand_ins, agent_token, tmp_path, empty_queue):
    agent = AgentProcess(forge_api, agent_token, tmp_path, targets="shell", name="gitlab-fail")
    job_id, sha, _ = tag_push(forge_api, "gitlab", tmp_path, [["sh", "-c", "echo broken; exit 3"]])
    assert wait_job(forge_api, job_id)["state"] == "failed"
    agent.stop()
    got = arrived(stand_ins["gitlab"], sha, 3)
    assert [s["body"]["state"] for s in got] == ["pending", "running", "failed"] and "exit" in got[2]["body"][
        "description"]


def test_without_a_token_the_forge_gets_nothing_and_the_job_says_why(api, stand_ins, agent_token, tmp_path,
                                                                   empty_queue):
    """The shared API has no GitLab token: the job runs, no status is made, `tahobuddy jobs ID` says why."""
    agent = AgentProcess(api, agent_token, tmp_path, targets="shell", name="gitlab-no-token")
    job_id, sha, _ = tag_push(api, "gitlab", tmp_path, [["true"]])
    assert wait_job(api, job_id)["state"] == "succeeded"
    agent.stop()
    out = subprocess.run([CLI, "--api-url", api.url, "--token", api.token, "jobs", job_id],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    said = json.loads(out.stdout)["reports"]["commit_status"]
    assert said.startswith("not sent: no gitlab credentials") and "TAHOBUDDY_GITLAB_TOKEN" in said, said
    assert stand_ins["gitlab"].states(sha) == []
