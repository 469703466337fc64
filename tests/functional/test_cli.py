"""The `tahobuddy` command against the running API, as a user would type it."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import unique
from tests.realparts import GitRepo

pytestmark = pytest.mark.functional
CLI = str(Path(sys.executable).parent / "tahobuddy")


def run(api, *args, stdin=None, env_extra=None):
    env = {**os.environ, "TAHOBUDDY_API_URL": api.url, "TAHOBUDDY_TOKEN": api.token,
           "TAHOBUDDY_WEBHOOK_SECRET": api.secret, **(env_extra or {})}
    return subprocess.run([CLI, *args], capture_output=True, text=True, env=env, input=stdin, timeout=120)


@pytest.fixture
def git_repo(tmp_path):
    repo = tmp_path / "site"
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    (repo / "index.html").write_text("v1")
    subprocess.run(git + ["add", "."], check=True)
    subprocess.run(git + ["commit", "-qm", "v1"], check=True)
    subprocess.run(git + ["tag", "release-1"], check=True)
    sha = subprocess.run(git + ["rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    return repo, sha


def test_apply_hook_send_jobs_and_deploy(api, git_repo, tmp_path):
    repo, sha = git_repo
    name = unique("cli")
    (tmp_path / "tahobuddy.yaml").write_text(f"""
apps:
  - name: {name}
    repository: {repo}
    hostname: {name}.example.com
    rules:
      - name: release
        match: {{tag: "release-*"}}
        target: {{type: docker}}
""")
    r = run(api, "apply", "-f", str(tmp_path / "tahobuddy.yaml"))
    assert r.returncode == 0 and f"applied app {name}" in r.stdout, r.stderr
    apps = json.loads(run(api, "apps", "--json").stdout)["apps"]
    assert any(a["name"] == name and a["hostname"] == f"{name}.example.com" for a in apps)
    r = run(api, "hook", "send", "--repo", str(repo), "--ref", "release-1")
    assert r.returncode == 0 and json.loads(r.stdout)["decision"][0]["outcome"] == "queued", r.stdout + r.stderr
    jobs = json.loads(run(api, "jobs", "--app", name, "--json").stdout)["jobs"]
    assert [(j["ref"], j["sha"]) for j in jobs] == [("refs/tags/release-1", sha)]  # resolved by git ls-remote
    table = run(api, "jobs", "--app", name).stdout.splitlines()
    assert table[0].split()[:3] == ["id", "app", "rule"] and jobs[0]["id"] in table[1]
    r = run(api, "deploy", name, "release-1", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["jobs"][0]["trigger"] == "manual"
    job_id = json.loads(r.stdout)["jobs"][0]["id"]
    assert json.loads(run(api, "jobs", "cancel", job_id).stdout)["state"] == "canceled"
    assert run(api, "logs", job_id).returncode == 0
    events = json.loads(run(api, "events", "--json").stdout)["events"]
    assert any(e["summary"]["ref"] == "refs/tags/release-1" for e in events)


def test_errors_say_what_to_do_and_exit_non_zero(api, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("apps:\n  - name: broken\n    repository: me/x\n    rules:\n"
                   "      - match: {tag: 'v*'}\n        target: {type: heroku, api_key: 'secret:K'}\n")
    r = run(api, "apply", "-f", str(bad))
    assert r.returncode == 1 and "rules[0].target.app: is required" in r.stderr
    r = run(api, "apps", "--json", env_extra={"TAHOBUDDY_TOKEN": "wrong"})
    assert r.returncode == 1 and "401" in r.stderr
    r = subprocess.run([CLI, "jobs"], capture_output=True, text=True, cwd=tmp_path,
                       env={k: v for k, v in os.environ.items() if not k.startswith("TAHOBUDDY_")})
    assert r.returncode == 2 and "TAHOBUDDY_API_URL" in r.stderr
    r = run(api, "hook", "send", "--repo", str(tmp_path / "missing"), "--ref", "v1")
    assert r.returncode == 1 and "git ls-remote" in r.stderr and "failed" in r.stderr, r.stderr
    repo = GitRepo(tmp_path / "repo")
    repo.commit_and_tag("one")
    r = run(api, "hook", "send", "--repo", str(repo.origin), "--ref", "no-such-tag")
    assert r.returncode == 1 and "no-such-tag not found" in r.stderr and "pass --sha" in r.stderr, r.stderr
    r = run(api, "jobs", "no-such-job")
    assert r.returncode == 1 and "404" in r.stderr


def test_help_explains_every_command():
    out = subprocess.run([CLI, "--help"], capture_output=True, text=True).stdout
    for command in ("apply", "apps", "events", "jobs", "logs", "deploy", "hook"):
        assert command in out
    sub = subprocess.run([CLI, "hook", "send", "--help"], capture_output=True, text=True).stdout
    assert "signed" in sub and "--repo" in sub


def test_bootstrap_token_writes_a_working_admin_token_to_dynamodb(api):
    r = subprocess.run([CLI, "bootstrap-token", "--name", "first-admin"], capture_output=True, text=True,
                       env=dict(os.environ), timeout=60)
    assert r.returncode == 0 and "shown once" in r.stderr
    token = r.stdout.strip()
    assert run(api, "apps", "--json", env_extra={"TAHOBUDDY_TOKEN": token}).returncode == 0


def test_token_create_list_revoke_and_audit(api, tmp_path):
    name = unique("laptop")
    r = run(api, "token", "--role", "admin", "--name", name, "--expires-in", "12h")
    assert r.returncode == 0, r.stderr
    made = json.loads(r.stdout)
    assert made["expires_at"] and made["role"] == "admin"
    table = run(api, "token", "list").stdout.splitlines()
    assert table[0].split() == ["id", "name", "role", "pool", "created_at", "expires_at", "expired"]
    assert any(line.split()[:3] == [made["id"], name, "admin"] for line in table)
    assert made["token"] not in "\n".join(table)
    app = unique("cli-audit")
    (tmp_path / "t.yaml").write_text(f"apps:\n  - name: {app}\n    repository: me/{app}\n    rules:\n"
                                     "      - {name: rel, match: {tag: 'v*'}, target: {type: docker}}\n")
    assert run(api, "apply", "-f", str(tmp_path / "t.yaml"), env_extra={"TAHOBUDDY_TOKEN": made["token"]}) \
        .returncode == 0
    audit = run(api, "audit", "--limit", "500").stdout.splitlines()
    assert audit[0].split() == ["at", "by", "action", "subject", "summary"]
    [line] = [x for x in audit if f"app/{app}" in x]
    assert f"{name} ({made['id']})" in line and "created" in line and "rule rel added" in line
    entries = json.loads(run(api, "audit", "--json", "--limit", "500").stdout)["audit"]
    assert any(e["subject"] == f"app/{app}" and e["token"]["id"] == made["id"] for e in entries)
    r = run(api, "token", "revoke", made["id"])
    assert r.returncode == 0 and json.loads(r.stdout)["revoked"] == made["id"]
    r = run(api, "apps", env_extra={"TAHOBUDDY_TOKEN": made["token"]})
    assert r.returncode == 1 and "unknown token" in r.stderr
    r = run(api, "token", "--role", "agent", "--expires-in", "soon")
    assert r.returncode == 1 and "expires_in: a duration like 30d" in r.stderr
    r = run(api, "token", "revoke")
    assert r.returncode == 1 and "usage: tahobuddy token" in r.stderr
