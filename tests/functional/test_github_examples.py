"""Every real payload in @octokit/webhooks-examples (github.com and GHES), signed by
GitHub's own @octokit/webhooks-methods, goes through the running API."""
import json
import subprocess
from collections import Counter
from pathlib import Path

import pytest
import requests

from functions.providers.github import sign
from tests.helpers import jobs_of, put_app, unique

pytestmark = pytest.mark.functional
MODULES = Path(__file__).resolve().parents[2] / ".tahobuddy" / "npm" / "node_modules"


@pytest.fixture(scope="module")
def deliveries(api):
    if not (MODULES / "@octokit" / "webhooks-examples").is_dir():
        pytest.fail("GitHub's example payloads are missing: run local/fixtures.sh (make test does)")
    out = subprocess.run(["node", str(Path(__file__).with_name("sign_examples.mjs")), str(MODULES), api.secret],
                         capture_output=True, text=True, check=True, timeout=120)
    return json.loads(out.stdout)


def test_our_signatures_equal_githubs(deliveries, api):
    assert all(sign(api.secret, d["body"].encode()) == d["signature"] for d in deliveries)


def test_every_example_payload_is_accepted_and_decided(api, deliveries):
    apps = []
    for repo in ("Codertocat/Hello-World", "Octocoders/Hello-World"):
        apps.append(unique("hello"))
        put_app(api, {"name": apps[-1], "repository": f"https://github.com/{repo}.git", "rules": [
            {"name": "main", "match": {"branch": "master"}, "target": {"type": "docker"}},
            {"name": "tags", "match": {"tag": "simple-*"}, "target": {"type": "docker"}}]})
    statuses, actions = Counter(), Counter()
    for d in deliveries:
        r = requests.post(f"{api.url}/api/v1/hooks/github", data=d["body"].encode(), timeout=30, headers={
            "Content-Type": "application/json", "X-GitHub-Event": d["event"], "X-Hub-Signature-256": d["signature"],
            "X-GitHub-Delivery": f"{d['host']}-{d['event']}-{d['index']}", "X-GitHub-Hook-ID": "octokit"})
        statuses[r.status_code] += 1
        assert r.status_code == 200, (d["host"], d["event"], d["index"], r.text[:300])
        body = r.json()
        assert body["reason"] or body["jobs"], (d["event"], body)
        actions[(d["event"], body.get("action"))] += 1
    assert statuses == Counter({200: len(deliveries)})
    assert actions[("push", "branch_push")] and actions[("push", "tag_created")] and actions[("create", "tag_created")]
    assert actions[("push", "deleted")] and actions[("delete", "deleted")] and actions[("ping", "ping")]
    refs = {j["ref"] for a in apps for j in jobs_of(api, a)}
    assert refs == {"refs/heads/master", "refs/tags/simple-tag"}
