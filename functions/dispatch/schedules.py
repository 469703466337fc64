"""The sweeper's minute tick for rules with a `schedule`: which are due, and the one job each makes.

A due tick queues a job for the rule's target at the commit that target serves now (its newest
succeeded job), or with `command` runs that argv in the image it serves (a `run` job), through the gate (dispatch/gate.py) like every other way in, keyed by the tick so two sweepers
make one job. `overlap: skip` (the default) makes none while a job of the target is queued or
running, and says so. A tick missed in an outage runs once, late, and its note says how many it
stands for. `at` is the time the tick runs at: tests pass it (an injected clock, never a sleep).
"""
from __future__ import annotations

from functions.clock import now
from functions.dispatch import enqueue, gate
from functions.domain import freezes, schedules
from functions.store import app_store, jobs
from functions.store import schedules as rows

FIRST_LOOK = 60   # seconds: a schedule seen for the first time counts ticks from one sweeper minute ago


def tick(at: float | None = None) -> list[dict]:
    at = now() if at is None else at
    out = []
    for app in app_store.listing():
        for rule in app.get("rules", []):
            if rule.get("schedule"):
                done = _tick_rule(app, rule, at)
                if done:
                    out.append(done)
    return out


def _tick_rule(app: dict, rule: dict, at: float) -> dict | None:
    schedule = rule["schedule"]
    row = rows.get(app["name"], rule["name"]) or rows.start(app["name"], rule["name"], at - FIRST_LOOK)
    due = schedules.due(schedule, float(row.last_tick or 0), at)
    if due is None:
        return None
    command = schedule.get("command")
    group = enqueue.group_of(app, rule)
    served, running = jobs.served(group), jobs.active(group + (".run" if command else ""))
    note, job_id = due.note(schedule), ""
    frozen = freezes.frozen_until(freezes.of(app, rule), due.tick)
    if frozen is not None:
        outcome, note = "skipped", f"{note}: skipped, {frozen.note()} (a schedule skips a frozen tick)"
    elif served is None:
        outcome, note = "skipped", f"{note}: skipped, nothing is deployed yet (a schedule redeploys what the " \
                                   "target serves)"
    elif running is not None and schedule.get("overlap", "skip") == "skip":
        outcome, note = "skipped", f"{note}: skipped, job {running.id} of the target is still {running.state} " \
                                   "(overlap: skip)"
    elif command:  # a one-off command in the serving image: a `run` job, as `tahobuddy run` makes
        job, _ = gate.admit(gate.Ask(app, {**rule, "target": {**rule["target"], "run_command": list(command)}},
                                     "", "", "schedule", trigger="run", quiet=False,
                                     key=f"schedule|{app['name']}|{rule['name']}|{int(due.tick)}",
                                     reason=f"{note}: running {' '.join(command)[:200]} in the image the target "
                                            "serves"))
        outcome, job_id = "queued", job.id
    else:
        job, _ = gate.admit(gate.Ask(app, rule, served.ref, served.sha, "schedule",
                                     key=f"schedule|{app['name']}|{rule['name']}|{int(due.tick)}", quiet=False,
                                     reason=f"{note}: redeploying {served.ref} at {served.sha} (what the target "
                                            "serves)"))
        outcome, job_id = "queued", job.id
    if not rows.advance(row, due.tick, outcome, note, job_id):
        return None                                  # another sweeper handled this tick first
    return {"app": app["name"], "rule": rule["name"], "tick": schedules.iso(due.tick), "outcome": outcome,
            "job_id": job_id, "note": note}


def listing(at: float | None = None) -> list[dict]:
    """Every schedule with its next and last runs (`tahobuddy schedules`)."""
    at = now() if at is None else at
    out = []
    for app in app_store.listing():
        for rule in app.get("rules", []):
            schedule = rule.get("schedule")
            if not schedule:
                continue
            row = rows.get(app["name"], rule["name"])
            following = schedules.next_tick(schedule, at)
            out.append({"app": app["name"], "rule": rule["name"], "cron": schedule["cron"],
                        "timezone": schedule.get("timezone", "UTC"), "overlap": schedule.get("overlap", "skip"),
                        "next_run": schedules.iso(following), "next_run_local": schedules.when(following, schedule),
                        "last_tick": schedules.iso(float(row.last_tick or 0)) if row and row.last_outcome else "",
                        "last_run_at": row.last_run_at if row else "", "last_job": row.last_job if row else "",
                        "last_outcome": row.last_outcome if row else "", "last_note": row.last_note if row else ""})
    return out
