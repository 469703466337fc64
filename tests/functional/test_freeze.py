"""`freeze` windows: a job due inside one waits, frozen and with no message, then runs on a real agent once
the sweeper's tick finds the window ended (an injected clock, never a sleep); an admin may override with
`deploy --now --override-freeze` (audited); a schedule skips a frozen tick and says so. Against chalice
local and moto server."""
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import requests

from functions.dispatch import frozen, schedules
from tests.helpers import push_to, unique
from tests.realparts import get_job, job_log, queue_counts, wait_job

pytestmark = pytest.mark.functional
CLI = str(Path(sys.executable).parent / "tahobuddy")
POOL = "gated"   # a pool of their own: its queue holds only these tests' messages, so "no message" is
                 # about their jobs, whatever other tests left in the default queue
BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture
def agent(start_agent):
    return start_agent("shell", pool=POOL)


def around_now() -> tuple[dict, float]:
    """A one-off window in UTC from a minute ago to two hours ahead, and its end (epoch seconds)."""
    start = datetime.now(timezone.utc).replace(second=0, microsecond=0) - timedelta(minutes=1)
    end = start + timedelta(hours=2)
    return {"start": start.strftime("%Y-%m-%d %H:%M"), "end": end.strftime("%Y-%m-%d %H:%M"),
            "timezone": "UTC"}, end.timestamp()


def frozen_app(api, repo, window, **rule_extra) -> str:
    name = unique("frozen")
    rule = {"name": "prod", "match": {"branch": "main"}, **rule_extra,
            "target": {"type": "shell", "timeout": 60, "pool": POOL,
                       "commands": [["sh", "-c", "echo deployed $TAHOBUDDY_SHA"]]}}
    r = requests.put(f"{api.url}/api/v1/apps/{name}", headers=api.headers(), timeout=30,
                     json={"name": name, "repository": str(repo.origin), "freeze": [window], "rules": [rule]})
    assert r.status_code == 201, r.text
    return name


def test_a_job_due_in_a_freeze_waits_unsent_and_runs_when_the_window_ends(api, moto, repo, agent):
    window, end = around_now()
    frozen_app(api, repo, window)
    sha = repo.commit_and_tag("in the freeze")
    job_id = push_to(api, repo, "refs/heads/main", sha).json()["jobs"][0]
    job = get_job(api, job_id)
    until = datetime.fromtimestamp(end, timezone.utc).strftime("%a %H:%M")
    assert (job["state"], job["waiting"]) == ("frozen", f"frozen until {until} UTC"), job
    assert queue_counts(POOL) == (0, 0)                       # no message: no agent can take it
    assert job_id not in frozen.thaw([POOL], end - 60)        # a minute before the end: still frozen
    assert get_job(api, job_id)["state"] == "frozen"
    assert job_id in frozen.thaw([POOL], end)                 # the window ended: queued, its message sent
    done = wait_job(api, job_id)
    assert done["state"] == "succeeded", done
    assert f"deployed {sha}" in job_log(api, job_id)


def test_an_admin_overrides_a_freeze_with_deploy_now_and_it_is_audited(api, moto, repo, agent):
    window, _ = around_now()
    name = frozen_app(api, repo, window)
    sha = repo.commit_and_tag("hotfix")
    refused = requests.post(f"{api.url}/api/v1/apps/{name}/deploy", headers=api.headers(), timeout=30,
                            json={"ref": "main", "sha": sha, "override_freeze": True})
    assert refused.status_code == 400 and "override_freeze" in refused.text          # only with now
    out = subprocess.run([CLI, "--api-url", api.url, "--token", api.token, "deploy", name, "main", "--sha", sha,
                          "--now", "--override-freeze", "--json"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    job_id = next(j for j in requests.get(f"{api.url}/api/v1/jobs", headers=api.headers(), timeout=30,
                                          params={"app": name}).json()["jobs"])["id"]
    assert wait_job(api, job_id)["state"] == "succeeded"
    r = requests.get(f"{api.url}/api/v1/audit", headers=api.headers(), timeout=30)
    assert r.status_code == 200, r.text
    audit = r.json()["audit"]
    [row] = [a for a in audit if a["action"] == "override_freeze" and a["subject"] == f"app/{name}"]
    assert row["changes"]["jobs"] == [job_id] and row["token"]["name"] == "tests"


def test_a_schedule_skips_a_frozen_tick_and_says_so(api, moto, repo):
    def at(hour, minute, second=0):
        return datetime(2027, 4, 6, hour, minute, second, tzinfo=BERLIN).timestamp()   # a Tuesday
    name = frozen_app(api, repo, {"days": ["tue"], "from": "02:00", "to": "04:00", "timezone": "Europe/Berlin"},
                      schedule={"cron": "0 3 * * *", "timezone": "Europe/Berlin"})
    assert [t for t in schedules.tick(at(2, 59, 30)) if t["app"] == name] == []
    [tick] = [t for t in schedules.tick(at(3, 0, 10)) if t["app"] == name]
    assert (tick["outcome"], tick["job_id"]) == ("skipped", "")
    assert tick["note"] == ("scheduled tick Tue 2027-04-06 03:00 CEST: skipped, frozen until Tue 04:00 "
                            "Europe/Berlin (a schedule skips a frozen tick)")


def test_a_job_approved_inside_a_freeze_waits_for_the_window_to_end(api, moto, repo):
    window, end = around_now()
    frozen_app(api, repo, window, approval={"required": True})
    job_id = push_to(api, repo, "refs/heads/main", repo.commit_and_tag("gated and frozen")).json()["jobs"][0]
    assert get_job(api, job_id)["state"] == "awaiting_approval"      # a person decides first
    r = requests.post(f"{api.url}/api/v1/jobs/{job_id}/approve", headers=api.headers(), timeout=30)
    assert r.status_code == 200, r.text
    job = get_job(api, job_id)
    assert job["state"] == "frozen" and job["reason"].startswith("approved by tests; frozen until "), job
    assert job_id in frozen.thaw([POOL], end) and get_job(api, job_id)["state"] == "queued"
