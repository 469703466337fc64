"""A docker deploy from a tag, end to end, reported to GitHub: a real agent builds and serves the app
behind Caddy, and the GitHub stand-in receives the commit statuses and the Deployment with its
statuses in order, for a release that serves and for one whose build fails."""
import pytest
import requests

from tests.functional.test_github_reports import deployment_states, final_statuses, gh_api, standin  # noqa: F401
from tests.helpers import deliver, unique
from tests.realparts import BASE_IMAGE, AgentProcess, GitRepo, job_log, remove_app_resources, wait_for, wait_job

pytestmark = pytest.mark.e2e
DOCKERFILE = f"""FROM {BASE_IMAGE}
COPY www /www
EXPOSE 8080
CMD ["httpd", "-f", "-p", "8080", "-h", "/www"]
"""


def release(api, repo: GitRepo, tag: str, sha: str, gh_repo: str) -> dict:
    r = deliver(api, "push", {"ref": f"refs/tags/{tag}", "after": sha, "created": True, "deleted": False,
                              "base_ref": None, "repository": {"full_name": gh_repo, "clone_url": str(repo.origin)}})
    assert r.status_code == 200 and len(r.json()["jobs"]) == 1, r.text
    return wait_job(api, r.json()["jobs"][0])


def test_a_docker_release_reports_statuses_and_a_deployment(  # noqa: F811
        gh_api, standin, agent_token, caddy, docker_images, tmp_path, empty_queue):
    repo, name = GitRepo(tmp_path / "site"), unique("ghsite")
    host, gh_repo = f"{name}.localhost", f"octo/{name}"
    r = requests.put(f"{gh_api.url}/api/v1/apps/{name}", headers=gh_api.headers(), timeout=30, json={
        "name": name, "repository": str(repo.origin), "hostname": host, "port": 8080,
        "rules": [{"name": "release", "match": {"tag": "release-*"}, "environment": "staging",
                   "target": {"type": "docker", "health_path": "/", "health_timeout": 30, "drain_seconds": 1, "watch_seconds": 0}}]})
    assert r.status_code == 201, r.text
    agent = AgentProcess(gh_api, agent_token, tmp_path, caddy, targets="docker", name="gh-docker")
    try:
        repo.write({"Dockerfile": DOCKERFILE, "www/index.html": "v1\n"})
        sha1 = repo.commit_and_tag("v1", "release-1")
        job = release(gh_api, repo, "release-1", sha1, gh_repo)
        assert job["state"] == "succeeded", job_log(gh_api, job["id"])
        assert caddy.get(host).text.strip() == "v1"
        assert final_statuses(standin, gh_repo, sha1, 3) == [
            ("pending", "queued"), ("pending", "deploying"), ("success", "deployed")]
        wait_for(lambda: len(deployment_states(standin, gh_repo, sha1)[1]) >= 3, "3 deployment statuses")
        [dep], states = deployment_states(standin, gh_repo, sha1)
        assert states == ["queued", "in_progress", "success"] and dep["environment"] == "staging"
        done = [s for s in standin.deployment_statuses if s["deployment_id"] == dep["id"]][-1]
        assert done["environment_url"] == f"https://{host}/" and done["log_url"].endswith(f"/jobs/{job['id']}")

        repo.write({"Dockerfile": DOCKERFILE.replace("COPY www", "RUN exit 3\nCOPY www"), "www/index.html": "v2\n"})
        sha2 = repo.commit_and_tag("v2", "release-2")
        job = release(gh_api, repo, "release-2", sha2, gh_repo)
        assert job["state"] == "failed" and job["reason_code"] == "", job
        got = final_statuses(standin, gh_repo, sha2, 3)
        assert [s for s, _ in got] == ["pending", "pending", "failure"], got
        wait_for(lambda: len(deployment_states(standin, gh_repo, sha2)[1]) >= 3, "3 deployment statuses")
        assert deployment_states(standin, gh_repo, sha2)[1] == ["queued", "in_progress", "failure"]
        assert caddy.get(host).text.strip() == "v1"  # the failed release changed nothing that serves
        assert not standin.violations
    finally:
        agent.stop()
        remove_app_resources(name)
