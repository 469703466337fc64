"""Events (deliveries), jobs, their logs, and cancel."""
from __future__ import annotations

import urllib.parse

from chalice import Blueprint

from functions.api import http
from functions.dispatch import approvals
from functions.domain import inputs
from functions.store import agents, events, jobs, logs, outbox

bp = Blueprint(__name__)


@bp.route(f"{http.V1}/events", methods=["GET"])
@http.api("admin")
def list_events():
    return {"events": events.listing(http.int_query("limit", 50, 500))}


@bp.route(f"{http.V1}/events/{{event_id}}", methods=["GET"])
@http.api("admin")
def get_event(event_id):
    row = events.get(urllib.parse.unquote(event_id))
    return events.to_dict(row, with_payload=http.query("payload") == "1")


@bp.route(f"{http.V1}/jobs", methods=["GET"])
@http.api("admin")
def list_jobs():
    return {"jobs": jobs.listing(http.query("app"), http.query("state"), http.int_query("limit", 50, 500),
                                 waiting=agents.explainer())}


@bp.route(f"{http.V1}/jobs/{{job_id}}", methods=["GET"])
@http.api("admin")
def get_job(job_id):
    found = jobs.get(job_id)
    reports = outbox.for_job(found)  # how its commit statuses went, or why none go; a delivery that gave up shows
    job = jobs.to_dict(found, waiting=agents.explainer())
    return {**job, "reports": reports} if reports else job


@bp.route(f"{http.V1}/jobs/{{job_id}}/logs", methods=["GET"])
@http.api("admin")
def job_logs(job_id):
    job = jobs.get(job_id)
    after = http.int_query("after", 0, 10**9)
    lines = logs.read(job_id, after, http.int_query("limit", 1000, 5000))
    return {"job": job_id, "state": job.state, "lines": lines, "dropped": logs.dropped(lines, after)}


@bp.route(f"{http.V1}/jobs/{{job_id}}/cancel", methods=["POST"])
@http.api("admin")
def cancel_job(job_id):
    body = http.request().json_body if http.request().raw_body else None
    return jobs.to_dict(jobs.cancel(job_id, inputs.cancel_reason(body)))


@bp.route(f"{http.V1}/jobs/{{job_id}}/approve", methods=["POST"])
@http.api("admin")
def approve_job(job_id):
    return jobs.to_dict(approvals.approve(job_id))


@bp.route(f"{http.V1}/jobs/{{job_id}}/reject", methods=["POST"])
@http.api("admin")
def reject_job(job_id):
    body = http.request().json_body if http.request().raw_body else None
    return jobs.to_dict(approvals.reject(job_id, inputs.reject_reason(body)))
