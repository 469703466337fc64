"""`make run` honours TAHOBUDDY_GITHUB_API_URL and TAHOBUDDY_GITHUB_TOKEN from its environment: the
whole stack reports to the GitHub stand-in, through its own outbox tick."""
import pytest
import requests

from local import procs
from tests.functional.test_stack import Endpoint, start_stack, stop_stack
from tests.github_standin import GitHubStandIn
from tests.realparts import wait_for

pytestmark = pytest.mark.functional


def test_make_run_reports_a_manual_deploy_to_the_configured_github(tmp_path):
    standin = GitHubStandIn(tokens={"ghp_run"})
    ports = {"TAHOBUDDY_EMULATOR_PORT": procs.free_port(), "TAHOBUDDY_API_PORT": procs.free_port(),
             "TAHOBUDDY_AGENT": "off", "TAHOBUDDY_GITHUB_TOKEN": "ghp_run", "TAHOBUDDY_GITHUB_API_URL": standin.url}
    proc, env = start_stack(tmp_path, ports)
    try:
        api = Endpoint(env)
        assert requests.put(f"{api.url}/api/v1/apps/smoke", headers=api.headers(), timeout=30, json={
            "name": "smoke", "repository": "octo/smoke", "rules": [
                {"name": "r", "match": {"branch": "main"}, "target": {"type": "shell", "commands": [["true"]]}}]},
        ).status_code == 201
        r = requests.post(f"{api.url}/api/v1/apps/smoke/deploy", headers=api.headers(), timeout=30,
                          json={"ref": "main", "sha": "a" * 40})
        job = r.json()["jobs"][0]["id"]
        [status] = wait_for(lambda: standin.statuses, "the queued status from make run's tick", timeout=30)
        assert (status["repo"], status["state"], status["context"]) == ("octo/smoke", "pending", "tahobuddy/smoke/r")
        assert status["target_url"] == f"{api.url}/api/v1/jobs/{job}"  # TAHOBUDDY_PUBLIC_URL defaults to the API
        out = tmp_path / "stack.out"  # the tick prints what it sent once the forge has answered
        wait_for(lambda: "reports: {" in out.read_text(), "make run to print the tick's report", timeout=30,
                 seen=lambda: out.read_text()[-600:])
    finally:
        stop_stack(proc)
        standin.stop()
