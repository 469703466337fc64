"""bench/scale.py, small: its own moto server, chalice local and agents, started and stopped by the
bench itself. Proves the bench's accounting on a run where every figure is known: every delivery
accepted, every job ended, none lost, none run twice, each ran job's id written once."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.functional
BENCH = Path(__file__).resolve().parents[2] / "bench" / "scale.py"


def test_small_scale_run_loses_nothing_and_runs_nothing_twice():
    run = subprocess.run([sys.executable, str(BENCH), "--apps", "4", "--agents", "2", "--deliveries", "16",
                          "--checkpoint", "8", "--senders", "4", "--budget-minutes", "4"],
                         capture_output=True, text=True, timeout=300, cwd=BENCH.parent)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert [s["upto"] for s in report["stages"]] == [8, 16]
    every = report["stages"][-1]["all"]
    assert every["accepted"] == 16 and every["refused"] == 0
    assert sum(every["states"].values()) == 16
    assert set(every["states"]) <= {"succeeded", "superseded"}, every["states"]
    assert every["lost"] == 0 and every["unfinished"] == 0 and every["run_twice"] == 0
    assert every["succeeded_not_run"] == 0 and every["ran_not_succeeded"] == 0
    assert every["pickup"]["n"] == every["states"].get("succeeded", 0)
    assert report["dead_letters"] == 0 and report["agents_alive"] == 2
    assert "growth from 8 to 16 deliveries" in run.stdout
