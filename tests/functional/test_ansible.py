"""The ansible target through the real agent: a real playbook against localhost."""
import json

import pytest

from tests.helpers import push_job, unique
from tests.realparts import GitRepo, job_log, wait_job

pytestmark = pytest.mark.functional
SECRET = "s3cr3t-deploy-token-4711"
PLAYBOOK = """
- hosts: all
  gather_facts: false
  tasks:
    - name: write what was deployed
      copy:
        dest: "{{ out }}"
        content: "{{ {'app': tahobuddy_app, 'ref': tahobuddy_ref, 'sha': tahobuddy_sha, 'tag': tahobuddy_tag} | to_json }}"
    - name: talk about the token
      debug:
        msg: "deploying with token {{ token }}"
    - name: check the release gate
      command: /bin/sh -c "exit {{ gate | default(0) }}"
"""


@pytest.fixture
def agent(start_agent):
    return start_agent("ansible", extra={"DEPLOY_TOKEN": SECRET})


def ansible_app(api, repo, out, gate=0) -> str:
    import requests
    name = unique("ans")
    r = requests.put(f"{api.url}/api/v1/apps/{name}", headers=api.headers(), timeout=30, json={
        "name": name, "repository": str(repo.origin), "rules": [{"name": "play", "match": {"tag": "v*"}, "target": {
            "type": "ansible", "playbook": "deploy/site.yml", "inventory": "deploy/inventory.ini",
            "extra_vars": {"out": str(out), "token": "secret:DEPLOY_TOKEN", "gate": str(gate)}}}]})
    assert r.status_code == 201, r.text
    assert SECRET not in r.text  # the app stores the reference, never the value
    return name


@pytest.fixture
def repo(tmp_path):
    repo = GitRepo(tmp_path / "ops")
    repo.write({"deploy/site.yml": PLAYBOOK, "deploy/inventory.ini": "localhost ansible_connection=local "
                                                   "ansible_python_interpreter=\"{{ ansible_playbook_python }}\"\n"})
    return repo


def test_playbook_runs_with_the_job_vars_and_the_secret_is_masked(api, agent, repo, tmp_path):
    out = tmp_path / "deployed.json"
    name = ansible_app(api, repo, out)
    sha = repo.commit_and_tag("ops", "v1.0")
    job = wait_job(api, push_job(api, repo, "refs/tags/v1.0", sha, created=True), timeout=180)
    log = job_log(api, job["id"])
    assert job["state"] == "succeeded", log
    assert json.loads(out.read_text()) == {"app": name, "ref": "refs/tags/v1.0", "sha": sha, "tag": "v1.0"}
    assert "deploying with token ***" in log and SECRET not in log  # ansible printed it; the agent masked it
    assert SECRET not in json.dumps(job)


def test_a_failed_task_fails_the_job_naming_the_task(api, agent, repo, tmp_path):
    ansible_app(api, repo, tmp_path / "x.json", gate=3)
    sha = repo.commit_and_tag("gate", "v2.0")
    job = wait_job(api, push_job(api, repo, "refs/tags/v2.0", sha, created=True), timeout=180)
    assert job["state"] == "failed" and "check the release gate" in job["reason"], job
