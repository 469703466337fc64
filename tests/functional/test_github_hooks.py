"""`tahobuddy hook install|deliveries|redeliver` as a user runs them, against the GitHub stand-in."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.github_standin import GitHubStandIn

pytestmark = pytest.mark.functional
CLI = str(Path(sys.executable).parent / "tahobuddy")
API = "https://deploy.example.com"


@pytest.fixture
def standin():
    s = GitHubStandIn(tokens={"ghp_admin"})
    yield s
    s.stop()


def cli(standin, *args, token="ghp_admin"):
    env = {**os.environ, "TAHOBUDDY_GITHUB_API_URL": standin.url, "TAHOBUDDY_GITHUB_TOKEN": token,
           "TAHOBUDDY_API_URL": API, "TAHOBUDDY_WEBHOOK_SECRET": "hook-secret-0123456789"}
    return subprocess.run([CLI, *args], capture_output=True, text=True, env=env, timeout=60)


def test_install_creates_then_updates_the_one_webhook(standin):
    first = cli(standin, "hook", "install", "--repo", "octo/blog")
    assert first.returncode == 0 and first.stdout.startswith("created webhook"), first.stderr
    [hook] = standin.hooks["octo/blog"]
    assert hook["config"] == {"url": f"{API}/api/v1/hooks/github", "content_type": "json",
                              "secret": "hook-secret-0123456789", "insecure_ssl": "0"}
    assert hook["events"] == ["push", "create", "delete", "pull_request"] and hook["active"] is True
    hook["events"] = ["push"]  # someone narrowed it by hand: install repairs it
    again = cli(standin, "hook", "install", "--repo", "octo/blog")
    assert again.returncode == 0 and again.stdout.startswith(f"updated webhook {hook['id']}"), again.stderr
    assert len(standin.hooks["octo/blog"]) == 1 and hook["events"] == ["push", "create", "delete", "pull_request"]
    assert [(m, t) for m, t, _, _ in standin.requests] == [
        ("GET", "/repos/{owner}/{repo}/hooks"), ("POST", "/repos/{owner}/{repo}/hooks"),
        ("GET", "/repos/{owner}/{repo}/hooks"), ("PATCH", "/repos/{owner}/{repo}/hooks/{hook_id}")]
    assert not standin.violations


def test_deliveries_are_listed_and_only_failed_ones_redelivered(standin):
    assert cli(standin, "hook", "install", "--repo", "octo/blog").returncode == 0
    hook_id = standin.hooks["octo/blog"][0]["id"]
    good = standin.add_delivery("octo/blog", hook_id, 200)
    lost = standin.add_delivery("octo/blog", hook_id, 502)
    fixed = standin.add_delivery("octo/blog", hook_id, 504)
    again = standin.add_delivery("octo/blog", hook_id, 200)
    again["guid"] = fixed["guid"]  # already redelivered by hand, and it went through
    listed = cli(standin, "hook", "deliveries", "--repo", "octo/blog", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)["deliveries"]
    assert {r["id"]: r["status_code"] for r in rows} == {good["id"]: 200, lost["id"]: 502, fixed["id"]: 504,
                                                        again["id"]: 200}
    table = cli(standin, "hook", "deliveries", "--repo", "octo/blog")
    assert "status_code" in table.stdout and "502" in table.stdout
    redo = cli(standin, "hook", "redeliver", "--repo", "octo/blog")
    assert redo.returncode == 0 and redo.stdout.strip() == f"redelivery asked for 1: {lost['id']}", redo.stdout
    assert standin.redelivered == [(hook_id, lost["id"])]
    assert cli(standin, "hook", "redeliver", "--repo", "octo/blog").stdout.strip() == "no failed deliveries"
    assert not standin.violations


def test_clear_errors_without_a_hook_or_credentials(standin):
    none = cli(standin, "hook", "deliveries", "--repo", "octo/empty")
    assert none.returncode == 1 and "hook install --repo octo/empty" in none.stderr
    bad = cli(standin, "hook", "install", "--repo", "octo/blog", token="wrong")
    assert bad.returncode == 1 and "GitHub answered 401" in bad.stderr
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAHOBUDDY_GITHUB")}
    missing = subprocess.run([CLI, "hook", "install", "--repo", "o/r"], capture_output=True, text=True, env=env,
                             timeout=60)
    assert missing.returncode == 1 and "no GitHub credentials" in missing.stderr
