"""A captured signed push, replayed once the dedup window has passed (a new delivery id), must not
deploy its old commit as the newest: the agent sees the commit is what serves or older while the
branch has moved on, and ends the job without touching what serves. A real force push that rewinds
the branch still deploys. dockerd, Caddy, git, moto server and chalice local, all on loopback."""
import uuid

import pytest

from functions.dispatch.enqueue import dedup_key
from functions.store import releases
from functions.store.models import DedupModel
from tests.e2e.test_tag_to_serving import DOCKERFILE
from tests.helpers import deliver, put_app, unique
from tests.realparts import AgentProcess, GitRepo, job_log, remove_app_resources, wait_job

pytestmark = pytest.mark.e2e


def branch_push(repo: GitRepo, sha: str, before: str = "0" * 40, forced: bool = False) -> dict:
    return {"ref": "refs/heads/main", "before": before, "after": sha, "created": False, "deleted": False,
            "forced": forced, "repository": {"full_name": "local/site", "clone_url": str(repo.origin)}}


def delivered(api, doc: dict) -> dict:
    r = deliver(api, "push", doc, delivery=str(uuid.uuid4()))
    assert r.status_code == 200 and len(r.json()["jobs"]) == 1, r.text
    return wait_job(api, r.json()["jobs"][0])


def dedup_window_passes(app: str, sha: str) -> None:
    """What seven days do to the delivery's dedup item (functions/store/retention.py): it expires."""
    DedupModel(dedup_key(app, "main", "refs/heads/main", sha)).update(actions=[DedupModel.expires_at.set(1)])


def test_a_replayed_older_push_deploys_nothing_and_a_force_push_back_deploys(api, agent_token, caddy, tmp_path,
                                                                              docker_images, empty_queue):
    repo, name = GitRepo(tmp_path / "site"), unique("replay")
    host = f"{name}.localhost"
    put_app(api, {"name": name, "repository": str(repo.origin), "hostname": host, "port": 8080, "rules": [
        {"name": "main", "match": {"branch": "main"},
         "target": {"type": "docker", "health_path": "/", "health_timeout": 30, "drain_seconds": 1, "watch_seconds": 0}}]})
    agent = AgentProcess(api, agent_token, tmp_path, caddy, targets="docker", name="replay")
    try:
        repo.write({"Dockerfile": DOCKERFILE, "www/index.html": "v1\n"})
        one = repo.commit_and_tag("v1")
        captured = branch_push(repo, one)  # the signed delivery someone keeps
        job = delivered(api, captured)
        assert job["state"] == "succeeded" and caddy.get(host).text.strip() == "v1", job_log(api, job["id"])
        repo.write({"www/index.html": "v2\n"})
        two = repo.commit_and_tag("v2")
        job = delivered(api, branch_push(repo, two, before=one))
        assert job["state"] == "succeeded" and caddy.get(host).text.strip() == "v2", job_log(api, job["id"])
        served = releases.history(name)

        dedup_window_passes(name, one)
        job = delivered(api, captured)  # the replay: the same body, signed, a new delivery id
        assert (job["state"], job["reason_code"]) == ("superseded", "superseded"), job
        assert f"the app serves {two}, and commit {one} is it or an ancestor of it" in job["reason"], job
        assert "building" not in job_log(api, job["id"])
        assert caddy.get(host).text.strip() == "v2" and releases.history(name) == served  # nothing redeployed

        repo.git("push", "-q", "-f", "origin", f"{one}:refs/heads/main")  # a real force push back to v1
        dedup_window_passes(name, one)
        job = delivered(api, branch_push(repo, one, before=two, forced=True))
        assert job["state"] == "succeeded" and caddy.get(host).text.strip() == "v1", job_log(api, job["id"])
    finally:
        assert agent.stop() == 0, agent.output()
        remove_app_resources(name)
