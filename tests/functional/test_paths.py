"""A rule's `paths`: a monorepo holding two apps deploys each only when its own paths change. A real
agent process decides in its mirror (git diff between the served commit and the pushed one),
against chalice local and moto server."""
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from agent import watch
from agent.source import Source
from runners.base import JobSpec
from tests.helpers import push_job, push_to, unique
from tests.realparts import GitRepo, job_log, wait_job

pytestmark = pytest.mark.functional
CLI = str(Path(sys.executable).parent / "tahobuddy")


@pytest.fixture
def repo(tmp_path):
    repo = GitRepo(tmp_path / "repo")
    repo.write({"api/main.py": "print(1)\n", "docs/index.md": "# docs\n"})
    return repo


def api_app(api, repo, **filters) -> str:
    name = unique("mono")
    rule = {"name": "api", "match": {"branch": "main"}, **filters,
            "target": {"type": "shell", "timeout": 60, "commands": [["sh", "-c", "echo built $TAHOBUDDY_SHA"]]}}
    r = requests.put(f"{api.url}/api/v1/apps/{name}", headers=api.headers(), timeout=30,
                     json={"name": name, "repository": str(repo.origin), "rules": [rule]})
    assert r.status_code == 201, r.text
    return name


def deploy(api, repo, sha) -> dict:
    return wait_job(api, push_job(api, repo, "refs/heads/main", sha, full_name="local/mono"), timeout=120)


def test_a_push_touching_only_docs_skips_an_app_watching_api_and_a_first_deploy_builds(api, repo, agent):
    name = api_app(api, repo, paths=["api/**"])
    first = repo.commit_and_tag("first")
    job = deploy(api, repo, first)
    assert job["state"] == "succeeded", job           # nothing served yet: the base is unknown, it builds
    assert "nothing is deployed yet" in job_log(api, job["id"]) and f"built {first}" in job_log(api, job["id"])

    repo.write({"docs/index.md": "# more docs\n", "docs/new.md": "new\n"})
    docs_only = repo.commit_and_tag("docs")
    job = deploy(api, repo, docs_only)
    assert job["state"] == "skipped", job
    assert job["reason"] == (f"skipped: no watched path changed between the served commit {first} and "
                             f"{docs_only} (2 path(s) changed, none watched)")
    assert "built" not in job_log(api, job["id"])

    repo.write({"api/main.py": "print(2)\n"})
    api_change = repo.commit_and_tag("api")
    job = deploy(api, repo, api_change)
    assert job["state"] == "succeeded", job           # the skipped job never counted as what serves
    assert f"built {api_change}" in job_log(api, job["id"])

    listing = subprocess.run([CLI, "--api-url", api.url, "--token", api.token, "jobs", "--app", name],
                             capture_output=True, text=True, timeout=30)
    assert listing.returncode == 0 and "skipped" in listing.stdout, listing.stdout + listing.stderr


def test_ignore_paths_skip_and_a_force_push_deploys_anyway(api, repo, agent):
    api_app(api, repo, ignore_paths=["docs/**", "**/*.md"])
    first = repo.commit_and_tag("first")
    assert deploy(api, repo, first)["state"] == "succeeded"
    repo.write({"api/NOTES.md": "notes\n"})
    notes = repo.commit_and_tag("notes")
    assert deploy(api, repo, notes)["state"] == "skipped"

    repo.git("reset", "-q", "--hard", first)         # rewrite the served commit: it is no ancestor any more
    repo.write({"docs/index.md": "# rewritten\n"})
    repo.git("add", "-A")
    repo.git("commit", "-q", "--amend", "-m", "rewritten")
    repo.git("push", "-q", "--force", "origin", "HEAD:refs/heads/main")
    rewritten = repo.git("rev-parse", "HEAD")
    job = deploy(api, repo, rewritten)
    assert job["state"] == "succeeded", job
    assert "is not an ancestor" in job_log(api, job["id"])


def test_a_preview_compares_against_where_the_pull_request_forks_from_its_base(repo, tmp_path):
    """The agent's decision for a preview job (agent/watch.py on a real mirror): changes the base branch
    gained since the fork never count as the pull request's."""
    fork_point = repo.commit_and_tag("start")
    repo.write({"docs/index.md": "# pr docs\n"})
    pr_head = repo.commit_and_tag("pr: docs", branch="feature")
    repo.git("reset", "-q", "--hard", fork_point)
    repo.write({"api/main.py": "print('main moved')\n"})
    repo.commit_and_tag("main: api")
    repo.git("push", "-q", "origin", f"{pr_head}:refs/pull/7/head")

    source, lines = Source(tmp_path / "agent"), []
    rules = [{"name": "pr", "paths": ["api/**"], "match": {"pull_request": {"base": "main"}}}]
    spec = JobSpec("J1", "mono", "pr", {"type": "docker", "preview": {"number": 7, "hostname": "h", "base": "main"}},
                   str(repo.origin), "refs/pull/7/head", "", trigger="preview", app_spec={"rules": rules})
    worktree, sha = source.checkout(spec.repository, spec.ref, "", "J1", lines.append)
    spec = JobSpec(**{**spec.__dict__, "sha": sha})
    assert watch.skip_reason(spec, source, lines.append) == (
        f"skipped: no watched path changed between the base main at {fork_point} and {pr_head} "
        "(1 path(s) changed, none watched)")
    rules[0]["paths"] = ["docs/**"]
    assert watch.skip_reason(spec, source, lines.append) == ""
    source.remove(worktree)
