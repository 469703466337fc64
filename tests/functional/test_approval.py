"""A rule's `approval`: its jobs wait, with no message any agent could take, until a listed token approves
them (then a real agent runs them) or rejects them (they end canceled with the reason); a newer job
supersedes a waiting one, and the sweeper ends one past its timeout (an injected clock, never a sleep).
Against chalice local, moto server and a real agent process."""
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from functions.dispatch import approvals, sweeper
from functions.store import tokens
from tests.helpers import push_to, unique
from tests.realparts import get_job, job_log, queue_counts, wait_job

pytestmark = pytest.mark.functional
CLI = str(Path(sys.executable).parent / "tahobuddy")
POOL = "gated"   # a pool of their own: its queue holds only these tests' messages, so "no message" is
                 # about their jobs, whatever other tests left in the default queue


@pytest.fixture
def agent(start_agent):
    return start_agent("shell", pool=POOL)


@pytest.fixture(scope="module")
def manager(moto):
    """(name, token) of an admin token a rule may list among its approvers."""
    name = unique("release-manager")
    return name, tokens.issue("admin", name)


def gated_app(api, repo, approvers=None, timeout="7d") -> str:
    name = unique("gated")
    approval = {"required": True, "timeout": timeout, **({"approvers": approvers} if approvers else {})}
    rule = {"name": "prod", "match": {"branch": "main"}, "approval": approval,
            "target": {"type": "shell", "timeout": 60, "pool": POOL,
                       "commands": [["sh", "-c", "echo deployed $TAHOBUDDY_SHA"]]}}
    r = requests.put(f"{api.url}/api/v1/apps/{name}", headers=api.headers(), timeout=30,
                     json={"name": name, "repository": str(repo.origin), "rules": [rule]})
    assert r.status_code == 201, r.text
    return name


def push(api, repo, message: str) -> tuple[str, str]:
    sha = repo.commit_and_tag(message)
    r = push_to(api, repo, "refs/heads/main", sha)
    assert r.status_code == 200, r.text
    return r.json()["jobs"][-1], sha


def as_token(api, token: str, path: str, body=None) -> requests.Response:
    return requests.post(f"{api.url}/api/v1{path}", headers={"Authorization": f"Bearer {token}"}, json=body or {},
                         timeout=30)


def audit_rows(api, action: str, job_id: str) -> list[dict]:
    rows = requests.get(f"{api.url}/api/v1/audit", headers=api.headers(), timeout=30).json()["audit"]
    return [r for r in rows if r["action"] == action and r["subject"] == f"job/{job_id}"]


def test_a_gated_job_waits_unsent_refuses_an_unlisted_approver_and_runs_once_approved(api, moto, repo, agent,
                                                                                     manager):
    who, token = manager
    name = gated_app(api, repo, approvers=[who])
    job_id, sha = push(api, repo, "gated one")
    job = get_job(api, job_id)
    assert job["state"] == "awaiting_approval", job
    assert job["waiting"] == f"awaiting approval since {job['created_at']}, approve with tahobuddy approve {job_id}"
    assert queue_counts(POOL) == (0, 0)          # no message: no agent can take it, whatever it does
    report = sweeper.sweep()                     # and the sweeper never "re-sends" one
    assert job_id not in report["resent"] and job_id not in report["failed"]
    assert get_job(api, job_id)["state"] == "awaiting_approval"
    listed = requests.get(f"{api.url}/api/v1/jobs", headers=api.headers(), timeout=30,
                          params={"app": name, "state": "awaiting_approval"}).json()["jobs"]
    assert [j["id"] for j in listed] == [job_id]

    refused = as_token(api, api.token, f"/jobs/{job_id}/approve")   # an admin token, but not a listed approver
    assert refused.status_code == 403, refused.text
    assert "may not approve" in refused.json()["Message"]
    assert get_job(api, job_id)["state"] == "awaiting_approval" and audit_rows(api, "approved", job_id) == []

    out = subprocess.run([CLI, "--api-url", api.url, "--token", token, "approve", job_id],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    done = wait_job(api, job_id)
    assert done["state"] == "succeeded", done
    assert f"deployed {sha}" in job_log(api, job_id)
    [row] = audit_rows(api, "approved", job_id)
    assert row["token"]["name"] == who and row["changes"]["sha"] == sha
    again = as_token(api, token, f"/jobs/{job_id}/approve")
    assert again.status_code == 409 and "not awaiting approval" in again.json()["Message"]


def test_a_rejected_job_ends_canceled_with_the_reason_and_never_runs(api, moto, repo, agent, manager):
    who, token = manager
    name = gated_app(api, repo)                   # no approvers: any admin token decides
    job_id, _ = push(api, repo, "rejected one")
    assert as_token(api, token, f"/jobs/{job_id}/reject").status_code == 400     # a reason is required
    out = subprocess.run([CLI, "--api-url", api.url, "--token", token, "reject", job_id,
                          "--reason", "not on a Friday"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    job = get_job(api, job_id)
    assert (job["state"], job["reason_code"]) == ("canceled", "canceled"), job
    assert job["reason"] == f"canceled: rejected by {who}: not on a Friday"
    assert job["started_at"] is None and job["attempts"] == 0 and queue_counts(POOL) == (0, 0)
    [row] = audit_rows(api, "rejected", job_id)
    assert row["token"]["name"] == who and row["changes"]["reason"] == "not on a Friday"
    assert as_token(api, token, f"/jobs/{job_id}/approve").status_code == 409    # ended: nothing to approve
    assert name


def test_a_newer_job_supersedes_a_waiting_one_and_a_timeout_ends_the_last(api, moto, repo, manager):
    gated_app(api, repo, timeout="2h")
    first, _ = push(api, repo, "first")
    second, _ = push(api, repo, "second")
    old = get_job(api, first)
    assert (old["state"], old["reason"]) == ("superseded", f"superseded by newer job {second}"), old
    assert get_job(api, second)["state"] == "awaiting_approval"

    made = time.time()
    assert second not in approvals.expire([POOL], made + 3600)         # an hour in: it still waits
    assert second in approvals.expire([POOL], made + 2 * 3600 + 5)     # past the timeout: it ends, saying why
    job = get_job(api, second)
    assert job["state"] == "canceled", job
    assert job["reason"] == ("canceled: nobody approved or rejected it within 2h (its rule's approval timeout); "
                             "deploy again to ask anew")
    assert queue_counts(POOL) == (0, 0)
