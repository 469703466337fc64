"""The web dashboard's routes (functions/dashboard/: pages signed in by a session cookie)."""
from __future__ import annotations

import urllib.parse

from chalice import Blueprint, NotFoundError, Response

from functions.api import http
from functions.dashboard import (actions as d_actions, agents_screen, app_screen, apps_screen, events_screen, jobs_screen,
                                 signin)
from functions.dashboard import assets as d_assets, web as d_web

bp = Blueprint(__name__)


FORM = ["application/x-www-form-urlencoded"]


def _page() -> d_web.Page:
    return d_web.Page(http.request())


@bp.route("/", methods=["GET"])
def dashboard_home():
    page = _page()
    return d_web.redirect(page.url("/apps" if page.session else "/login"))


@bp.route("/login", methods=["GET"])
def dashboard_login_form():
    return signin.form(_page())


@bp.route("/login", methods=["POST"], content_types=FORM)
def dashboard_login():
    return signin.submit(_page())


@bp.route("/logout", methods=["POST"], content_types=FORM)
def dashboard_logout():
    return signin.sign_out(_page())


@bp.route("/apps", methods=["GET"])
def dashboard_apps():
    return apps_screen.show(_page())


@bp.route("/apps/{name}", methods=["GET"])
def dashboard_app(name):
    return app_screen.show(_page(), name)


@bp.route("/apps/{name}/output", methods=["GET"])
def dashboard_app_output(name):
    return app_screen.output_since(_page(), name)


@bp.route("/apps/{name}/run", methods=["POST"], content_types=FORM)
def dashboard_run(name):
    return app_screen.run(_page(), name)


@bp.route("/apps/{name}/rollback", methods=["POST"], content_types=FORM)
def dashboard_rollback(name):
    return d_actions.rollback(_page(), name)


@bp.route("/jobs", methods=["GET"])
def dashboard_jobs():
    return jobs_screen.listing(_page())


@bp.route("/jobs/{job_id}", methods=["GET"])
def dashboard_job(job_id):
    return jobs_screen.show(_page(), job_id)


@bp.route("/jobs/{job_id}/log", methods=["GET"])
def dashboard_job_log(job_id):
    return jobs_screen.log_since(_page(), job_id)


@bp.route("/jobs/{job_id}/cancel", methods=["POST"], content_types=FORM)
def dashboard_cancel(job_id):
    return d_actions.cancel(_page(), job_id)


@bp.route("/jobs/{job_id}/approve", methods=["POST"], content_types=FORM)
def dashboard_approve(job_id):
    return d_actions.approve(_page(), job_id)


@bp.route("/jobs/{job_id}/reject", methods=["POST"], content_types=FORM)
def dashboard_reject(job_id):
    return d_actions.reject(_page(), job_id)


@bp.route("/jobs/{job_id}/redeploy", methods=["POST"], content_types=FORM)
def dashboard_redeploy(job_id):
    return d_actions.redeploy(_page(), job_id)


@bp.route("/events", methods=["GET"])
def dashboard_events():
    return events_screen.listing(_page())


@bp.route("/events/{event_id}", methods=["GET"])
def dashboard_event(event_id):
    return events_screen.show(_page(), urllib.parse.unquote(event_id))


@bp.route("/agents", methods=["GET"])
def dashboard_agents():
    return agents_screen.show(_page())


@bp.route("/assets/{name}", methods=["GET"])
def dashboard_asset(name):
    found = d_assets.load(name)
    if found is None:
        raise NotFoundError(f"no dashboard asset {name!r}")
    text, content_type = found
    return Response(body=text, status_code=200, headers={
        "Content-Type": content_type, "Cache-Control": "public, max-age=31536000, immutable",
        "X-Content-Type-Options": "nosniff"})
