"""A pull request's preview end to end, reported to GitHub: GitHub's example pull_request payloads, a
real agent building and serving the preview behind Caddy, and the GitHub stand-in receiving the
transient Deployment at the preview's URL, the one comment edited as it goes, and on close the
`inactive` status and the comment saying removed."""
import pytest

from tests.e2e.test_previews import Site, examples  # noqa: F401 - the fixture
from tests.functional.test_github_reports import gh_api, standin  # noqa: F401 - the fixtures
from tests.realparts import AgentProcess, job_log, remove_app_resources, wait_for, wait_job

pytestmark = pytest.mark.e2e


def test_a_preview_is_a_transient_deployment_and_one_comment_on_the_pr(  # noqa: F811
        gh_api, standin, agent_token, caddy, docker_images, examples, tmp_path, empty_queue):
    s = Site(gh_api, examples, tmp_path / "site", caddy)
    agent = AgentProcess(gh_api, agent_token, tmp_path, caddy, targets="docker", name="gh-previews")
    marker = f"<!-- tahobuddy:preview app={s.name} -->"

    def comment(says: str) -> dict:
        def found():
            mine = [c for c in standin.comments.values() if c["body"].startswith(marker)]
            return mine[0] if len(mine) == 1 and says in mine[0]["body"] else None
        return wait_for(found, f"the PR comment to say {says!r}", 60)

    try:
        body = s.send("opened", 21, s.push(21, "v-pr21"))
        job = wait_job(gh_api, body["jobs"][0])
        assert job["state"] == "succeeded", job_log(gh_api, job["id"])
        assert s.served(21) == "v-pr21"
        url = f"https://pr-21.{s.host}/"
        live = comment(": live**")
        assert (live["repo"], live["issue"]) == ("local/site", 21) and f"Served at {url}" in live["body"]
        [dep] = [d for d in standin.deployments.values() if d["request"]["payload"]["tahobuddy_job"] == job["id"]]
        assert dep["environment"] == f"{s.name}-pr-21" and dep["request"]["transient_environment"] is True
        done = [st for st in standin.deployment_statuses if st["deployment_id"] == dep["id"]]
        assert [st["state"] for st in done] == ["queued", "in_progress", "success"]
        assert done[-1]["environment_url"] == url

        teardown = wait_job(gh_api, s.send("closed", 21, job["sha"])["jobs"][0])
        assert teardown["state"] == "succeeded", job_log(gh_api, teardown["id"])
        removed = comment(": removed**")
        assert removed["id"] == live["id"]
        assert [st["state"] for st in standin.deployment_statuses if st["deployment_id"] == dep["id"]][-1] == "inactive"
        assert s.things(21)["containers"] == []
        assert not standin.violations
    finally:
        agent.stop()
        remove_app_resources(s.name)
