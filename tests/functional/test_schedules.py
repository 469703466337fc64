"""A rule's `schedule`: the sweeper's tick (run here with an injected clock, never a sleep) queues a job
at the commit the target serves, never overlaps itself, and runs a tick missed in an outage once. A real
agent process runs the jobs, against chalice local and moto server."""
import json
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import requests

from functions.dispatch import schedules
from tests.helpers import push_to, unique
from tests.realparts import AgentProcess, get_job, job_log, wait_job

pytestmark = pytest.mark.functional
CLI = str(Path(sys.executable).parent / "tahobuddy")
BERLIN = ZoneInfo("Europe/Berlin")


def at(day, hour, minute, second=0) -> float:
    return datetime(2027, 3, day, hour, minute, second, tzinfo=BERLIN).timestamp()


def mine(report, name):
    return [t for t in report if t["app"] == name]


def test_a_schedule_redeploys_what_the_target_serves_never_overlaps_and_catches_up_once(api, moto, repo, agent,
                                                                                        agent_token, tmp_path):
    name = unique("nightly")
    rule = {"name": "main", "match": {"branch": "main"},
            "schedule": {"cron": "0 3 * * *", "timezone": "Europe/Berlin"},
            "target": {"type": "shell", "timeout": 60,
                       "commands": [["sh", "-c", "echo deployed $TAHOBUDDY_SHA; sleep 2"]]}}
    r = requests.put(f"{api.url}/api/v1/apps/{name}", headers=api.headers(), timeout=30,
                     json={"name": name, "repository": str(repo.origin), "rules": [rule]})
    assert r.status_code == 201, r.text
    assert mine(schedules.tick(at(1, 2, 59, 30)), name) == []         # first look: counts from now on
    assert mine(schedules.tick(at(1, 3, 0, 15)), name)[0]["outcome"] == "skipped"   # nothing deployed yet

    sha = repo.commit_and_tag("one")
    pushed = push_to(api, repo, "refs/heads/main", sha, full_name="local/nightly").json()["jobs"][0]
    assert wait_job(api, pushed)["state"] == "succeeded"

    assert mine(schedules.tick(at(2, 2, 59, 50)), name) == []
    [fired] = mine(schedules.tick(at(2, 3, 0, 10)), name)
    assert fired["outcome"] == "queued" and fired["note"] == "scheduled tick Tue 2027-03-02 03:00 CET"
    assert mine(schedules.tick(at(2, 3, 1, 10)), name) == []          # the same tick never fires twice
    assert wait_job(api, fired["job_id"])["state"] == "succeeded"
    job = get_job(api, fired["job_id"])
    assert (job["trigger"], job["ref"], job["sha"]) == ("schedule", "refs/heads/main", sha)
    assert f"deployed {sha}" in job_log(api, fired["job_id"])

    agent.stop()                                                     # a job of the target waits, queued
    r = requests.post(f"{api.url}/api/v1/apps/{name}/deploy", headers=api.headers(), timeout=30,
                      json={"ref": "main", "now": True})
    waiting = r.json()["jobs"][0]["id"]
    [overlapping] = mine(schedules.tick(at(3, 3, 0, 5)), name)
    assert overlapping["outcome"] == "skipped" and overlapping["job_id"] == "", overlapping
    assert overlapping["note"] == (f"scheduled tick Wed 2027-03-03 03:00 CET: skipped, job {waiting} of the target "
                                   "is still queued (overlap: skip)")
    restarted = AgentProcess(api, agent_token, tmp_path / "again", targets="shell")
    try:
        assert wait_job(api, waiting)["state"] == "succeeded"

        [late] = mine(schedules.tick(at(7, 9, 30)), name)                 # the sweeper was down for four nights
        assert late["outcome"] == "queued"
        assert late["note"] == ("scheduled tick Sun 2027-03-07 03:00 CET, run late (23400 s) once for it and 3 "
                                "missed tick(s) before it (the sweeper did not run)")
        assert wait_job(api, late["job_id"])["state"] == "succeeded"
        made = [j for j in requests.get(f"{api.url}/api/v1/jobs", params={"app": name}, headers=api.headers(),
                                        timeout=10).json()["jobs"] if j["trigger"] == "schedule"]
        assert len(made) == 2, made                                       # one per run, never one per missed tick

        listing = subprocess.run([CLI, "--api-url", api.url, "--token", api.token, "schedules", "--json"],
                                 capture_output=True, text=True, timeout=30)
        assert listing.returncode == 0, listing.stderr
        [row] = [s for s in json.loads(listing.stdout)["schedules"] if s["app"] == name]
        assert (row["last_job"], row["last_outcome"], row["last_note"]) == (late["job_id"], "queued", late["note"])
        assert row["next_run"] and re.fullmatch(r"\w{3} \d{4}-\d\d-\d\d 03:00 CES?T", row["next_run_local"]), row
    finally:
        restarted.stop()
