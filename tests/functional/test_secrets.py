"""The agent's secrets on AWS: SSM Parameter Store and Secrets Manager, on moto server over HTTP."""
import json
import uuid

import boto3
import pytest

from functions.config import boto_kwargs
from tests.functional.test_github_reports import gh_api, standin  # noqa: F401 - the API with reports on
from tests.realparts import BASE_IMAGE

pytestmark = pytest.mark.functional


def test_agent_secrets_come_from_ssm_and_secrets_manager_and_are_masked(moto):
    from agent.secrets import Secrets
    from runners.base import RunnerError
    kw = boto_kwargs()
    boto3.client("ssm", **kw).put_parameter(Name="/tahobuddy-test/HEROKU_API_KEY", Value="hk-from-ssm-123",
                                            Type="SecureString", Overwrite=True)
    boto3.client("secretsmanager", **kw).create_secret(Name="DEPLOY_TOKEN_SM", SecretString="tok-from-sm-456")
    s = Secrets(env={}, ssm_path="/tahobuddy-test/", secrets_manager=True, aws=kw)
    assert s("HEROKU_API_KEY") == "hk-from-ssm-123" and s("DEPLOY_TOKEN_SM") == "tok-from-sm-456"
    assert s.mask("key hk-from-ssm-123 and tok-from-sm-456") == "key *** and ***"
    with pytest.raises(RunnerError, match="SSM, Secrets Manager"):
        s("NOWHERE")
    assert Secrets(env={"HEROKU_API_KEY": "from-env"}, ssm_path="/tahobuddy-test/", aws=kw)("HEROKU_API_KEY") \
        == "from-env"  # the agent's own environment comes first


def test_a_secret_on_a_failing_build_line_leaves_the_agent_nowhere(gh_api, standin, agent_token, tmp_path,  # noqa: F811
                                                                   docker_images, empty_queue):
    """The attack: a build prints a `secret:` value on the line that ends it. BuildKit repeats a failed
    step's last lines after its error, so that line is the one the failure's reason quotes. The job's
    stored reason and detail, its log, and the commit status the outbox sends must all read ***."""
    from tests.functional.test_github_reports import final_statuses
    from tests.helpers import deliver, put_app, unique
    from tests.realparts import AgentProcess, GitRepo, job_log, remove_app_resources, wait_job
    value, name = f"hunter2-{uuid.uuid4().hex}", unique("leak")
    repo = GitRepo(tmp_path / name)
    # the word ERROR is put together at run time, so the step's own error line (which quotes the
    # command) does not match, and the repeated output line is the last one that does
    repo.write({"Dockerfile": f"FROM {BASE_IMAGE}\nRUN --mount=type=secret,id=token sh -c 'seq 20; E=ERR; "
                              "printf \"${E}OR: token %s was refused\" $(cat /run/secrets/token); exit 1'\n"})
    put_app(gh_api, {"name": name, "repository": str(repo.origin), "rules": [
        {"name": "run", "match": {"branch": "main"},
         "target": {"type": "docker", "build_secrets": {"token": "secret:LEAK_TOKEN"}}}]})
    sha = repo.commit_and_tag(name)
    agent = AgentProcess(gh_api, agent_token, tmp_path, targets="docker", name="leak", extra={"LEAK_TOKEN": value})
    try:
        r = deliver(gh_api, "push", {"ref": "refs/heads/main", "after": sha, "created": False, "deleted": False,
                                     "repository": {"full_name": "octo/leak", "clone_url": str(repo.origin)}})
        job = wait_job(gh_api, r.json()["jobs"][0])
        log = job_log(gh_api, job["id"])
        assert job["state"] == "failed" and "ERROR: token *** was refused" in log, (job, log)
        assert "***" in job["reason"] and "***" in job["detail"], job  # the failing line is quoted, masked
        assert value not in job["reason"] and value not in job["detail"] and value not in json.dumps(job)
        assert value not in log
        got = final_statuses(standin, "octo/leak", sha, 3)
        assert got[-1][0] == "failure" and value not in json.dumps(standin.statuses), got
        assert value not in agent.output()
    finally:
        agent.stop()
        remove_app_resources(name)
